from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import delete, text, update
from sqlalchemy.orm import Session

from subsvc import create_app
from subsvc.extensions import db
from subsvc.models import Tier
from tests.conftest import INTERNAL_SECRET, WEBHOOK_SECRET, base_config


def doctor(app: Flask) -> Result:
    return app.test_cli_runner().invoke(args=["doctor"])


def problems(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("problem: ")]


def assert_no_secret_in(output: str, config: dict[str, Any]) -> None:
    values = [config.get("INTERNAL_WEBHOOK_SECRET"), config.get("STATUS_ADMIN_TOKEN"),
              config.get("STRIPE_SECRET_KEY"), *config.get("STRIPE_WEBHOOK_SECRET", [])]
    for value in filter(None, values):
        assert value not in output


PRICE_MAP = [
    "note: tier free (rank 0): no prices (metadata.tier only)",
    "note: tier pro (rank 1): price_pro_monthly, pro_monthly",
    "note: tier business (rank 2): price_business_monthly",
]


def test_a_sound_setup_passes_and_shows_which_prices_buy_which_tier(migrated: Flask) -> None:
    result = doctor(migrated)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [*PRICE_MAP, "All checks passed."]
    assert_no_secret_in(result.output, migrated.config)


def test_a_core_behind_another_edge_needs_no_webhook_secret(migrated: Flask) -> None:
    migrated.config["STRIPE_WEBHOOK_SECRET"] = []
    result = doctor(migrated)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith(
        "note: STRIPE_WEBHOOK_SECRET is not set: fine for a core behind another edge")


def test_one_process_needs_no_internal_secret(migrated: Flask) -> None:
    migrated.config["INTERNAL_WEBHOOK_SECRET"] = None
    result = doctor(migrated)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        "note: INTERNAL_WEBHOOK_SECRET is not set: fine in one process "
        "(the internal endpoint answers 503)")


@pytest.mark.parametrize("config_overrides", [
    {"STRIPE_WEBHOOK_SECRET": [WEBHOOK_SECRET, "whsec_rolled_0123456789abcdef0123456789"]},
    {"STRIPE_SECRET_KEY": "sk_live_51AbCdEfGhIjKlMnOp"},
    {"STRIPE_SECRET_KEY": "rk_test_51AbCdEfGhIjKlMnOp"},
    {"INTERNAL_WEBHOOK_URL": "https://core.internal:8443/subscriptions/internal/stripe-webhook"},
])
def test_optional_settings_done_right_pass(migrated: Flask) -> None:
    result = doctor(migrated)
    assert result.exit_code == 0, result.output
    assert result.output.endswith("All checks passed.\n")


def test_no_admin_token_is_a_note_not_a_problem(migrated: Flask) -> None:
    migrated.config["STATUS_ADMIN_TOKEN"] = None
    result = doctor(migrated)
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "note: STATUS_ADMIN_TOKEN is not set: admin look-ups are off", *PRICE_MAP,
        "All checks passed."]


