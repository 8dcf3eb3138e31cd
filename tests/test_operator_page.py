"""The operator page says why a user is on their tier: every subscription, the events about them.

The events are found through the inbox's stripe_customer_id / stripe_subscription_id columns,
so these tests also pin down what the inbox writes there for each kind of event.
"""
from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from subsvc import simulate as sim
from tests.builders import (
    BUSINESS,
    P1,
    P2,
    START,
    UNMAPPED,
    another_subscription,
    at,
    basic,
    checkout,
    deliver,
    deliver_ok,
    inbox_row,
    invoice_event,
    subscription_event,
)
from tests.conftest import ADMIN_TOKEN
from tests.pages import assert_page, facts, text_of


def shown(epoch: int) -> str:
    """A time as the pages show it."""
    return at(epoch).strftime("%Y-%m-%d %H:%M UTC")


def operator_page(client: FlaskClient, email: str) -> str:
    response = client.get("/status/users", query_string={"email": email},
                          headers=basic("ops", ADMIN_TOKEN))
    return assert_page(response, 200)


def cards(body: str) -> list[str]:
    """The subscription cards' titles, in page order."""
    return [" ".join(re.sub(r"<[^>]+>", " ", title).split())
            for title in re.findall(r'<p class="card-title">(.*?)</p>', body, re.S)]


