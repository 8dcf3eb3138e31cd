"""Payload shapes across API versions (issue 8): legacy plans, pause, mixed intervals, Accounts v2,
partial payments, and what the status JSON says of them.

Each test names the point of the issue it pins; each failed before that point was fixed.
"""
from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from subsvc import simulate as sim
from subsvc.events import parse_event
from subsvc.extensions import db
from subsvc.models import Tier
from tests.builders import (
    APIS,
    P1,
    P2,
    PRO,
    START,
    UNMAPPED,
    at,
    checkout,
    deliver,
    deliver_ok,
    inbox_row,
    invoice_event,
    iso,
    status_of,
    subscription_event,
    subscription_row,
    users,
)
from tests.lifecycles import lifecycle_paused

Json = dict[str, Any]
YEAR = sim.add_interval(START, "year")


def failed(client: FlaskClient, event: Json) -> None:
    response = deliver(client, event)
    assert (response.status_code, response.get_json()) == (
        500, {"error": "processing_failed", "event_id": event["id"]})


def without_price(event: Json) -> Json:
    """A subscription payload naming no price at all: no items, no plan."""
    obj = event["data"]["object"]
    for key in ("items", "plan", "quantity"):
        obj.pop(key, None)
    return event


# --- 1. legacy `plan` on the subscription ----------------------------------------------------

def test_legacy_plan_without_items_is_the_price(app: Flask, client: FlaskClient) -> None:
    c = sim.Customer.make(1)
    event = subscription_event("customer.subscription.created", c, api=sim.API_LEGACY)
    assert "items" not in event["data"]["object"] and event["data"]["object"]["plan"]["id"] == PRO

    deliver_ok(client, event)

    sub = subscription_row(app, c.subscription)
    assert (sub.status, sub.price_id, sub.tier, sub.current_period_end) == (
        "active", PRO, "pro", at(P1))


def test_an_unmapped_legacy_plan_fails_loudly(app: Flask, client: FlaskClient) -> None:
    c = sim.Customer.make(2)
    event = subscription_event("customer.subscription.created", c, api=sim.API_LEGACY,
                               price_id=UNMAPPED)

    failed(client, event)

    row = inbox_row(app, event["id"])
    assert row.status == "failed" and UNMAPPED in (row.last_error or "")


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("stale", [False, True], ids=["newest", "stale"])
def test_a_subscription_event_naming_no_price_fails_loudly_even_when_stale(
        app: Flask, client: FlaskClient, api: str, stale: bool) -> None:
    c = sim.Customer.make(3)
    if stale:  # a newer event already decided the details: failing must not depend on arrival
        deliver_ok(client, subscription_event("customer.subscription.updated", c, api=api,
                                              at=START + 60))
    event = without_price(subscription_event("customer.subscription.created", c, api=api))

    failed(client, event)

    row = inbox_row(app, event["id"])
    assert row.status == "failed" and "names no price" in (row.last_error or "")


@pytest.mark.parametrize("api", APIS)
def test_deleted_payloads_carry_their_price_and_are_processed(
        app: Flask, client: FlaskClient, api: str) -> None:
    c = sim.Customer.make(4)
    deliver_ok(client, subscription_event("customer.subscription.created", c, api=api))

    deliver_ok(client, subscription_event("customer.subscription.deleted", c, api=api,
                                          at=START + 60, status="canceled"))

    sub = subscription_row(app, c.subscription)
    assert (sub.status, sub.price_id, sub.tier) == ("canceled", PRO, "pro")


# --- 3. entitled means "on a paid tier" -------------------------------------------------------

def test_entitled_agrees_with_tier_while_the_tier_is_unknown(
        app: Flask, client: FlaskClient) -> None:
    c = sim.Customer.make(5)
    deliver_ok(client, checkout(c, tier=None))  # active, but no metadata.tier: tier not known yet

    status = status_of(client, c.email)
    assert (status["tier"], status["entitled"], status["subscription"]["status"]) == (
        "free", False, "active")

    deliver_ok(client, subscription_event("customer.subscription.created", c, at=START + 5))
    assert (status_of(client, c.email)["tier"], status_of(client, c.email)["entitled"]) == (
        "pro", True)


# --- 4. paused --------------------------------------------------------------------------------

PAUSED_STEPS = [  # after each event of lifecycle_paused(resume=True): (status, tier, entitled)
    ("checkout.session.completed", "active", "pro", True),
    ("customer.subscription.created", "active", "pro", True),
    ("invoice.paid", "active", "pro", True),
    ("invoice.payment_failed", "past_due", "pro", True),
    ("customer.subscription.updated", "past_due", "pro", True),
    ("customer.subscription.updated", "paused", "free", False),
    ("customer.subscription.paused", "paused", "free", False),
    # The customer pays the invoice that failed: no subscription event, so still paused.
    ("invoice.paid", "paused", "free", False),
    ("customer.subscription.resumed", "active", "pro", True),
    ("customer.subscription.updated", "active", "pro", True),
]


