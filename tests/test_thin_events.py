from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from subsvc import simulate as sim
from subsvc.stripe_api import API_VERSION
from tests.builders import (
    PRO,
    UNMAPPED,
    at,
    deliver,
    deliver_ok,
    inbox,
    inbox_row,
    subscription_event,
    subscription_row,
    subscriptions,
    users,
)
from tests.conftest import now
from tests.server import free_port
from tests.stripe_api import FakeStripe, stripe_settings

Json = dict[str, Any]


@pytest.fixture
def config_overrides(stripe: FakeStripe) -> dict[str, Any]:  # stripe: tests/conftest.py
    return stripe_settings(stripe)


def stripe_subscription(c: sim.Customer, *, status: str = "active", price_id: str = PRO,
                        period_end: int | None = None, **fields: Any) -> Json:
    start = now() - 10 * sim.DAY
    return sim.subscription(customer=c.customer, sub_id=c.subscription, price_id=price_id,
                            status=status, period_start=start,
                            period_end=period_end or sim.add_interval(start), **fields)


def thin(c: sim.Customer, type_: str = "customer.subscription.updated", **kw: Any) -> Json:
    return sim.thin_event(type_, c.subscription, "subscription", **kw)


def test_a_thin_event_is_applied_with_its_fetched_object(app: Flask, client: FlaskClient,
                                                          stripe: FakeStripe) -> None:
    c = sim.Customer.make("thin1")
    stripe.put(stripe_subscription(c))
    event = thin(c, "customer.subscription.created")
    deliver_ok(client, event, "processed")
    sub = subscription_row(app, c.subscription)
    assert (sub.status, sub.price_id, sub.tier, sub.stripe_customer_id) == (
        "active", PRO, "pro", c.customer)
    row = inbox_row(app, event["id"])
    assert (row.status, row.type, row.attempts) == ("processed", event["type"], 1)
    fetches = stripe.requests_to(f"/v1/subscriptions/{c.subscription}")
    assert [(s.authorized, s.stripe_version) for s in fetches] == [(True, API_VERSION)]


def test_redelivery_of_a_processed_thin_event_is_a_duplicate_and_fetches_nothing(
        client: FlaskClient, stripe: FakeStripe) -> None:
    c = sim.Customer.make("thin2")
    stripe.put(stripe_subscription(c))
    event = thin(c)
    deliver_ok(client, event, "processed")
    deliver_ok(client, event, "duplicate")
    assert len(stripe.requests_to("/v1/subscriptions/")) == 1


@pytest.mark.parametrize("config_overrides", [{"STRIPE_SECRET_KEY": None}], indirect=True)
def test_without_a_secret_key_it_is_stored_pending_and_redelivery_answers_pending(
        app: Flask, client: FlaskClient) -> None:
    c = sim.Customer.make("thin3")
    event = thin(c)
    deliver_ok(client, event, "pending")
    deliver_ok(client, event, "pending")
    row = inbox_row(app, event["id"])
    assert (row.status, row.attempts, json.loads(row.payload)) == ("pending", 0, event)
    assert subscriptions(app) == [] and users(app) == []
    listed = app.test_cli_runner().invoke(args=["events", "list", "--status", "pending", "--json"])
    assert [e["event_id"] for e in json.loads(listed.output)] == [event["id"]]


