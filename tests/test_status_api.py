"""The JSON status API: /status/api/me (API key) and /status/api/users (admin token)."""
from __future__ import annotations

import logging
import sqlite3
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from subsvc import simulate as sim
from tests.builders import (
    APIS,
    P1,
    PRO,
    START,
    another_subscription,
    bearer,
    checkout,
    deliver_ok,
    invoice_event,
    iso,
    rotate_key,
    snapshot,
    subscription_event,
    users,
)
from tests.conftest import ADMIN_TOKEN

ME, LOOKUP = "/status/api/me", "/status/api/users"
UNAUTHORIZED = (401, {"error": "unauthorized"})


def subscribe(client: FlaskClient, c: sim.Customer, api: str = sim.API_NEW) -> None:
    deliver_ok(client, checkout(c, api=api))
    deliver_ok(client, subscription_event("customer.subscription.created", c, api=api))
    deliver_ok(client, invoice_event("invoice.paid", c, api=api))


def lookup(client: FlaskClient, email: str, headers: dict[str, str] | None = None) -> Any:
    return client.get(LOOKUP, query_string={"email": email}, headers=headers or bearer(ADMIN_TOKEN))


@pytest.mark.parametrize("api", APIS)
def test_me_with_the_right_key_answers_the_status_json(
        app: Flask, client: FlaskClient, runner: FlaskCliRunner, api: str) -> None:
    c = sim.Customer.make(1)
    subscribe(client, c, api)
    key = rotate_key(runner, c.email)
    [user] = users(app)

    response = client.get(ME, headers=bearer(key))

    assert response.status_code == 200
    assert response.get_json() == {
        "email": c.email, "external_id": c.external_id, "tier": "pro", "entitled": True,
        "limits": {"widgets": 10},
        "subscription": {"id": c.subscription, "status": "active", "price_id": PRO,
                         "current_period_end": iso(P1), "cancel_at_period_end": False,
                         "cancel_at": None},
        "api_key_prefix": user.api_key_prefix,
    }
    assert key.startswith(user.api_key_prefix)


def test_admin_lookup_answers_the_same_json_case_insensitively(
        client: FlaskClient, runner: FlaskCliRunner) -> None:
    c = sim.Customer.make(2)
    subscribe(client, c)
    me = client.get(ME, headers=bearer(rotate_key(runner, c.email))).get_json()

    response = lookup(client, c.email.upper())

    assert (response.status_code, response.get_json()) == (200, me)


def test_user_without_subscription_is_free(app: Flask, client: FlaskClient,
                                           runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["users", "create", "solo@example.com"]).exit_code == 0
    key = rotate_key(runner, "solo@example.com")
    [user] = users(app)

    response = client.get(ME, headers=bearer(key))

    assert (response.status_code, response.get_json()) == (200, {
        "email": "solo@example.com", "external_id": None, "tier": "free", "entitled": False,
        "limits": {"widgets": 1}, "subscription": None, "api_key_prefix": user.api_key_prefix,
    })


def test_subscription_shown_is_the_most_recent_when_none_decides(client: FlaskClient) -> None:
    first = sim.Customer.make(3)
    second = another_subscription(first)
    subscribe(client, first)
    deliver_ok(client, subscription_event("customer.subscription.created", second, at=START + 50,
                                          status="incomplete_expired"))
    deliver_ok(client, subscription_event("customer.subscription.deleted", first, at=START + 20,
                                          status="canceled"))

    body = lookup(client, first.email).get_json()

    assert (body["tier"], body["entitled"]) == ("free", False)
    assert body["subscription"]["id"] == second.subscription


@pytest.mark.parametrize("make_headers", [
    lambda key: {},
    lambda key: {"Authorization": ""},
    lambda key: {"Authorization": "Bearer"},
    lambda key: bearer("sk_subsvc_not_a_real_key_000000000000000000000000000"),
    lambda key: bearer(key[:-1]),
    lambda key: bearer(key + "x"),
    lambda key: {"Authorization": key},
    lambda key: {"Authorization": f"Basic {key}"},
    lambda key: bearer(ADMIN_TOKEN),
], ids=["missing", "empty", "scheme-only", "unknown-key", "truncated", "longer", "no-scheme",
        "basic", "admin-token"])