@pytest.mark.parametrize("api", [sim.API_OLD, sim.API_NEW, sim.API_ENDIVE])
def test_a_paid_invoice_does_not_resume_a_paused_subscription(
        app: Flask, client: FlaskClient, api: str) -> None:
    c = sim.Customer.make(6)
    events, expected = lifecycle_paused(c, pro_price=PRO, start=START, api_version=api, resume=True)
    assert [e["type"] for e in events] == [step[0] for step in PAUSED_STEPS]

    for event, (type_, status, tier, entitled) in zip(events, PAUSED_STEPS, strict=True):
        deliver_ok(client, event)
        body = status_of(client, c.email)
        assert (body["subscription"]["status"], body["tier"], body["entitled"]) == (
            status, tier, entitled), type_
    assert subscription_row(app, c.subscription).current_period_end == at(
        expected["current_period_end"])


@pytest.mark.parametrize("invoice_first", [True, False], ids=["invoice-first", "pause-first"])
def test_paused_converges_whichever_arrives_first(app: Flask, client: FlaskClient,
                                                 invoice_first: bool) -> None:
    c = sim.Customer.make(7)
    events, _ = lifecycle_paused(c, pro_price=PRO, start=START, api_version=sim.API_ENDIVE)
    *before, updated, paused, paid = events
    for event in before:
        deliver_ok(client, event)

    for event in ([paid, updated, paused] if invoice_first else [updated, paused, paid]):
        deliver_ok(client, event)

    body = status_of(client, c.email)
    assert (body["subscription"]["status"], body["tier"], body["entitled"]) == (
        "paused", "free", False)


@pytest.mark.parametrize("type_", ["invoice.payment_failed", "invoice.paid"])
def test_an_invoice_newer_than_the_pause_leaves_it_paused(app: Flask, client: FlaskClient,
                                                         type_: str) -> None:
    c = sim.Customer.make(17)
    deliver_ok(client, subscription_event("customer.subscription.created", c))
    deliver_ok(client, subscription_event("customer.subscription.paused", c, at=START + 10,
                                          status="paused"))

    deliver_ok(client, invoice_event(type_, c, at=START + 20, billing_reason="subscription_cycle"))

    assert subscription_row(app, c.subscription).status == "paused"


def test_resume_older_than_an_invoice_lets_the_invoice_speak(
        app: Flask, client: FlaskClient) -> None:
    """Pause, resume, then a failed invoice: past_due, in either arrival order of resume and
    invoice."""
    c = sim.Customer.make(8)
    deliver_ok(client, subscription_event("customer.subscription.created", c))
    pause = subscription_event("customer.subscription.paused", c, at=START + 10, status="paused")
    resume = subscription_event("customer.subscription.resumed", c, at=START + 20)
    fail = invoice_event("invoice.payment_failed", c, at=START + 30,
                         billing_reason="subscription_cycle")
    for event in (pause, fail, resume):
        deliver_ok(client, event)

    assert subscription_row(app, c.subscription).status == "past_due"


# --- 5. mixed intervals -----------------------------------------------------------------------

@pytest.mark.parametrize("api", [sim.API_NEW, sim.API_ENDIVE])
def test_mixed_interval_subscription_ends_its_period_at_the_earliest_item(
        app: Flask, client: FlaskClient, api: str) -> None:
    c = sim.Customer.make(9)
    yearly = sim.price(lookup_key="support_yearly", interval="year", unit_amount=9900)
    created = subscription_event("customer.subscription.created", c, api=api,
                                 extra_prices=[yearly], extra_periods=[(START, YEAR)])
    renewed = subscription_event("customer.subscription.updated", c, api=api, at=P1 + 1,
                                 period=(P1, P2), extra_prices=[yearly],
                                 extra_periods=[(START, YEAR)])

    deliver_ok(client, renewed)  # newest first: the older event must not move the period back
    deliver_ok(client, created)

    sub = subscription_row(app, c.subscription)
    assert (sub.price_id, sub.tier, sub.current_period_end) == (PRO, "pro", at(P2))


@pytest.mark.parametrize("api", APIS)
def test_an_invoice_billing_items_of_mixed_intervals_ends_at_the_earliest_line(
        app: Flask, client: FlaskClient, api: str) -> None:
    c = sim.Customer.make(10)
    yearly = {"price_id": "price_1SupportYearly0000000", "amount": 9900, "start": START,
              "end": YEAR}

    deliver_ok(client, invoice_event("invoice.paid", c, api=api, extra_lines=[yearly]))

    assert subscription_row(app, c.subscription).current_period_end == at(P1)


# --- 6. Accounts v2 customers -----------------------------------------------------------------

