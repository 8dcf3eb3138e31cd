from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import delete, text, update
from sqlalchemy.orm import Session

from subsvc.extensions import db
from subsvc.models import Tier
from subsvc.stripe_api import WEBHOOK_TYPES
from tests.conftest import INTERNAL_SECRET, WEBHOOK_SECRET, own_app
from tests.server import free_port
from tests.stripe_api import SECRET_KEY, fake_stripe


def doctor(app: Flask) -> Result:
    return app.test_cli_runner().invoke(args=["doctor"])


def problems(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("problem: ")]


def assert_no_secret_in(output: str, config: dict[str, Any]) -> None:
    values = [config.get("INTERNAL_WEBHOOK_SECRET"), config.get("STATUS_ADMIN_TOKEN"),
              config.get("STRIPE_SECRET_KEY"), *config.get("STRIPE_WEBHOOK_SECRET", [])]
    for value in filter(None, values):
        assert value not in output


CLOSED_PORT = f"http://127.0.0.1:{free_port()}"

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
    # Stripe out of reach (nothing listens at that port): a note, not a problem.
    {"STRIPE_SECRET_KEY": "sk_live_51AbCdEfGhIjKlMnOp", "STRIPE_API_BASE": CLOSED_PORT},
    {"STRIPE_SECRET_KEY": "rk_test_51AbCdEfGhIjKlMnOp", "STRIPE_API_BASE": CLOSED_PORT},
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
    ({"STATUS_ADMIN_TOKEN": "too-short-tok"},
     "STATUS_ADMIN_TOKEN is 13 characters; use at least 32"),
    ({"STRIPE_WEBHOOK_SECRET": [WEBHOOK_SECRET, "whsec_short_0123456789"]},
     "STRIPE_WEBHOOK_SECRET entry 2 of 2 is 22 characters; use at least 32"),
    ({"STRIPE_WEBHOOK_SECRET": [f'"{WEBHOOK_SECRET}"']},
     "STRIPE_WEBHOOK_SECRET entry 1 of 1 is wrapped in quotes: remove them"),
    ({"STRIPE_WEBHOOK_SECRET": [WEBHOOK_SECRET, f"'{WEBHOOK_SECRET}'"]},
     "STRIPE_WEBHOOK_SECRET entry 2 of 2 is wrapped in quotes"),
    ({"INTERNAL_WEBHOOK_SECRET": INTERNAL_SECRET[:20] + " " + INTERNAL_SECRET[20:]},
     "INTERNAL_WEBHOOK_SECRET contains whitespace"),
    ({"STATUS_ADMIN_TOKEN": "`" + "t" * 40 + "`"}, "STATUS_ADMIN_TOKEN is wrapped in quotes"),
    ({"STRIPE_SECRET_KEY": "pk_live_publishable_0123456789"},
     "STRIPE_SECRET_KEY is not a secret key"),
], ids=["no-webhook-secret", "not-whsec", "short-internal-secret", "url-without-scheme",
        "url-not-http", "url-without-secret",
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
    with own_app(url) as app:
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


ENDPOINT_URL = "https://billing.example.com/api/webhooks/stripe"


def doctor_with_stripe(app: Flask, endpoints: list[tuple[str, list[str], str]],
                       **options: Any) -> Result:
    with fake_stripe(**options) as stripe:
        for url, events, status in endpoints:
            stripe.add_webhook_endpoint(url, events, status=status)
        app.config.update(STRIPE_SECRET_KEY=SECRET_KEY, STRIPE_API_BASE=stripe.url)
        return doctor(app)


@pytest.mark.parametrize("events", [list(WEBHOOK_TYPES), ["*"]], ids=["every-type", "wildcard"])
def test_a_webhook_endpoint_sending_every_handled_type_passes(migrated: Flask,
                                                             events: list[str]) -> None:
    result = doctor_with_stripe(migrated, [
        ("https://other.example.com/hooks", ["charge.succeeded"], "enabled"),
        (ENDPOINT_URL, events, "enabled")])
    assert result.exit_code == 0, result.output
    assert (f"note: webhook endpoint {ENDPOINT_URL} is enabled and sends every handled type"
            in result.output.splitlines())
    assert_no_secret_in(result.output, migrated.config)


@pytest.mark.parametrize("endpoints, expected", [
    ([], "no Stripe webhook endpoint ends in /api/webhooks/stripe"),
    ([(ENDPOINT_URL, [t for t in WEBHOOK_TYPES if "paused" not in t and "resumed" not in t],
       "enabled")],
     f"webhook endpoint {ENDPOINT_URL} does not send: customer.subscription.paused, "
     "customer.subscription.resumed"),
    ([(ENDPOINT_URL, ["*"], "disabled")], f"webhook endpoint {ENDPOINT_URL} is disabled"),
], ids=["none", "missing-types", "disabled"])
def test_a_missing_incomplete_or_disabled_endpoint_is_a_problem(
        migrated: Flask, endpoints: list[tuple[str, list[str], str]], expected: str) -> None:
    result = doctor_with_stripe(migrated, endpoints)
    assert result.exit_code == 1
    (line,) = problems(result)
    assert expected in line


def test_a_refused_key_is_a_problem_and_pages_are_followed(migrated: Flask) -> None:
    many = [(f"https://x{n}.example.com/other", ["*"], "enabled") for n in range(5)]
    result = doctor_with_stripe(migrated, [(ENDPOINT_URL, ["*"], "enabled"), *many], page_cap=2)
    assert result.exit_code == 0, result.output
    with fake_stripe() as stripe:
        migrated.config.update(STRIPE_SECRET_KEY="sk_test_not_this_one_0123456789abcdef",
                               STRIPE_API_BASE=stripe.url)
        refused = doctor(migrated)
    assert refused.exit_code == 1
    assert problems(refused) == [
        "problem: Stripe refused STRIPE_SECRET_KEY (401): webhook endpoint not checked"]
    assert_no_secret_in(refused.output, migrated.config)


def test_unreachable_stripe_is_a_note(migrated: Flask) -> None:
    migrated.config.update(STRIPE_SECRET_KEY=SECRET_KEY, STRIPE_API_BASE=CLOSED_PORT)
    result = doctor(migrated)
    assert result.exit_code == 0, result.output
    assert (f"note: Stripe unreachable (cannot reach Stripe at {CLOSED_PORT[7:]}): "
            "webhook endpoint not checked") in result.output.splitlines()