def event_rows(body: str) -> list[list[str]]:
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body.split('<tbody>', 1)[1], re.S)
    return [[" ".join(re.sub(r"<[^>]+>", " ", cell).split())
             for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in rows]


def history(client: FlaskClient) -> tuple[sim.Customer, sim.Customer, dict[str, str]]:
    """Pro, cancelled; then business, active; then a change to an unmapped price that fails."""
    first = sim.Customer.make("ops1")
    second = another_subscription(first)
    ids = {}
    for name, event in [
        ("checkout", checkout(first, at=START)),
        ("created", subscription_event("customer.subscription.created", first, at=START + 1)),
        ("deleted", subscription_event("customer.subscription.deleted", first, at=START + 50,
                                       status="canceled")),
        ("second", subscription_event("customer.subscription.created", second, at=START + 60,
                                      price_id=BUSINESS)),
        ("paid", invoice_event("invoice.paid", second, at=START + 61, price_id=BUSINESS)),
    ]:
        deliver_ok(client, event)
        ids[name] = event["id"]
    broken = subscription_event("customer.subscription.updated", second, at=START + 70,
                                price_id=UNMAPPED)
    assert deliver(client, broken).status_code == 500
    ids["broken"] = broken["id"]
    return first, second, ids


def test_the_page_explains_the_tier_with_every_subscription_and_event(client: FlaskClient) -> None:
    first, second, ids = history(client)
    stranger = sim.Customer.make("ops2")
    deliver_ok(client, checkout(stranger, at=START + 80))

    body = operator_page(client, first.email)

    assert text_of(body, "reason") == (f"On business because subscription {second.subscription} "
                                       f"is active on price {BUSINESS}.")
    user = facts(body, "user")
    assert (user["Tier"], user["Widgets"], user["Widget configurations"]) == (
        "business paid", "100", "1 of 100")
    assert user["Stripe customer"] == first.customer and user["External id"] == first.external_id
    assert cards(body) == [f"{second.subscription} active decides the tier",
                           f"{first.subscription} canceled"]
    rows = event_rows(body)
    assert [row[1].split()[0] for row in rows] == [
        "customer.subscription.updated", "invoice.paid", "customer.subscription.created",
        "customer.subscription.deleted", "customer.subscription.created",
        "checkout.session.completed"]
    assert [row[1].split()[1] for row in rows] == [ids[n] for n in (
        "broken", "paid", "second", "deleted", "created", "checkout")]
    assert rows[0][2] == "failed" and f"price {UNMAPPED} maps to no tier" in rows[0][3]
    assert {row[2] for row in rows[1:]} == {"processed"} and {row[3] for row in rows[1:]} == {"—"}
    assert stranger.customer not in body and stranger.subscription not in body


def test_each_card_shows_status_tier_price_period_and_cancel_flags(client: FlaskClient) -> None:
    c = sim.Customer.make("ops3")
    cancel_at = START + 10 * 86400
    deliver_ok(client, checkout(c))
    deliver_ok(client, subscription_event("customer.subscription.created", c, at=START + 1,
                                          cancel_at=cancel_at))
    body = operator_page(client, c.email)
    card = facts(body, "subscriptions")
    assert card["Tier"] == "pro" and card["Price"] == "price_pro_monthly"
    assert card["Period ends"] == shown(P1) and card["Cancels"] == f"on {shown(cancel_at)}"
    assert "Set to cancel on" in text_of(body, "cancel-notice")


def test_a_user_without_subscriptions_is_free_for_that_reason(client: FlaskClient,
                                                               runner: Any) -> None:
    assert runner.invoke(args=["users", "create", "lone@example.com"]).exit_code == 0
    body = operator_page(client, "lone@example.com")
    assert text_of(body, "reason") == "On free: this user has no subscription."
    assert "No events about this user" in body
    assert facts(body, "user")["Widget configurations"] == "0 of 1"


# --- what the inbox writes about each event ------------------------------------------------


def subjects(app: Flask, event_id: str) -> tuple[str | None, str | None]:
    row = inbox_row(app, event_id)
    return row.stripe_customer_id, row.stripe_subscription_id


@pytest.mark.parametrize("api", [sim.API_OLD, sim.API_NEW])
def test_the_inbox_records_whom_each_event_is_about(app: Flask, client: FlaskClient,
                                                     api: str) -> None:
    c = sim.Customer.make("subj")
    events = [checkout(c, api=api),
              subscription_event("customer.subscription.created", c, api=api, at=START + 1),
              invoice_event("invoice.paid", c, api=api, at=START + 2),
              invoice_event("invoice.payment_failed", c, api=api, at=P1, period=(P1, P2),
                            billing_reason="subscription_cycle")]
    for event in events:
        deliver_ok(client, event)
    for event in events:
        assert subjects(app, event["id"]) == (c.customer, c.subscription), event["type"]


def test_customer_events_and_ignored_events_are_recorded_by_their_customer(
        app: Flask, client: FlaskClient) -> None:
    customer = {"id": "cus_Subj1", "object": "customer", "email": "subj1@example.com"}
    created = sim.event("customer.created", customer)
    charge = sim.event("charge.succeeded", {"id": "ch_1", "object": "charge",
                                            "customer": {"id": "cus_Subj1", "object": "customer"}})
    assert deliver(client, created).status_code == 200  # linking only (CONTRACT section 5)
    deliver_ok(client, charge, "ignored")
    assert subjects(app, created["id"]) == ("cus_Subj1", None)
    assert subjects(app, charge["id"]) == ("cus_Subj1", None)


def test_an_id_too_long_for_the_column_is_left_out_not_refused(app: Flask,
                                                               client: FlaskClient) -> None:
    charge = sim.event("charge.succeeded", {"id": "ch_2", "object": "charge",
                                            "customer": "cus_" + "x" * 300})
    deliver_ok(client, charge, "ignored")
    assert subjects(app, charge["id"]) == (None, None)


def test_a_failed_event_keeps_its_subjects(app: Flask, client: FlaskClient) -> None:
    c = sim.Customer.make("subj2")
    broken = subscription_event("customer.subscription.created", c, price_id=UNMAPPED)
    assert deliver(client, broken).status_code == 500
    assert inbox_row(app, broken["id"]).status == "failed"
    assert subjects(app, broken["id"]) == (c.customer, c.subscription)


def test_a_pending_thin_event_is_recorded_by_its_related_subscription(
        app: Flask, client: FlaskClient) -> None:
    thin = sim.thin_event("customer.subscription.updated", "sub_Thin1", "subscription")
    answer = deliver(client, thin)
    assert answer.get_json()["status"] == "pending"
    assert subjects(app, thin["id"]) == (None, "sub_Thin1")