@pytest.mark.parametrize("api", APIS)
def test_an_accounts_v2_customer_is_one_user_and_one_lock_subject(
        app: Flask, client: FlaskClient, api: str) -> None:
    c = sim.Customer.make(11, accounts_v2=True)
    events = [  # the subscription event first: it must not make a second, email-less user
        subscription_event("customer.subscription.created", c, api=api),
        checkout(c, api=api, at=START + 1),
        invoice_event("invoice.paid", c, api=api, at=START + 2),
    ]
    assert all(e["data"]["object"]["customer_account"] == c.customer for e in events)
    assert {parse_event(sim.dumps(e)).lock_subject for e in events} == {c.customer}

    for event in events:
        deliver_ok(client, event)

    [user] = users(app)
    assert (user.stripe_customer_id, user.email) == (c.customer, c.email)
    assert subscription_row(app, c.subscription).stripe_customer_id == c.customer
    assert status_of(client, c.email)["tier"] == "pro"


def test_customer_account_is_the_identity_when_both_are_named() -> None:
    obj = sim.subscription(customer="acct_1MoRdlLgUG5tbmjc", price_id=PRO, period_start=START,
                           period_end=P1, api_version=sim.API_ENDIVE)
    mirrored = obj | {"customer": "cus_NffrFeUfNV2Hib"}
    event = parse_event(sim.dumps(sim.event("customer.subscription.updated", mirrored)))
    assert event.customer_id == "acct_1MoRdlLgUG5tbmjc"
    v1 = parse_event(sim.dumps(sim.event("x", obj | {"customer": "cus_1",
                                                     "customer_account": None})))
    assert v1.customer_id == "cus_1"


# --- 7. partial payments ----------------------------------------------------------------------

@pytest.mark.parametrize("type_", ["invoice.payment_succeeded", "invoice.paid"])
def test_a_partly_paid_invoice_is_not_a_paid_one(
        app: Flask, client: FlaskClient, type_: str) -> None:
    c = sim.Customer.make(12)
    deliver_ok(client, subscription_event("customer.subscription.created", c, status="past_due"))
    partial = invoice_event(type_, c, at=START + 10, paid=False, amount_paid=500,
                            billing_reason="subscription_cycle", period=(P1, P2))
    obj = partial["data"]["object"]
    assert (obj["status"], obj["amount_paid"], obj["amount_remaining"]) == ("open", 500, 1400)

    deliver_ok(client, partial)

    sub = subscription_row(app, c.subscription)
    assert (sub.status, sub.current_period_end) == ("past_due", at(P1))


@pytest.mark.parametrize(("paid", "status"), [(True, "active"), (False, "past_due")])
def test_an_invoice_without_status_is_read_by_its_paid_flag(
        app: Flask, client: FlaskClient, paid: bool, status: str) -> None:
    c = sim.Customer.make(13)
    deliver_ok(client, subscription_event("customer.subscription.created", c, api=sim.API_LEGACY,
                                          status="past_due"))
    event = invoice_event("invoice.payment_succeeded", c, api=sim.API_LEGACY, at=START + 10,
                          paid=paid, amount_paid=1900 if paid else 700,
                          billing_reason="subscription_cycle")
    obj = event["data"]["object"]
    assert "status" not in obj and obj["paid"] is paid

    deliver_ok(client, event)

    assert subscription_row(app, c.subscription).status == status


@pytest.mark.parametrize("api", APIS)
def test_a_paid_zero_invoice_says_nothing_of_status_but_its_period_stands(
        app: Flask, client: FlaskClient, api: str) -> None:
    c = sim.Customer.make(14)
    deliver_ok(client, subscription_event("customer.subscription.created", c, api=api,
                                          status="trialing"))

    deliver_ok(client, invoice_event("invoice.paid", c, api=api, at=START + 10, amount=0,
                                     period=(P1, P2)))

    sub = subscription_row(app, c.subscription)
    assert (sub.status, sub.current_period_end) == ("trialing", at(P2))


# --- 9. status JSON: cancel_at and limits -----------------------------------------------------

@pytest.mark.parametrize("api", APIS)
def test_status_json_shows_a_portal_cancel_and_the_tier_limits(
        app: Flask, client: FlaskClient, api: str) -> None:
    c = sim.Customer.make(15)
    deliver_ok(client, checkout(c, api=api))
    deliver_ok(client, subscription_event("customer.subscription.updated", c, api=api, at=START + 5,
                                          cancel_at=P1, canceled_at=START + 5))

    body = status_of(client, c.email)
    assert body["subscription"]["cancel_at_period_end"] is False
    assert body["subscription"]["cancel_at"] == iso(P1)
    assert body["limits"] == {"widgets": 10}

    with app.app_context():  # a changed tier table reaches the user at once
        tier = db.session.query(Tier).filter_by(name="pro").one()
        tier.limits = {"widgets": 25, "seats": 3}
        db.session.commit()
    assert status_of(client, c.email)["limits"] == {"widgets": 25, "seats": 3}


def test_a_free_user_gets_the_free_limits(client: FlaskClient) -> None:
    c = sim.Customer.make(16)
    deliver_ok(client, subscription_event("customer.subscription.created", c, status="incomplete"))
    deliver_ok(client, checkout(c, at=START + 1, payment_status="unpaid"))

    body = status_of(client, c.email)
    assert (body["tier"], body["entitled"], body["limits"]) == ("free", False, {"widgets": 1})