def test_unreachable_stripe_keeps_it_pending(app: Flask, client: FlaskClient) -> None:
    app.config["STRIPE_API_BASE"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    event = thin(sim.Customer.make("thin4"))
    deliver_ok(client, event, "pending")
    assert inbox_row(app, event["id"]).status == "pending"


@pytest.mark.parametrize("key", ["sk_test_wrong_key_0123456789abcdefghij", None])
def test_an_object_stripe_will_not_give_keeps_it_pending(app: Flask, client: FlaskClient,
                                                         stripe: FakeStripe,
                                                         key: str | None) -> None:
    c = sim.Customer.make("thin5")
    if key:  # refused: 401
        app.config["STRIPE_SECRET_KEY"] = key
        stripe.put(stripe_subscription(c))
    event = thin(c)  # else: no such subscription, 404
    deliver_ok(client, event, "pending")
    assert inbox_row(app, event["id"]).status == "pending"


def test_the_fetched_state_loses_to_a_newer_event_and_beats_older_ones(
        app: Flask, client: FlaskClient, stripe: FakeStripe) -> None:
    c = sim.Customer.make("thin6")
    stripe.put(stripe_subscription(c, status="active"))
    newer = subscription_event("customer.subscription.updated", c, at=now() + 60,
                               status="past_due")
    older = subscription_event("customer.subscription.updated", c, at=now() - 60,
                               status="incomplete")
    deliver_ok(client, newer)
    deliver_ok(client, thin(c))
    assert subscription_row(app, c.subscription).status == "past_due"
    other = sim.Customer.make("thin7")
    stripe.put(stripe_subscription(other, status="active"))
    deliver_ok(client, thin(other))
    deliver_ok(client, subscription_event("customer.subscription.updated", other,
                                          at=now() - 60, status="incomplete"))
    assert subscription_row(app, other.subscription).status == "active"
    assert older  # (the same older event for the first customer changes nothing either)
    deliver_ok(client, older)
    assert subscription_row(app, c.subscription).status == "past_due"


def test_a_thin_invoice_event_keeps_its_own_created(app: Flask, client: FlaskClient,
                                                    stripe: FakeStripe) -> None:
    c = sim.Customer.make("thin8")
    start = now() - 10 * sim.DAY
    invoice = sim.invoice(customer=c.customer, subscription=c.subscription, price_id=PRO,
                          period_start=start, period_end=sim.add_interval(start),
                          customer_email=c.email, billing_reason="subscription_cycle",
                          created=start, paid=False)
    stripe.put(invoice)
    failed = sim.thin_event("invoice.payment_failed", invoice["id"], "invoice", created=start)
    deliver_ok(client, failed)
    later = subscription_event("customer.subscription.updated", c, at=start + 60)
    deliver_ok(client, later)
    # The failure happened at `start`, before the active subscription event.
    assert subscription_row(app, c.subscription).status == "active"


def test_a_fetched_price_that_maps_to_no_tier_fails_loudly_and_heals_on_redelivery(
        app: Flask, client: FlaskClient, stripe: FakeStripe) -> None:
    c = sim.Customer.make("thin9")
    stripe.put(stripe_subscription(c, price_id=UNMAPPED))
    event = thin(c)
    response = deliver(client, event)
    assert (response.status_code, response.get_json()) == (
        500, {"error": "processing_failed", "event_id": event["id"]})
    row = inbox_row(app, event["id"])
    assert row.status == "failed" and UNMAPPED in (row.last_error or "")
    stripe.put(stripe_subscription(c, price_id=PRO))
    deliver_ok(client, event, "processed")
    assert subscription_row(app, c.subscription).tier == "pro"


def test_a_thin_event_of_an_unhandled_type_is_ignored_without_a_fetch(
        app: Flask, client: FlaskClient, stripe: FakeStripe) -> None:
    event = sim.thin_event("customer.discount.created", "di_1", "discount")
    deliver_ok(client, event, "ignored")
    deliver_ok(client, event, "duplicate")
    assert inbox_row(app, event["id"]).status == "ignored" and stripe.seen == []


@pytest.mark.parametrize("change", [
    {"created": "yesterday"}, {"created": 1767268800}, {"id": "ev_1"},
    {"related_object": {"id": 5, "type": "subscription"}}, {"type": ""},
])
def test_a_malformed_thin_event_is_refused_and_changes_nothing(
        app: Flask, client: FlaskClient, change: Json) -> None:
    event = thin(sim.Customer.make("thin10")) | change
    response = deliver(client, event)
    assert (response.status_code, response.get_json()) == (400, {"error": "invalid_payload"})
    assert inbox(app) == []


def test_a_thin_event_replayed_from_the_cli_fetches_again(app: Flask, client: FlaskClient,
                                                          stripe: FakeStripe) -> None:
    c = sim.Customer.make("thin11")
    stripe.put(stripe_subscription(c))
    event = thin(c)
    deliver_ok(client, event)
    stripe.put(stripe_subscription(c, status="canceled", canceled_at=now()))
    result = app.test_cli_runner().invoke(args=["events", "replay", event["id"]])
    assert result.exit_code == 0, result.output
    sub = subscription_row(app, c.subscription)
    assert sub.status == "canceled"
    assert sub.current_period_end is not None and sub.current_period_end > at(now())
