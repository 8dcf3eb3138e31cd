from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import delete, select

from subsvc.accounts.tiers import default_tiers
from subsvc.extensions import db
from subsvc.models import Tier
from tests.builders import snapshot, status_of
from tests.conftest import TEST_TIERS

Json = dict[str, Any]


def tiers(app: Flask) -> dict[str, dict[str, Any]]:
    with app.app_context():
        return {t.name: {"rank": t.rank, "prices": t.prices, "limits": t.limits,
                         "widget_defaults": t.widget_defaults}
                for t in db.session.scalars(select(Tier))}


def remove_tiers(app: Flask, *names: str) -> None:
    with app.app_context():
        stmt = delete(Tier).where(Tier.name.in_(names)) if names else delete(Tier)
        db.session.execute(stmt)
        db.session.commit()


def tier_file(tmp_path: Path, content: Any) -> str:
    path = tmp_path / "tiers.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


# --- seed tiers -------------------------------------------------------------------


def test_seed_tiers_adds_the_built_in_tiers_to_an_empty_database(app: Flask,
                                                                 runner: FlaskCliRunner) -> None:
    remove_tiers(app)
    result = runner.invoke(args=["seed", "tiers"])
    assert result.exit_code == 0
    assert result.output.strip() == "Tiers added or updated: free, pro, business"
    assert tiers(app)["pro"]["prices"] == \
        next(t for t in default_tiers() if t["name"] == "pro")["prices"]


def test_seed_tiers_without_a_file_never_overwrites_an_operators_tiers(
        app: Flask, runner: FlaskCliRunner) -> None:
    remove_tiers(app, "business")
    before = tiers(app)
    result = runner.invoke(args=["seed", "tiers"])
    assert result.output.strip() == "Tiers added or updated: business"
    after = tiers(app)
    assert {name: after[name] for name in before} == before
    assert runner.invoke(args=["seed", "tiers"]).output.strip() == "Tiers up to date."


