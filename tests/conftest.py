"""Fixtures: a fresh app and database per test,
on SQLite and (when TEST_DATABASE_URL is set) Postgres.

Postgres runs get a schema of their own, dropped afterwards, so two runs on
one server never see each other's rows.
"""
from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import text

from subsvc import create_app
from subsvc.accounts.tiers import seed_tiers
from subsvc.extensions import db
from subsvc.migrations import head_revisions, migrations_dir
from tests.stripe_api import FakeStripe, fake_stripe

WEBHOOK_SECRET = "whsec_test_7d1c0b6a5e4f3a2b1c0d9e8f7a6b5c4d"
OLD_WEBHOOK_SECRET = "whsec_test_old_0a1b2c3d4e5f60718293a4b5c6d7e8f9"
INTERNAL_SECRET = "internal-secret-for-tests-0123456789abcdef"
ADMIN_TOKEN = "admin-token-for-tests-0123456789"

PRO, BUSINESS = "price_pro_monthly", "price_business_monthly"  # the priced tiers of TEST_TIERS

TEST_TIERS: list[dict[str, Any]] = [
    {"name": "free", "rank": 0, "prices": [], "limits": {"widgets": 1},
     "widget_defaults": {"theme": "light"}},
    {"name": "pro", "rank": 1, "prices": [PRO, "pro_monthly"],
     "limits": {"widgets": 10}, "widget_defaults": {"theme": "light", "branding": False}},
    {"name": "business", "rank": 2, "prices": [BUSINESS],
     "limits": {"widgets": 100}, "widget_defaults": {"theme": "dark", "branding": False}},
]

PG_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
postgres_only = pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set")
BACKENDS = ["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, postgres_only])]


def with_search_path(url: str, schema: str) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options=-csearch_path%3D{schema}"


@contextmanager
def pg_schema(prefix: str = "test", server_url: str | None = None) -> Iterator[str]:
    """A URL into a fresh Postgres schema of its own, dropped (with all in it) afterwards.

    On TEST_DATABASE_URL's server unless `server_url` names another (the benchmark's).
    """
    url = server_url or PG_URL
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        yield with_search_path(url, schema)
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    """A schema of this run's own on the Postgres server, dropped at the end."""
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL not set")
    with pg_schema() as url:
        yield url


def base_config(database_url: str) -> dict[str, Any]:
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "STRIPE_WEBHOOK_SECRET": [WEBHOOK_SECRET],
        "STRIPE_WEBHOOK_TOLERANCE": 300,
        "INTERNAL_WEBHOOK_SECRET": INTERNAL_SECRET,
        "STATUS_ADMIN_TOKEN": ADMIN_TOKEN,
    }


@contextmanager
def own_app(database_url: str, **settings: Any) -> Iterator[Flask]:
    """An app on `database_url` with the test defaults and `settings`; its pool closed afterwards.

    For a second app beside the `app` fixture, or one built after a log capture started.
    """
    app = create_app({**base_config(database_url), **settings})
    try:
        yield app
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "postgres":
        return request.getfixturevalue("pg_schema_url")
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def config_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings on top of the test defaults: parametrise indirectly, or override per module."""
    return getattr(request, "param", {})


@pytest.fixture
def app(database_url: str, config_overrides: dict[str, Any]) -> Iterator[Flask]:
    with own_app(database_url, **config_overrides) as app:
        with app.app_context():
            db.drop_all()
            db.create_all()
            seed_tiers(db.session, TEST_TIERS, overwrite=True)
            db.session.commit()
        yield app
        with app.app_context():
            db.session.remove()
            db.drop_all()


# Alembic's env.py reconfigures logging in-process, so these tests mark the
# create_all schema as migrated by hand instead of running `flask db upgrade`.


@pytest.fixture
def migrated(app: Flask) -> Iterator[Flask]:
    with app.app_context():
        db.session.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        for revision in head_revisions(migrations_dir()):
            db.session.execute(text("INSERT INTO alembic_version VALUES (:r)"), {"r": revision})
        db.session.commit()
    yield app
    with app.app_context():
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()


@pytest.fixture
def stripe() -> Iterator[FakeStripe]:
    """A local server that plays Stripe's API (tests/stripe_api.py) for this test."""
    with fake_stripe() as fake:
        yield fake


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def unreachable(tmp_path: Path) -> Iterator[FlaskClient]:
    """A client of an app whose database file is in a folder that does not exist.

    Every connection fails, as when the database is down.
    """
    with own_app(f"sqlite:///{tmp_path / 'missing' / 'x.db'}") as app:
        yield app.test_client()


def now() -> int:
    return int(time.time())
