"""The migrations build the full schema from empty, and the models have not drifted from them."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from subsvc import create_app
from subsvc.extensions import db

from tests.conftest import base_config, pg_schema, postgres_only

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
    app = create_app(base_config(empty_database))
    client = app.test_client()
    try:
        assert client.get("/readyz").get_json()["error"] == "migrations_pending"
        assert flask(empty_database, "db", "upgrade").returncode == 0
        assert (client.get("/readyz").status_code, client.get("/readyz").get_json()) == (
            200, {"status": "ok", "newest_processed_event_age_seconds": None})
    finally:
        with app.app_context():
            db.engine.dispose()
