"""Each handled event type alone, and whole subscription lifecycles, in every shape family."""
from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from subsvc import simulate as sim
from tests.builders import (
    APIS,
    BUSINESS,
    HANDLED_TYPES,
    P1,
    P2,
    PRO,
    START,
    answer,
    at,
    deliver,
    deliver_ok,
    handled_event,
    inbox,
    iso,
    status_of,
    subscription_row,
    users,
)
from tests.lifecycles import lifecycle, lifecycle_full

# type -> (status, tier, price_id, current_period_end) of the subscription row it leaves behind
ALONE: dict[str, tuple[str, str | None, str | None, int | None]] = {
    "checkout.session.completed": ("active", "pro", None, None),
    "customer.subscription.created": ("active", "pro", PRO, P1),
    "customer.subscription.updated": ("active", "pro", PRO, P1),
    "customer.subscription.deleted": ("canceled", "pro", PRO, P1),
    "customer.subscription.paused": ("paused", "pro", PRO, P1),
    "customer.subscription.resumed": ("active", "pro", PRO, P1),
    "invoice.payment_succeeded": ("active", None, None, P1),
    "invoice.paid": ("active", None, None, P1),
    "invoice.payment_failed": ("past_due", None, None, None),
}


def test_every_handled_type_has_an_expected_state() -> None:
    assert sorted(ALONE) == sorted(HANDLED_TYPES)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("type_", HANDLED_TYPES)
def test_each_handled_type_alone_is_processed_and_sets_state(
        app: Flask, client: FlaskClient, type_: str, api: str) -> None:
    # Endive payloads come from an Accounts v2 customer: `customer_account`, `customer` null.
    c = sim.Customer.make(1, accounts_v2=api == sim.API_ENDIVE)
    event = handled_event(type_, c, api)

    response = deliver(client, event)

    assert (response.status_code, response.get_json()) == (200, answer(event))
    sub = subscription_row(app, c.subscription)
    assert (sub.status, sub.tier, sub.price_id) == ALONE[type_][:3]
    assert sub.current_period_end == (at(ALONE[type_][3]) if ALONE[type_][3] else None)
    assert sub.stripe_customer_id == c.customer
    [user] = users(app)
    assert user.stripe_customer_id == c.customer and sub.user_id == user.id
    [row] = inbox(app)
    assert (row.event_id, row.type, row.status, row.attempts, row.api_version) == (
        event["id"], type_, "processed", 1, api)


@pytest.mark.parametrize("api", APIS)
def test_checkout_alone_links_user_by_its_identifiers(app: Flask, client: FlaskClient,
                                                      api: str) -> None:
    c = sim.Customer.make(2)

    deliver_ok(client, handled_event("checkout.session.completed", c, api))

    [user] = users(app)
    assert (user.email, user.external_id,
            user.stripe_customer_id) == (c.email, c.external_id, c.customer)
    assert subscription_row(app, c.subscription).checkout_session_id == c.session
    assert status_of(client, c.email)["tier"] == "pro"


# After each event of lifecycle_full: subscription (status, tier, price_id,
# current_period_end, cancel_at_period_end) and the user's (tier, entitled).
FULL_STEPS: list[tuple[str, tuple[Any, ...], tuple[str, bool]]] = [
    ("checkout.session.completed", ("active", "pro", None, None, False), ("pro", True)),
    ("customer.subscription.created", ("incomplete", "pro", PRO, P1, False), ("free", False)),
    ("customer.subscription.updated", ("active", "pro", PRO, P1, False), ("pro", True)),
    ("invoice.payment_succeeded", ("active", "pro", PRO, P1, False), ("pro", True)),
    ("invoice.paid", ("active", "pro", PRO, P1, False), ("pro", True)),
    ("customer.subscription.updated", ("active", "business", BUSINESS, P1, False),
     ("business", True)),
    # The renewal invoice: period end from its subscription line (P2), not from
    # invoice.period_end (P1, one period back) nor from the proration line.
    ("invoice.paid", ("active", "business", BUSINESS, P2, False), ("business", True)),
    ("customer.subscription.updated", ("active", "business", BUSINESS, P2, False),
     ("business", True)),
    # Cancelling at period end is recorded, and the tier stays until deleted.
    ("customer.subscription.updated", ("active", "business", BUSINESS, P2, True),
     ("business", True)),
    ("customer.subscription.deleted", ("canceled", "business", BUSINESS, P2, True),
     ("free", False)),
]


@pytest.mark.parametrize("api", APIS)
def test_full_lifecycle_state_after_each_step(app: Flask, client: FlaskClient, api: str) -> None:
    c = sim.Customer.make(3)
    events, expected = lifecycle_full(c, pro_price=PRO, business_price=BUSINESS, start=START,
                                      api_version=api)
    renewal = events[6]["data"]["object"]
    assert renewal["period_end"] == P1 and renewal["lines"]["data"][0]["period"]["end"] == P1
    assert [event["type"] for event in events] == [step[0] for step in FULL_STEPS]

    for event, (_, sub_state, (tier, entitled)) in zip(events, FULL_STEPS, strict=True):
        deliver_ok(client, event)
        sub = subscription_row(app, c.subscription)
        period_end = at(sub_state[3]) if sub_state[3] else None
        assert (sub.status, sub.tier, sub.price_id, sub.current_period_end,
                sub.cancel_at_period_end) == (*sub_state[:3], period_end, sub_state[4]), \
            event["type"]
        status = status_of(client, c.email)
        assert (status["tier"], status["entitled"]) == (tier, entitled), event["type"]

    assert len(users(app)) == 1
    assert len(inbox(app)) == len(events)
    assert status_of(client, c.email)["subscription"] == {
        "id": expected["subscription_id"], "status": "canceled", "price_id": BUSINESS,
        "current_period_end": iso(P2), "cancel_at_period_end": True, "cancel_at": iso(P2),
    }


@pytest.mark.parametrize("api", APIS)
def test_portal_cancel_records_cancel_at_and_keeps_tier_until_deleted(
        app: Flask, client: FlaskClient, api: str) -> None:
    c = sim.Customer.make(4)
    events, _ = lifecycle_full(c, pro_price=PRO, business_price=BUSINESS, start=START,
                               api_version=api, portal_cancel=True)

    for event in events[:-1]:
        deliver_ok(client, event)

    sub = subscription_row(app, c.subscription)
    assert (sub.cancel_at, sub.cancel_at_period_end, sub.status) == (at(P2), False, "active")
    assert status_of(client, c.email)["tier"] == "business"
    deliver_ok(client, events[-1])
    assert status_of(client, c.email)["tier"] == "free"


# lifecycle -> the user's tier at its end
FINAL_TIER = {"full": "free", "past_due": "pro", "trial": "pro", "resubscribe": "pro"}


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("name", FINAL_TIER)
def test_lifecycle_ends_in_the_expected_state(app: Flask, client: FlaskClient, name: str,
                                              api: str) -> None:
    tier = FINAL_TIER[name]
    c = sim.Customer.make(5)
    events, expected = lifecycle(name, c, pro_price=PRO, business_price=BUSINESS, start=START,
                                 api_version=api)

    for event in events:
        deliver_ok(client, event)

    sub = subscription_row(app, expected["subscription_id"])
    assert (sub.status, sub.price_id, sub.current_period_end, sub.cancel_at_period_end) == (
        expected["status"], expected["price_id"], at(expected["current_period_end"]),
        expected["cancel_at_period_end"])
    status = status_of(client, c.email)
    assert status["tier"] == tier
    assert status["subscription"]["id"] == expected["subscription_id"]
    assert len(users(app)) == 1
