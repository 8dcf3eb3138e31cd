"""Failures answer a bare code (JSON on API paths, a page on HTML pages), never a trace or SQL."""
from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from subsvc import simulate as sim
from tests.builders import checkout, deliver
from tests.conftest import ADMIN_TOKEN

LEAKS = ("Traceback", "sqlite3", "SELECT", "INSERT", "OperationalError", "unable to open")


def assert_no_leak(body: str) -> None:
    assert not [leak for leak in LEAKS if leak in body]


def test_webhook_with_the_database_down_is_503_json(unreachable: FlaskClient) -> None:
    event = checkout(sim.Customer.make("down1"))

    answer = deliver(unreachable, event)

    assert (answer.status_code, answer.get_json()) == (503, {"error": "database_unavailable",
                                                             "event_id": event["id"]})
    assert_no_leak(answer.get_data(as_text=True))


@pytest.mark.parametrize(("path", "headers"), [
    ("/status/api/me", {"Authorization": "Bearer sk_subsvc_whatever"}),
    ("/status/api/users?email=a@example.com", {"Authorization": f"Bearer {ADMIN_TOKEN}"}),
])
def test_status_api_with_the_database_down_is_503_json(unreachable: FlaskClient, path: str,
                                                       headers: dict[str, str]) -> None:
    answer = unreachable.get(path, headers=headers)

    assert (answer.status_code, answer.get_json()) == (503, {"error": "database_unavailable"})


def test_status_page_with_the_database_down_is_a_503_page(unreachable: FlaskClient) -> None:
    answer = unreachable.post("/status", data={"api_key": "sk_subsvc_whatever"})

    assert answer.status_code == 503
    assert answer.mimetype == "text/html"
    assert "Temporarily unavailable" in answer.get_data(as_text=True)
    assert_no_leak(answer.get_data(as_text=True))


def test_readyz_is_503_and_healthz_200_with_the_database_down(unreachable: FlaskClient) -> None:
    answer = unreachable.get("/readyz")

    assert (answer.status_code, answer.get_json()) == (503, {"status": "unavailable",
                                                             "error": "database_unavailable"})
    assert unreachable.get("/healthz").status_code == 200


def test_readyz_is_503_until_migrations_ran(client: FlaskClient) -> None:
    # The test schema comes from create_all, with no alembic_version row.
    answer = client.get("/readyz")

    assert (answer.status_code, answer.get_json()) == (503, {"status": "unavailable",
                                                             "error": "migrations_pending"})


def test_unknown_api_path_is_json_404(client: FlaskClient) -> None:
    answer = client.get("/api/nothing-here")

    assert (answer.status_code, answer.get_json()) == (404, {"error": "not_found"})