def test_seed_tiers_from_a_file_upserts_by_name_and_keeps_the_others(
        app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    specs = [{"name": "pro", "rank": 1, "prices": ["price_1NewPro"], "limits": {"widgets": 20},
              "widget_defaults": {"theme": "dark"}},
             {"name": "team", "rank": 3, "prices": ["team_monthly"]}]
    path = tier_file(tmp_path, {"tiers": specs})
    result = runner.invoke(args=["seed", "tiers", "--file", path])
    assert result.exit_code == 0
    assert result.output.strip() == "Tiers added or updated: pro, team"
    seeded = tiers(app)
    assert set(seeded) == {"free", "pro", "business", "team"}
    assert seeded["pro"] == {"rank": 1, "prices": ["price_1NewPro"], "limits": {"widgets": 20},
                             "widget_defaults": {"theme": "dark"}}
    assert seeded["team"] == {"rank": 3, "prices": ["team_monthly"], "limits": {},
                              "widget_defaults": {}}
    assert runner.invoke(args=["seed", "tiers", "--file", path]).output.strip() == \
        "Tiers up to date."


@pytest.mark.parametrize("content, message", [
    ("{not json", 'expected {"tiers": [...]}'),
    ({"tier": []}, 'expected {"tiers": [...]}'),
    ({"tiers": {"name": "pro"}}, 'expected {"tiers": [...]}'),
    ({"tiers": [{"rank": 1}]}, "every tier needs a non-empty string 'name'"),
    ({"tiers": [{"name": "pro", "rank": "high"}]}, "tier pro: 'rank' must be an integer"),
    ({"tiers": [{"name": "pro", "prices": "price_1"}]},
     "tier pro: 'prices' must be a list of strings"),
    ({"tiers": [{"name": "pro", "limits": []}]}, "tier pro: 'limits' must be an object"),
])
def test_seed_tiers_rejects_a_bad_file_and_changes_nothing(
        app: Flask, runner: FlaskCliRunner, tmp_path: Path, content: Any, message: str) -> None:
    before = tiers(app)
    result = runner.invoke(args=["seed", "tiers", "--file", tier_file(tmp_path, content)])
    assert result.exit_code == 1
    assert message in result.output
    assert tiers(app) == before


def test_seed_tiers_needs_an_existing_file(runner: FlaskCliRunner, tmp_path: Path) -> None:
    result = runner.invoke(args=["seed", "tiers", "--file", str(tmp_path / "missing.json")])
    assert result.exit_code == 2


# --- seed demo --------------------------------------------------------------------


def test_seed_demo_creates_users_through_the_real_rules(
        app: Flask, client: FlaskClient, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["seed", "demo"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "Demo events: 14 processed"
    expected = {"ada@example.com": ("user_ada", "pro", True, "active"),
                "grace@example.com": ("user_grace", "business", True, "past_due"),
                "linus@example.com": ("user_linus", "free", False, "canceled")}
    for email, (external_id, tier, entitled, status) in expected.items():
        body = status_of(client, email)
        assert (body["external_id"], body["tier"],
                body["entitled"]) == (external_id, tier, entitled)
        assert body["subscription"]["status"] == status
        assert body["api_key_prefix"]
        assert f"{email:<20} tier {tier:<9} subscription {status}" in result.output
    ada = status_of(client, "ada@example.com")["subscription"]
    assert ada["price_id"] == "price_pro_monthly" and ada["current_period_end"] > "2000"


def test_seed_demo_twice_changes_nothing(app: Flask, runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["seed", "demo"]).exit_code == 0
    before = snapshot(app)
    again = runner.invoke(args=["seed", "demo"])
    assert again.exit_code == 0
    assert again.output.splitlines()[0] == "Demo events: 14 duplicate"
    assert snapshot(app) == before


def test_seed_demo_works_with_the_built_in_tiers(app: Flask, client: FlaskClient,
                                                 runner: FlaskCliRunner) -> None:
    remove_tiers(app)
    assert runner.invoke(args=["seed", "tiers"]).exit_code == 0
    result = runner.invoke(args=["seed", "demo"])
    assert result.exit_code == 0, result.output
    assert status_of(client, "grace@example.com")["tier"] == "business"


def test_seed_demo_asks_for_tiers_first(app: Flask, runner: FlaskCliRunner) -> None:
    remove_tiers(app, "business")
    result = runner.invoke(args=["seed", "demo"])
    assert result.exit_code == 1
    assert "tier 'business' does not exist: run `flask seed tiers` first" in result.output
    assert not any(snapshot(app, skip=("tiers",)).values())


def test_seed_demo_leaves_test_tiers_untouched(app: Flask, runner: FlaskCliRunner) -> None:
    runner.invoke(args=["seed", "demo"])
    assert {name: spec["prices"] for name, spec in tiers(app).items()} == {
        t["name"]: t["prices"] for t in TEST_TIERS}


@pytest.mark.parametrize("specs, problem", [
    ([{"name": "free", "rank": 0}, {"name": "starter", "rank": 1}],
     "tiers pro, starter share rank 1"),
    ([{"name": "free", "rank": 0}, {"name": "gold", "rank": 5, "prices": ["pro_monthly"]}],
     "price pro_monthly is listed by tiers"),
    ([{"name": "pro", "rank": -1}], "tier pro ranks below 'free'"),
], ids=["shared-rank", "price-in-two-tiers", "below-free"])
def test_seed_tiers_refuses_a_file_that_leaves_the_tiers_inconsistent(
        app: Flask, runner: FlaskCliRunner, tmp_path: Path, specs: list[Json],
        problem: str) -> None:
    """The rules `flask doctor` checks are the rules seeding enforces:
    one function, tier_set_problems.
    """
    before = tiers(app)
    result = runner.invoke(args=["seed", "tiers", "--file", tier_file(tmp_path, {"tiers": specs})])
    assert result.exit_code == 1
    assert problem in result.output
    assert tiers(app) == before
