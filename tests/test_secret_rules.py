"""Secrets at run time: the 32-character rule on every endpoint, admin-guess logging, no-store.

CONTRACT section 3: a secret or token shorter than 32 characters is refused (503
`not_configured`, the log says why without the value); section 4: the status API's
JSON answers are never cached.
"""
from __future__ import annotations

import logging
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from subsvc import simulate as sim
from tests.builders import (
    answer,
    basic,
    bearer,
    checkout,
    deliver,
    deliver_internal,
    deliver_ok,
    rotate_key,
    snapshot,
)
from tests.conftest import ADMIN_TOKEN, INTERNAL_SECRET, WEBHOOK_SECRET

SHORT_WEBHOOK_SECRET = "whsec_" + "a1" * 12 + "b"  # 31 characters
SHORT_INTERNAL_SECRET = INTERNAL_SECRET[:31]
SHORT_ADMIN_TOKEN = "admin-token-31-characters-01234"
LOOKUP = "/status/api/users"
NOT_CONFIGURED = (503, {"error": "not_configured"})


def refusals(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and r.getMessage().startswith(name)
            and "refusing to use it" in r.getMessage()]


def test_the_test_secrets_are_long_enough() -> None:
    # Otherwise every other test would pass for the wrong reason (503 everywhere).
    assert min(len(WEBHOOK_SECRET), len(INTERNAL_SECRET), len(ADMIN_TOKEN)) >= 32
    assert len(SHORT_WEBHOOK_SECRET) == len(SHORT_INTERNAL_SECRET) == len(SHORT_ADMIN_TOKEN) == 31


# --- the 32-character rule, endpoint by endpoint -------------------------------------------

@pytest.mark.parametrize("config_overrides", [
    {"STRIPE_WEBHOOK_SECRET": [SHORT_WEBHOOK_SECRET]},
    {"STRIPE_WEBHOOK_SECRET": [WEBHOOK_SECRET, SHORT_WEBHOOK_SECRET]},
], indirect=True, ids=["only-entry", "second-entry"])
@pytest.mark.parametrize("signed_with", [SHORT_WEBHOOK_SECRET, WEBHOOK_SECRET],
                         ids=["short", "long"])
def test_a_short_webhook_secret_entry_makes_the_stripe_endpoint_not_configured(
        app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture,
        config_overrides: dict[str, Any], signed_with: str) -> None:
    before = snapshot(app)
    event = checkout(sim.Customer.make("short1"))

    responses = [deliver(client, event, secret=signed_with) for _ in range(3)]

    assert [(r.status_code, r.get_json()) for r in responses] == [NOT_CONFIGURED] * 3
    assert snapshot(app) == before
    entries = len(config_overrides["STRIPE_WEBHOOK_SECRET"])
    assert refusals(caplog, "STRIPE_WEBHOOK_SECRET") == [
        f"STRIPE_WEBHOOK_SECRET entry {entries} of {entries} is shorter than 32 characters; "
        "refusing to use it: its endpoint answers 503"]  # once, not per request
    assert SHORT_WEBHOOK_SECRET not in caplog.text and WEBHOOK_SECRET not in caplog.text


@pytest.mark.parametrize("config_overrides", [{"STRIPE_WEBHOOK_SECRET": ["whsec_" + "c" * 26]}],
                         indirect=True)
def test_a_secret_of_exactly_32_characters_is_used(client: FlaskClient) -> None:
    event = checkout(sim.Customer.make("short2"))

    response = deliver(client, event, secret="whsec_" + "c" * 26)

    assert (response.status_code, response.get_json()) == (200, answer(event))


@pytest.mark.parametrize("config_overrides", [{"INTERNAL_WEBHOOK_SECRET": SHORT_INTERNAL_SECRET}],
                         indirect=True)