@pytest.mark.parametrize("config_overrides, expected", [
    ({"STRIPE_WEBHOOK_SECRET": [], "INTERNAL_WEBHOOK_SECRET": None},
     "STRIPE_WEBHOOK_SECRET is not set, nor INTERNAL_WEBHOOK_SECRET"),
    ({"STRIPE_WEBHOOK_SECRET": [WEBHOOK_SECRET, "sk_test_pasted_the_wrong_key"]},
     "STRIPE_WEBHOOK_SECRET entry 2 of 2 does not start with whsec_"),
    ({"INTERNAL_WEBHOOK_SECRET": INTERNAL_SECRET[:31]},
     "INTERNAL_WEBHOOK_SECRET is 31 characters; use at least 32"),
    ({"INTERNAL_WEBHOOK_URL": "core:8000/subscriptions/internal/stripe-webhook"},
     "INTERNAL_WEBHOOK_URL is not an http(s) URL"),
    ({"INTERNAL_WEBHOOK_URL": "ftp://core/x"}, "INTERNAL_WEBHOOK_URL is not an http(s) URL"),
    ({"INTERNAL_WEBHOOK_URL": "http://core:8000/x", "INTERNAL_WEBHOOK_SECRET": None},
     "forwarding to INTERNAL_WEBHOOK_URL fails"),
    ({"STATUS_ADMIN_TOKEN": "too-short-tok"}, "STATUS_ADMIN_TOKEN is 13 characters; use at least 32"),
    ({"STRIPE_WEBHOOK_SECRET": [WEBHOOK_SECRET, "whsec_short_0123456789"]},
     "STRIPE_WEBHOOK_SECRET entry 2 of 2 is 22 characters; use at least 32"),
    ({"STRIPE_WEBHOOK_SECRET": [f'"{WEBHOOK_SECRET}"']},
     "STRIPE_WEBHOOK_SECRET entry 1 of 1 is wrapped in quotes: remove them"),
    ({"STRIPE_WEBHOOK_SECRET": [WEBHOOK_SECRET, f"'{WEBHOOK_SECRET}'"]},
     "STRIPE_WEBHOOK_SECRET entry 2 of 2 is wrapped in quotes"),
    ({"INTERNAL_WEBHOOK_SECRET": INTERNAL_SECRET[:20] + " " + INTERNAL_SECRET[20:]},
     "INTERNAL_WEBHOOK_SECRET contains whitespace"),
    ({"STATUS_ADMIN_TOKEN": "`" + "t" * 40 + "`"}, "STATUS_ADMIN_TOKEN is wrapped in quotes"),
    ({"STRIPE_SECRET_KEY": "pk_live_publishable_0123456789"}, "STRIPE_SECRET_KEY is not a secret key"),
], ids=["no-webhook-secret", "not-whsec", "short-internal-secret", "url-without-scheme", "url-not-http", "url-without-secret",
        "short-admin-token", "short-webhook-secret", "quoted-webhook-secret",
        "quoted-second-entry", "whitespace-in-internal-secret", "backquoted-admin-token",
        "publishable-key"])
def test_each_bad_setting_is_one_problem_line(migrated: Flask, config_overrides: dict[str, Any],
                                               expected: str) -> None:
    result = doctor(migrated)
    assert result.exit_code == 1
    (line,) = problems(result)
    assert expected in line
    assert "1 problem(s) found" in result.output
    assert_no_secret_in(result.output, migrated.config)


def _no_migrations(session: Session) -> None:
    session.execute(text("DROP TABLE alembic_version"))


def _old_migration(session: Session) -> None:
    session.execute(text("UPDATE alembic_version SET version_num = '0000_before'"))


def _rank(name: str, rank: int) -> Callable[[Session], None]:
    return lambda session: session.execute(update(Tier).where(Tier.name == name).values(rank=rank))


def _business_also_sells_pro(session: Session) -> None:
    session.execute(update(Tier).where(Tier.name == "business")
                    .values(prices=["price_business_monthly", "pro_monthly"]))


@pytest.mark.parametrize("damage, expected", [
    (_no_migrations, "database has no migrations applied: run `flask db upgrade`"),
    (_old_migration, "database at migration 0000_before, code at "),
    (lambda session: session.execute(delete(Tier)), "no tiers: run `flask seed tiers`"),
    (lambda session: session.execute(delete(Tier).where(Tier.name == "free")), "no 'free' tier"),
    (_rank("pro", -1), "tier pro ranks below 'free' (rank -1 < 0)"),
    (_rank("pro", 2), "tiers business, pro share rank 2"),
    (_business_also_sells_pro, "price pro_monthly is listed by tiers pro, business"),
], ids=["no-migrations", "old-migration", "no-tiers", "no-free", "below-free", "shared-rank",
        "price-twice"])
def test_each_database_problem_is_one_line(migrated: Flask, damage: Callable[[Session], None],
                                            expected: str) -> None:
    with migrated.app_context():
        damage(db.session)
        db.session.commit()
    result = doctor(migrated)
    assert result.exit_code == 1
    (line,) = problems(result)
    assert expected in line


def test_an_unreachable_database_is_reported_without_its_url(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'subsvc.db'}"
    app = create_app(base_config(url))
    result = doctor(app)
    assert result.exit_code == 1
    (line,) = problems(result)
    assert line.startswith("problem: database unreachable: OperationalError")
    assert str(tmp_path) not in result.output


def test_problems_are_all_listed_together(migrated: Flask) -> None:
    migrated.config.update(STRIPE_WEBHOOK_SECRET=[], INTERNAL_WEBHOOK_SECRET=None,
                           STATUS_ADMIN_TOKEN="short")
    with migrated.app_context():
        db.session.execute(delete(Tier))
        db.session.commit()
    result = doctor(migrated)
    assert result.exit_code == 1
    assert len(problems(result)) == 3
    assert "3 problem(s) found" in result.output
