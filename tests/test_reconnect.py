"""A pooled connection that died (database restart, failover) costs no event: one retry heals it."""
from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from subsvc import simulate as sim
from subsvc.extensions import db
from tests.builders import basic, checkout, deliver, inbox_row
from tests.conftest import ADMIN_TOKEN, PG_URL, own_app, postgres_only

pytestmark = [pytest.mark.postgres, postgres_only]


@pytest.fixture
def named_app(app: Flask, pg_schema_url: str) -> Iterator[tuple[Flask, str]]:
    """An app whose connections carry a name of their own, so the test can kill exactly them."""
    name = f"subsvc_{uuid.uuid4().hex[:10]}"
    with own_app(f"{pg_schema_url}&application_name={name}") as named:
        yield named, name


def terminate_connections(application_name: str) -> int:
    engine = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return len(conn.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = :name"), {"name": application_name}).all())
    finally:
        engine.dispose()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_event_after_the_pool_connections_died_is_processed(
        named_app: tuple[Flask, str], app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    named, name = named_app
    client = named.test_client()
    assert deliver(client, checkout(sim.Customer.make("rc1"))).status_code == 200
    assert terminate_connections(name) >= 1
    event = checkout(sim.Customer.make("rc2"))

    answer = deliver(client, event)

    assert (answer.status_code, answer.get_json()) == (200, {"status": "processed",
                                                             "event_id": event["id"]})
    assert inbox_row(app, event["id"]).attempts == 1
    assert "Database unavailable" not in caplog.text


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_reads_after_the_pool_connections_died_answer_without_a_503(
        named_app: tuple[Flask, str], app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    """Product back ends call the tier look-up on every request: a database restart must not
    look like an outage to them. Each read meets a pool whose connections were all killed."""
    named, name = named_app
    client = named.test_client()
    c = sim.Customer.make("rc3")
    assert deliver(client, checkout(c)).status_code == 200
    reads = [
        (f"/status/api/users?email={c.email}", {"Authorization": f"Bearer {ADMIN_TOKEN}"}),
        (f"/status/users?email={c.email}", basic("operator", ADMIN_TOKEN)),
    ]
    for path, headers in reads:
        assert terminate_connections(name) >= 1, path
        answer = client.get(path, headers=headers)
        assert answer.status_code == 200, (path, answer.data[:200])
    assert "Database unavailable" not in caplog.text


def fill_pool(app: Flask, count: int) -> None:
    """Leave `count` connections idle in the app's pool (all checked out at once, then back)."""
    with app.app_context():
        connections = [db.engine.connect() for _ in range(count)]
        for connection in connections:
            connection.exec_driver_sql("SELECT 1")
        for connection in connections:
            connection.close()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_the_tier_lookup_and_an_event_heal_a_pool_of_dead_connections_at_once(
        named_app: tuple[Flask, str], app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    # The first dead connection found must retire the whole pool, as SQLAlchemy's own
    # execution does: the one retry would otherwise meet the next dead connection (the
    # lookup and the hot path run on the driver's cursor, models/prepared.py).
    named, name = named_app
    client = named.test_client()
    c = sim.Customer.make("rc4")
    assert deliver(client, checkout(c)).status_code == 200
    runner = named.test_cli_runner()
    key = runner.invoke(args=["keys", "rotate", c.email]).stdout.strip().splitlines()[-1]

    fill_pool(named, 4)
    assert terminate_connections(name) >= 4
    answer = client.get("/status/api/me", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.data[:200]

    fill_pool(named, 4)
    assert terminate_connections(name) >= 4
    event = checkout(sim.Customer.make("rc5"))
    assert deliver(client, event).status_code == 200
    assert inbox_row(app, event["id"]).attempts == 1
    assert "Database unavailable" not in caplog.text