def test_a_short_internal_secret_is_refused_once_logged(
        app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    event = checkout(sim.Customer.make("short3"))

    responses = [deliver_internal(client, event, secret=SHORT_INTERNAL_SECRET) for _ in range(2)]

    assert [(r.status_code, r.get_json()) for r in responses] == [NOT_CONFIGURED] * 2
    assert refusals(caplog, "INTERNAL_WEBHOOK_SECRET") == [
        "INTERNAL_WEBHOOK_SECRET is shorter than 32 characters (31); refusing to use it: "
        "its endpoints answer 503"]
    assert SHORT_INTERNAL_SECRET not in caplog.text


@pytest.mark.parametrize("config_overrides", [{"STATUS_ADMIN_TOKEN": SHORT_ADMIN_TOKEN}],
                         indirect=True)
def test_a_short_admin_token_turns_both_admin_look_ups_off(
        client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    deliver_ok(client, checkout(sim.Customer.make("short4")))
    query = {"email": "usershort4@example.com"}

    api = [client.get(LOOKUP, query_string=query, headers=bearer(SHORT_ADMIN_TOKEN))
           for _ in range(2)]
    page = client.get("/status/users", query_string=query, headers=basic("ops", SHORT_ADMIN_TOKEN))

    assert [(r.status_code, r.get_json()) for r in api] == [NOT_CONFIGURED] * 2
    assert page.status_code == 503
    assert "usershort4@example.com" not in page.get_data(as_text=True)
    assert "at least 32 characters" in page.get_data(as_text=True)
    assert refusals(caplog, "STATUS_ADMIN_TOKEN") == [
        "STATUS_ADMIN_TOKEN is shorter than 32 characters (31); refusing to use it: "
        "its endpoints answer 503"]
    assert SHORT_ADMIN_TOKEN not in caplog.text


# --- failed admin-token guesses --------------------------------------------------------

def rejections(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and r.getMessage().startswith("Admin token rejected")]


def test_each_wrong_admin_bearer_is_one_stable_warning(client: FlaskClient,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    guesses = [ADMIN_TOKEN[:-1] + "x", "guess-" + "0" * 30, ADMIN_TOKEN.upper()]

    answers = [client.get(LOOKUP, query_string={"email": "a@example.com"}, headers=bearer(g))
               for g in guesses]

    assert [r.status_code for r in answers] == [401, 401, 401]
    assert rejections(caplog) == ["Admin token rejected on /status/api/users from 127.0.0.1"] * 3
    assert not [g for g in [*guesses, ADMIN_TOKEN] if g in caplog.text]


def test_each_wrong_operator_password_is_one_stable_warning(
        client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    guesses = [ADMIN_TOKEN[1:], "hunter2"]

    answers = [client.get("/status/users", headers=basic("ops", g)) for g in guesses]

    assert [r.status_code for r in answers] == [401, 401]
    assert rejections(caplog) == ["Admin token rejected on /status/users from 127.0.0.1"] * 2
    assert not [g for g in [*guesses, ADMIN_TOKEN] if g in caplog.text]


@pytest.mark.parametrize("path", [LOOKUP, "/status/users"])
def test_no_credentials_at_all_is_not_a_guess(client: FlaskClient, caplog: pytest.LogCaptureFixture,
                                              path: str) -> None:
    # A browser opens the operator page without credentials first, to get the sign-in prompt.
    assert client.get(path).status_code == 401
    assert rejections(caplog) == []
    assert f"Admin look-up without credentials on {path} from 127.0.0.1" in caplog.messages


def test_the_right_token_logs_no_rejection(client: FlaskClient,
                                           caplog: pytest.LogCaptureFixture) -> None:
    assert client.get(LOOKUP, query_string={"email": "a@example.com"},
                      headers=bearer(ADMIN_TOKEN)).status_code == 404
    assert client.get("/status/users", headers=basic("ops", ADMIN_TOKEN)).status_code == 200
    assert rejections(caplog) == []


# --- Cache-Control: no-store on every status API answer ---------------------------------

def api_answers(client: FlaskClient, runner: FlaskCliRunner) -> dict[str, Any]:
    c = sim.Customer.make("nostore")
    deliver_ok(client, checkout(c))
    key = rotate_key(runner, c.email)
    admin = bearer(ADMIN_TOKEN)
    return {
        "me-200": client.get("/status/api/me", headers=bearer(key)),
        "me-401": client.get("/status/api/me", headers=bearer(key[:-1])),
        "users-200": client.get(LOOKUP, query_string={"email": c.email}, headers=admin),
        "users-400": client.get(LOOKUP, headers=admin),
        "users-401": client.get(LOOKUP, query_string={"email": c.email}),
        "users-404": client.get(LOOKUP, query_string={"email": "x@example.com"}, headers=admin),
        "no-route-404": client.get("/status/api/nothing-here"),
        "method-405": client.post("/status/api/me", headers=bearer(key)),
    }


def test_every_status_api_answer_is_no_store(client: FlaskClient, runner: FlaskCliRunner) -> None:
    answers = api_answers(client, runner)

    assert {name: r.status_code for name, r in answers.items()} == {
        name: int(name.rsplit("-", 1)[1]) for name in answers}
    assert {name: r.headers.get("Cache-Control") for name, r in answers.items()} == {
        name: "no-store" for name in answers}
    assert all(r.is_json for r in answers.values())


@pytest.mark.parametrize("config_overrides", [{"STATUS_ADMIN_TOKEN": None}], indirect=True)
def test_the_not_configured_answer_is_no_store_too(client: FlaskClient) -> None:
    response = client.get(LOOKUP, query_string={"email": "a@example.com"})

    assert (response.status_code, response.get_json()) == NOT_CONFIGURED
    assert response.headers["Cache-Control"] == "no-store"
