"""Hostile and broken input at both webhook endpoints and the admin look-up: 4xx, never a 5xx.

Each case was a 500 (or a silent cut) before the edge validated it: deep JSON,
future-dated or non-ASCII signatures, values that do not fit the inbox columns,
NUL characters. A verified event whose *data* is unusable is a recorded failure
(or, for an email, treated as absent), never an unrecorded crash.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from subsvc import simulate as sim
from tests.builders import (
    INTERNAL_URL,
    LEAKS,
    PUBLIC_URL,
    answer,
    checkout,
    deep_json,
    inbox,
    inbox_row,
    internal_headers,
    signed_headers,
    snapshot,
    subscription_event,
    users,
)
from tests.conftest import ADMIN_TOKEN, WEBHOOK_SECRET

Json = dict[str, Any]
Post = Callable[[FlaskClient, bytes], TestResponse]
MIB = 1024 * 1024


def post_public(client: FlaskClient, body: bytes, timestamp: int | None = None) -> TestResponse:
    return client.post(PUBLIC_URL, data=body, headers=signed_headers(body, timestamp=timestamp))


def post_internal(client: FlaskClient, body: bytes) -> TestResponse:
    return client.post(INTERNAL_URL, data=body, headers=internal_headers())


ENDPOINTS: dict[str, Post] = {"public": post_public, "internal": post_internal}


@pytest.fixture(params=ENDPOINTS)
def post(request: pytest.FixtureRequest) -> Post:
    return ENDPOINTS[request.param]


def sub_event(n: int = 1, **envelope: Any) -> Json:
    return subscription_event("customer.subscription.created", sim.Customer.make(n)) | envelope


def refused(response: TestResponse, status: int, code: str) -> None:
    assert (response.status_code, response.get_json()) == (status, {"error": code})
    assert not LEAKS.search(response.get_data(as_text=True))


# --- deep nesting ------------------------------------------------------------------------

def test_deeply_nested_json_is_invalid_payload(app: Flask, client: FlaskClient, post: Post) -> None:
    before = snapshot(app)

    for levels in (1_000, 100_000):
        refused(post(client, deep_json(levels)), 400, "invalid_payload")

    assert snapshot(app) == before


def test_nesting_the_parser_allows_is_processed(app: Flask, client: FlaskClient) -> None:
    body = deep_json(100)

    response = post_public(client, body)

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "processed"


# --- signature timestamps and headers ----------------------------------------------------

def test_signature_dated_beyond_the_tolerance_ahead_is_invalid(app: Flask,
                                                                client: FlaskClient) -> None:
    before = snapshot(app)
    body = sim.dumps(sub_event())

    for ahead in (330, 3 * 86_400):  # the tolerance is 300 s
        refused(post_public(client, body, int(time.time()) + ahead), 400, "invalid_signature")
        refused(post_public(client, deep_json(1_000), int(time.time()) + ahead), 400,
                "invalid_signature")

    assert snapshot(app) == before


def test_signature_dated_slightly_ahead_is_accepted(client: FlaskClient) -> None:
    event = sub_event()

    response = post_public(client, sim.dumps(event), int(time.time()) + 240)

    assert (response.status_code, response.get_json()) == (200, answer(event))


# Latin-1, Arabic digits (int() takes them), a snowman, a lone surrogate.
NON_ASCII_HEADERS = ["t=1700000000,v1=\u00e9\u00e9", "t=\u0661\u0662\u0663,v1=abc", "\u2603",
                     "t=1,v1=\udcff"]


def test_non_ascii_signature_header_is_invalid_signature(
        app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    before = snapshot(app)
    body = sim.dumps(sub_event())
    valid = sim.sign(body, WEBHOOK_SECRET)

    for header in NON_ASCII_HEADERS:
        for value in (header, f"{valid},v1={header}", f"{header},{valid}"):
            response = client.post(PUBLIC_URL, data=body, headers={
                "Content-Type": "application/json", "Stripe-Signature": value})
            refused(response, 400, "invalid_signature")

    assert snapshot(app) == before
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_body_that_is_not_utf8_is_refused(app: Flask, client: FlaskClient) -> None:
    before = snapshot(app)
    body = sim.dumps(sub_event()).replace(b'"active"', b'"\xff\xfe"')

    refused(post_public(client, body), 400, "invalid_signature")
    refused(post_internal(client, body), 400, "invalid_payload")

    assert snapshot(app) == before


# --- envelope values that do not fit the inbox row ---------------------------------------

NUL = "\u0000"
ENVELOPES: dict[str, Json] = {
    "created-1e30": {"created": 10**30},
    "created-2^63": {"created": 2**63},
    "created-past-year-9999": {"created": 253_402_300_800},
    "created-negative": {"created": -1},
    "created-float": {"created": 1.7e9},
    "created-bool": {"created": True},
    "id-256": {"id": "evt_" + "x" * 252},
    "id-too-long-for-the-ordering-key": {"id": "evt_" + "x" * 109},
    "id-nul": {"id": f"evt_1{NUL}"},
    "id-empty-suffix": {"id": "evt_"},
    "type-129": {"type": "customer.subscription." + "x" * 107},
    "type-nul": {"type": f"customer.subscription.created{NUL}"},
    "api-version-65": {"api_version": "2025-03-31." + "x" * 54},
    "api-version-nul": {"api_version": f"2025-03-31{NUL}"},
    "api-version-number": {"api_version": 20250331},
    "livemode-string": {"livemode": "false"},
}


def test_envelope_that_cannot_be_stored_is_invalid_payload(
        app: Flask, client: FlaskClient, post: Post) -> None:
    before = snapshot(app)
    for case, envelope in ENVELOPES.items():
        response = post(client, sim.dumps(sub_event(**envelope)))
        assert response.status_code == 400, case
        refused(response, 400, "invalid_payload")
    assert snapshot(app) == before


def test_longest_storable_envelope_is_processed(app: Flask, client: FlaskClient,
                                                post: Post) -> None:
    event = sub_event(id="evt_" + "x" * 108, created=253_402_300_799,
                      api_version="2025-03-31." + "x" * 53)

    response = post(client, sim.dumps(event))

    assert (response.status_code, response.get_json()) == (200, answer(event))
    assert inbox_row(app, event["id"]).stripe_created == 253_402_300_799


def test_raw_nul_byte_is_invalid_payload(app: Flask, client: FlaskClient, post: Post) -> None:
    before = snapshot(app)
    body = sim.dumps(sub_event()).replace(b'"active"', b'"act\x00ive"')

    refused(post(client, body), 400, "invalid_payload")
    refused(post(client, body.replace(b"{", b"{\x00", 1)), 400, "invalid_payload")

    assert snapshot(app) == before


# --- data values: an unusable email is absent, an unusable id is a recorded failure ------

UNUSABLE_EMAILS = ["a" * 309 + "@example.com", f"ada{NUL}@example.com", "ada\udcff@example.com",
                   "ada\n@example.com", 42]


def test_unusable_email_is_treated_as_absent(app: Flask, client: FlaskClient, post: Post) -> None:
    for n, email in enumerate(UNUSABLE_EMAILS):
        c = sim.Customer.make(f"e{n}")
        event = checkout(c, email=email)
        event["data"]["object"]["customer_email"] = email

        response = post(client, sim.dumps(event))

        assert (response.status_code, response.get_json()) == (200, answer(event)), email
        user = next(u for u in users(app) if u.stripe_customer_id == c.customer)
        assert user.email is None


def _long_customer(event: Json) -> None:
    event["data"]["object"]["customer"] = "cus_" + "x" * 252


def _nul_customer(event: Json) -> None:
    event["data"]["object"]["customer"] = f"cus_1{NUL}"


def _long_subscription(event: Json) -> None:
    event["data"]["object"]["id"] = "sub_" + "x" * 252


def _nul_subscription(event: Json) -> None:
    event["data"]["object"]["id"] = f"sub_{NUL}"


def _long_status(event: Json) -> None:
    event["data"]["object"]["status"] = "active" + "x" * 27


def _expanded_long_customer(event: Json) -> None:
    event["data"]["object"]["customer"] = {"id": "cus_" + "x" * 252, "object": "customer"}


def _long_price(event: Json) -> None:
    # Matched by its metadata, so its id would be stored (accounts/tiers.py).
    event["data"]["object"]["items"]["data"][0]["price"].update(
        id="price_" + "x" * 250, metadata={"tier": "pro"})


UNUSABLE_DATA: dict[str, tuple[Callable[[Json], None], str]] = {
    "customer-256": (_long_customer, "data.object.customer"),
    "customer-nul": (_nul_customer, "data.object.customer"),
    "expanded-customer-256": (_expanded_long_customer, "data.object.customer"),
    "subscription-id-256": (_long_subscription, "data.object.id"),
    "subscription-id-nul": (_nul_subscription, "data.object.id"),
    "status-33": (_long_status, "data.object.status"),
    "price-id-256": (_long_price, "data.object.items.data[0].price.id"),
}


def test_unusable_id_in_a_verified_event_is_a_recorded_failure(
        app: Flask, client: FlaskClient, post: Post) -> None:
    for case, (spoil, field) in UNUSABLE_DATA.items():
        event = sub_event(30)
        spoil(event)

        response = post(client, sim.dumps(event))

        assert (response.status_code, response.get_json()) == (
            500, {"error": "processing_failed", "event_id": event["id"]}), case
        row = inbox_row(app, event["id"])
        assert row.status == "failed" and field in (row.last_error or ""), (case, row.last_error)
        assert not LEAKS.search(row.last_error or "")
    assert not any(snapshot(app, skip=("inbox_events", "tiers")).values())


def test_unusable_client_reference_id_in_a_checkout_is_a_recorded_failure(
        app: Flask, client: FlaskClient) -> None:
    event = checkout(sim.Customer.make(31), client_reference_id="user_" + "x" * 251)

    response = post_public(client, sim.dumps(event))

    assert response.status_code == 500
    assert "data.object.client_reference_id" in (inbox_row(app, event["id"]).last_error or "")
    assert not any(snapshot(app, skip=("inbox_events", "tiers")).values())


def test_unusable_id_in_an_ignored_event_is_stored_as_ignored(
        app: Flask, client: FlaskClient) -> None:
    event = sim.event("customer.deleted", {"id": "cus_" + "x" * 300, "object": "customer",
                                           "email": f"{NUL}"})

    response = post_public(client, sim.dumps(event))

    assert (response.status_code, response.get_json()) == (200, answer(event, "ignored"))
    assert [row.status for row in inbox(app)] == ["ignored"]


# --- admin look-up by email ---------------------------------------------------------------

LOOKUP_EMAILS = {"nul": f"ada{NUL}@example.com", "321-chars": "a" * 309 + "@example.com"}


def test_admin_lookup_of_an_impossible_email_is_not_found(client: FlaskClient) -> None:
    for email in LOOKUP_EMAILS.values():
        api = client.get("/status/api/users", query_string={"email": email},
                         headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        page = client.get("/status/users", query_string={"email": email},
                          auth=("operator", ADMIN_TOKEN))

        assert (api.status_code, api.get_json()) == (404, {"error": "not_found"})
        assert page.status_code == 404
        assert not LEAKS.search(page.get_data(as_text=True))