def test_me_without_a_valid_key_is_unauthorized(app: Flask, client: FlaskClient,
                                                runner: FlaskCliRunner, make_headers: Any) -> None:
    c = sim.Customer.make(4)
    subscribe(client, c)
    key = rotate_key(runner, c.email)
    before = snapshot(app)

    response = client.get(ME, headers=make_headers(key))

    assert (response.status_code, response.get_json()) == UNAUTHORIZED
    assert snapshot(app) == before


def test_rotated_out_key_is_unauthorized(client: FlaskClient, runner: FlaskCliRunner) -> None:
    c = sim.Customer.make(5)
    subscribe(client, c)
    old = rotate_key(runner, c.email)
    new = rotate_key(runner, c.email)

    assert client.get(ME, headers=bearer(old)).get_json() == {"error": "unauthorized"}
    assert client.get(ME, headers=bearer(new)).status_code == 200


@pytest.mark.parametrize(("headers", "status"), [
    (bearer(ADMIN_TOKEN), 200),
    ({}, 401),
    (bearer("wrong-admin-token"), 401),
    (bearer(ADMIN_TOKEN[:-1]), 401),
    ({"Authorization": ADMIN_TOKEN}, 401),
], ids=["right", "missing", "wrong", "prefix", "no-scheme"])
def test_admin_lookup_needs_the_admin_token(app: Flask, client: FlaskClient,
                                            headers: dict[str, str], status: int) -> None:
    c = sim.Customer.make(6)
    subscribe(client, c)
    before = snapshot(app)

    response = client.get(LOOKUP, query_string={"email": c.email}, headers=headers)

    assert response.status_code == status
    if status == 401:
        assert response.get_json() == {"error": "unauthorized"}
    else:
        assert response.get_json()["email"] == c.email
    assert snapshot(app) == before


def test_admin_lookup_of_unknown_email_is_not_found(client: FlaskClient) -> None:
    response = lookup(client, "nobody@example.com")

    assert (response.status_code, response.get_json()) == (404, {"error": "not_found"})


@pytest.mark.parametrize("config_overrides", [{"STATUS_ADMIN_TOKEN": None}], indirect=True)
@pytest.mark.parametrize("headers", [{}, bearer(ADMIN_TOKEN)], ids=["no-token", "token"])
def test_admin_lookup_without_configured_token_is_not_configured(
        client: FlaskClient, headers: dict[str, str]) -> None:
    subscribe(client, sim.Customer.make(7))

    response = client.get(LOOKUP, query_string={"email": "user7@example.com"}, headers=headers)

    assert (response.status_code, response.get_json()) == (503, {"error": "not_configured"})


def test_keys_and_tokens_never_reach_the_log(client: FlaskClient, runner: FlaskCliRunner,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    c = sim.Customer.make(8)
    subscribe(client, c)
    key = rotate_key(runner, c.email)

    responses = [client.get(ME, headers=bearer(key)), client.get(ME, headers=bearer(key[:-1])),
                 lookup(client, c.email), lookup(client, c.email, bearer(ADMIN_TOKEN[:-1]))]

    assert [r.status_code for r in responses] == [200, 401, 200, 401]
    texts = [r.get_data(as_text=True) for r in responses] + [caplog.text]
    for secret in (key, key[:-1], ADMIN_TOKEN, ADMIN_TOKEN[:-1]):
        assert not [text for text in texts if secret in text]


def test_me_answers_while_another_process_holds_the_sqlite_write_lock(
        app: Flask, client: FlaskClient, runner: FlaskCliRunner, database_url: str) -> None:
    # A lookup only reads: on SQLite it begins DEFERRED, so a writer holding the write
    # lock (an event transaction in another worker) does not make it wait for the lock.
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's write lock")
    c = sim.Customer.make(1)
    subscribe(client, c)
    key = rotate_key(runner, c.email)
    writer = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        # Were the lookup to want the lock, it would wait out the busy timeout, then fail.
        response = client.get(ME, headers=bearer(key))
    finally:
        writer.rollback()
        writer.close()

    assert response.status_code == 200
    assert response.get_json()["tier"] == "pro"
