"""The migrations build the full schema from empty, and the models have not drifted from them."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import own_app, pg_schema, postgres_only

ROOT = Path(__file__).resolve().parent.parent


def flask(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "FLASK_APP": "subsvc"}
    return subprocess.run([sys.executable, "-m", "flask", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres,
                                                                    postgres_only])])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    with pg_schema("mig") as url:
        yield url


def test_upgrade_from_empty_then_check_finds_no_drift(empty_database: str) -> None:
    upgrade = flask(empty_database, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    check = flask(empty_database, "db", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr
    engine = sa.create_engine(empty_database)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"users", "subscriptions", "tiers", "inbox_events", "widget_configs",
            "alembic_version"} <= tables


def test_inbox_event_id_is_unique_by_constraint(empty_database: str) -> None:
    assert flask(empty_database, "db", "upgrade").returncode == 0
    engine = sa.create_engine(empty_database)
    try:
        uniques = sa.inspect(engine).get_unique_constraints("inbox_events")
    finally:
        engine.dispose()
    assert any(c["column_names"] == ["event_id"] for c in uniques)


def test_downgrade_to_base_and_back(empty_database: str) -> None:
    assert flask(empty_database, "db", "upgrade").returncode == 0
    down = flask(empty_database, "db", "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert flask(empty_database, "db", "upgrade").returncode == 0


def test_readyz_turns_ready_once_migrated(empty_database: str) -> None:
    with own_app(empty_database) as app:
        client = app.test_client()
        assert client.get("/readyz").get_json()["error"] == "migrations_pending"
        assert flask(empty_database, "db", "upgrade").returncode == 0
        assert (client.get("/readyz").status_code, client.get("/readyz").get_json()) == (
            200, {"status": "ok", "newest_processed_event_age_seconds": None})


def test_0003_backfills_whom_each_stored_event_is_about(empty_database: str) -> None:
    from subsvc import simulate as sim
    from tests.builders import checkout, invoice_event, subscription_event

    assert flask(empty_database, "db", "upgrade", "0002").returncode == 0
    c = sim.Customer.make("mig")
    both = (c.customer, c.subscription)
    events = {
        "checkout": (checkout(c), both),
        "sub": (subscription_event("customer.subscription.updated", c), both),
        "old_invoice": (invoice_event("invoice.paid", c, api=sim.API_OLD), both),
        "new_invoice": (invoice_event("invoice.paid", c, api=sim.API_NEW), both),
        "customer": (sim.event("customer.updated", {"id": c.customer, "object": "customer"}),
                     (c.customer, None)),
        "thin": (sim.thin_event("customer.subscription.updated", c.subscription, "subscription"),
                 (None, c.subscription)),
        "too_long": (sim.event("charge.succeeded", {"object": "charge", "customer": "c" * 300}),
                     (None, None)),
    }
    engine = sa.create_engine(empty_database)
    try:
        with engine.begin() as conn:
            for name, (event, _) in events.items():
                conn.execute(sa.text(
                    "INSERT INTO inbox_events (event_id, type, livemode, stripe_created, status, "
                    "attempts, payload, received_at) VALUES (:id, :type, false, 1, 'processed', 1, "
                    ":payload, CURRENT_TIMESTAMP)"),
                    {"id": name, "type": event["type"], "payload": sim.dumps(event).decode()})
        upgrade = flask(empty_database, "db", "upgrade")
        assert upgrade.returncode == 0, upgrade.stderr
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT event_id, stripe_customer_id, "
                                        "stripe_subscription_id FROM inbox_events")).all()
    finally:
        engine.dispose()
    assert {row[0]: (row[1], row[2]) for row in rows} == {
        name: subjects for name, (_, subjects) in events.items()}


def test_head_revisions_are_alembics_heads(tmp_path: Path) -> None:
    from alembic.script import ScriptDirectory

    from subsvc.migrations import head_revisions

    migrations = ROOT / "migrations"
    assert head_revisions(str(migrations)) == frozenset(ScriptDirectory(str(migrations))
                                                        .get_heads())
    # A branch: two revisions on one parent are two heads; a merge of both is one again.
    branched = {"a": "None", "b": "'a'", "c": "'a'"}
    assert head_revisions(str(_revisions(tmp_path / "branched", branched))) == {"b", "c"}
    merged = {**branched, "d": "('b', 'c')"}
    assert head_revisions(str(_revisions(tmp_path / "merged", merged))) == {"d"}


def _revisions(directory: Path, down_revisions: dict[str, str]) -> Path:
    (directory / "versions").mkdir(parents=True)
    for name, down in down_revisions.items():
        (directory / "versions" / f"{name}.py").write_text(
            f"revision: str = '{name}'\ndown_revision = {down}\n")
    return directory


def test_serving_loads_no_migration_tooling(tmp_path: Path) -> None:
    # alembic, mako and Flask-Migrate are about 11 MiB per gunicorn worker, which never
    # migrates: the app loads them only for `flask db` (subsvc/migrations.py).
    script = ("import sys, wsgi; assert wsgi.app.view_functions; "
              "print(sorted(m for m in sys.modules if m.split('.')[0] in "
              "('alembic', 'mako', 'flask_migrate')))")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
