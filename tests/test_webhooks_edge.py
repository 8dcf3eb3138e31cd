"""The public endpoint's answer table, the internal endpoint, their log lines, and secrets
kept out."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from subsvc import simulate as sim
from tests.builders import (
    INTERNAL_URL,
    PUBLIC_URL,
    UNMAPPED,
    answer,
    checkout,
    deliver,
    deliver_internal,
    deliver_ok,
    inbox,
    invoice_event,
    signed_headers,
    snapshot,
    subscription_event,
)
from tests.conftest import INTERNAL_SECRET, WEBHOOK_SECRET

Json = dict[str, Any]


def post_signed(client: FlaskClient, body: bytes) -> Any:
    return client.post(PUBLIC_URL, data=body, headers=signed_headers(body))


def one_off_invoice(api: str) -> Json:
    event = invoice_event("invoice.paid", sim.Customer.make(1), api=api)
    invoice = event["data"]["object"]
    invoice.update(subscription=None) if api == sim.API_OLD else invoice.update(parent=None)
    for line in invoice["lines"]["data"]:
        (line.update(subscription=None, type="invoiceitem") if api == sim.API_OLD
         else line.update(parent=None))
    return event


IGNORED: dict[str, Callable[[str], Json]] = {
    "unknown-type": lambda api: sim.event(
        "customer.deleted", {"id": "cus_Sqe1AuyLwHEG2x", "object": "customer"}, api_version=api),
    "customer-without-email": lambda api: sim.event("customer.updated", sim.customer(
        customer="cus_Sqe1AuyLwHEG2y", email=None, api_version=api), api_version=api),
    "payment-mode-checkout": lambda api: checkout(sim.Customer.make(2), api=api, mode="payment",
                                                  subscription=None),
    "setup-mode-checkout": lambda api: checkout(sim.Customer.make(3), api=api, mode="setup",
                                                subscription=None,
                                                payment_status="no_payment_required"),
    "one-off-invoice": one_off_invoice,
}


@pytest.mark.parametrize("api", [sim.API_OLD, sim.API_NEW])
@pytest.mark.parametrize("case", IGNORED)
def test_unhandled_events_are_stored_as_ignored(
        app: Flask, client: FlaskClient, case: str, api: str) -> None:
    event = IGNORED[case](api)

    deliver_ok(client, event, "ignored")
    deliver_ok(client, event, "duplicate")

    [row] = inbox(app)
    assert (row.event_id, row.status) == (event["id"], "ignored")
    assert not any(snapshot(app, skip=("inbox_events", "tiers")).values())


def without(key: str, *path: str) -> bytes:
    event = subscription_event("customer.subscription.created", sim.Customer.make(4))
    target = event
    for step in path:
        target = target[step]
    del target[key]
    return sim.dumps(event)


def with_field(key: str, value: Any) -> bytes:
    event = subscription_event("customer.subscription.created", sim.Customer.make(5))
    return sim.dumps(event | {key: value})


INVALID_PAYLOADS: dict[str, bytes] = {
    "empty": b"",
    "not-json": b"this is not json",
    "json-array": b"[]",
    "json-string": b'"evt_1"',
    "not-an-event": b'{"id": "cus_Sqe1AuyLwHEG2x", "object": "customer"}',
    "no-id": without("id"),
    "no-type": without("type"),
    "no-created": without("created"),
    "no-data-object": without("object", "data"),
    "id-not-a-string": with_field("id", 42),
    "created-not-a-number": with_field("created", "yesterday"),
}


@pytest.mark.parametrize("case", INVALID_PAYLOADS)
def test_signed_body_that_is_not_an_event_is_invalid_payload(app: Flask, client: FlaskClient,
                                                             case: str) -> None:
    before = snapshot(app)

    response = post_signed(client, INVALID_PAYLOADS[case])

    assert (response.status_code, response.get_json()) == (400, {"error": "invalid_payload"})
    assert snapshot(app) == before


def test_body_over_one_mebibyte_is_payload_too_large(app: Flask, client: FlaskClient) -> None:
    event = subscription_event("customer.subscription.created", sim.Customer.make(6),
                               metadata={"padding": "x" * (1024 * 1024)})
    before = snapshot(app)

    response = post_signed(client, sim.dumps(event))

    assert (response.status_code, response.get_json()) == (413, {"error": "payload_too_large"})
    assert snapshot(app) == before


@pytest.mark.parametrize("config_overrides", [{"STRIPE_WEBHOOK_SECRET": []}], indirect=True)
def test_no_webhook_secret_is_not_configured(app: Flask, client: FlaskClient) -> None:
    before = snapshot(app)

    response = deliver(client, subscription_event("customer.subscription.created",
                                                  sim.Customer.make(7)))

    assert (response.status_code, response.get_json()) == (503, {"error": "not_configured"})
    assert snapshot(app) == before


def test_wrong_method_answers_json(client: FlaskClient) -> None:
    response = client.get(PUBLIC_URL)

    assert (response.status_code, response.get_json()) == (405, {"error": "method_not_allowed"})


def test_public_endpoint_logs_forwarding_and_success(client: FlaskClient,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    event = subscription_event("customer.subscription.created", sim.Customer.make(8))

    deliver_ok(client, event)

    assert f"Forwarding event {event['id']} (customer.subscription.created)" in caplog.messages
    assert (f"Successfully processed event {event['id']} (customer.subscription.created)"
            in caplog.messages)


# --- internal endpoint -------------------------------------------------------------

@pytest.mark.parametrize("secret", [
    None, "", "wrong", INTERNAL_SECRET.upper(), INTERNAL_SECRET[:-1], INTERNAL_SECRET + "x",
    WEBHOOK_SECRET,
], ids=["missing", "empty", "wrong", "other-case", "prefix", "longer", "webhook-secret"])
def test_internal_endpoint_without_the_right_secret_is_unauthorized(
        app: Flask, client: FlaskClient, secret: str | None) -> None:
    before = snapshot(app)

    response = deliver_internal(client, subscription_event("customer.subscription.created",
                                                           sim.Customer.make(9)), secret=secret)

    assert (response.status_code, response.get_json()) == (401, {"error": "unauthorized"})
    assert snapshot(app) == before


def test_internal_endpoint_gives_the_same_answers(app: Flask, client: FlaskClient,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    c = sim.Customer.make(10)
    event = subscription_event("customer.subscription.created", c)
    failing = subscription_event("customer.subscription.updated", c, at=event["created"] + 5,
                                 price_id=UNMAPPED)
    ignored = IGNORED["unknown-type"](sim.API_NEW)
    bad = client.post(INTERNAL_URL, data=b"not json",
                      headers={"X-Internal-Secret": INTERNAL_SECRET})

    answers = [deliver_internal(client, e) for e in (event, event, ignored, failing)]

    assert [(r.status_code, r.get_json()) for r in answers] == [
        (200, answer(event)), (200, answer(event, "duplicate")), (200, answer(ignored, "ignored")),
        (500, {"error": "processing_failed", "event_id": failing["id"]}),
    ]
    assert (bad.status_code, bad.get_json()) == (400, {"error": "invalid_payload"})
    assert (f"Successfully processed event {event['id']} (customer.subscription.created)"
            in caplog.messages)
    assert not [m for m in caplog.messages if m.startswith("Forwarding event")]
    assert [row.status for row in inbox(app)] == ["processed", "ignored", "failed"]


@pytest.mark.parametrize("config_overrides", [
    {"INTERNAL_WEBHOOK_SECRET": None},
    {"INTERNAL_WEBHOOK_SECRET": "too-short-31-characters-0123456"},
], indirect=True, ids=["unset", "shorter-than-32"])
@pytest.mark.parametrize("secret", [None, INTERNAL_SECRET, "too-short-31-characters-0123456"],
                         ids=["no-header", "header", "short-header"])
def test_internal_endpoint_without_a_configured_secret_is_not_configured(
        app: Flask, client: FlaskClient, secret: str | None) -> None:
    event = subscription_event("customer.subscription.created", sim.Customer.make(11))

    response = deliver_internal(client, event, secret=secret)

    assert (response.status_code, response.get_json()) == (503, {"error": "not_configured"})
    assert inbox(app) == []
    deliver_ok(client, event)  # in-process delivery needs no internal secret


def test_no_secret_reaches_an_answer_or_the_log(app: Flask, client: FlaskClient,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    c = sim.Customer.make(12)
    good = subscription_event("customer.subscription.created", c)
    failing = subscription_event("customer.subscription.updated", c, at=good["created"] + 5,
                                 price_id=UNMAPPED)
    body, headers = sim.signed_request(good, WEBHOOK_SECRET)
    digest = headers["Stripe-Signature"].partition("v1=")[2]

    responses = [
        client.post(PUBLIC_URL, data=body + b" ", headers=headers),
        client.post(PUBLIC_URL, data=body, headers=signed_headers(body, "whsec_wrong_secret_0000")),
        client.post(PUBLIC_URL, data=body, headers=headers),
        deliver(client, failing),
        deliver_internal(client, failing),
        deliver_internal(client, good, secret=INTERNAL_SECRET[:-1]),
        client.post(INTERNAL_URL, data=b"{", headers={"X-Internal-Secret": INTERNAL_SECRET}),
    ]

    assert [r.status_code for r in responses] == [400, 400, 200, 500, 500, 401, 400]
    assert f"Failed to process event {failing['id']}" in caplog.text
    texts = [r.get_data(as_text=True) for r in responses] + [caplog.text]
    for secret in (WEBHOOK_SECRET, "whsec_wrong_secret_0000", INTERNAL_SECRET,
                   INTERNAL_SECRET[:-1], digest):
        assert not [text for text in texts if secret in text]
    assert not [text for text in texts[:-1] if "Traceback" in text or "SELECT" in text.upper()]
