"""The customer's email reaches the customer's user whatever the order (issue 8, point 2).

A subscription made through the API, the Dashboard or a quote has no checkout: its user is
known by the Stripe customer alone, and the email comes with the invoice (`customer_email`)
and the `customer.created` / `customer.updated` events. Every arrival order of those, with
duplicates, must end in one user holding the customer, the email, the subscription and the
key, also when an operator made the user beforehand (`flask users create`). The linking rule
of tests/test_takeover.py still holds: an email alone never takes over a user who has a
customer of their own or an API key.
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from subsvc import simulate as sim
from subsvc.events import parse_event
from subsvc.extensions import db
from subsvc.models import User
from tests.builders import (
    APIS,
    FULL_KEY,
    START,
    answer,
    checkout,
    deliver,
    deliver_in_order,
    deliver_ok,
    invoice_event,
    open_welcome,
    status_of,
    subscription_event,
    users,
)
from tests.conftest import now
from tests.test_takeover import ATTACKER_EMAILS, VICTIM_EMAIL

Json = dict[str, Any]


def customer_event(type_: str, c: sim.Customer, *, api: str = sim.API_NEW, at: int = START - 5,
                   email: str | None = None) -> Json:
    obj = sim.customer(customer=c.customer, email=email or c.email, created=START - 5,
                       api_version=api)
    return sim.event(type_, obj, created=at, api_version=api)


def checkoutless(c: sim.Customer, api: str, *, email: str | None = None) -> dict[str, Json]:
    """A subscription made without Checkout: its events, by role."""
    invoice = invoice_event("invoice.paid", c, api=api)
    if email is not None:
        invoice["data"]["object"]["customer_email"] = email
    return {
        "subscription": subscription_event("customer.subscription.created", c, api=api),
        "invoice": invoice,
        "customer": customer_event("customer.created", c, api=api, email=email),
    }


def orders(roles: list[str]) -> list[list[str]]:
    """Every order of every subset of two or more roles, the first and last delivered twice."""
    found = []
    for size in range(2, len(roles) + 1):
        for subset in itertools.combinations(roles, size):
            for perm in itertools.permutations(subset):
                found.append([*perm, perm[0], perm[-1]])
    return found


def deliver_roles(client: FlaskClient, events: dict[str, Json], order: list[str]) -> None:
    roles = list(dict.fromkeys(order))
    indexes = [roles.index(role) for role in order]
    deliver_in_order(client, [events[role] for role in roles], indexes)


def user_of(app: Flask, customer_id: str) -> User | None:
    with app.app_context():
        found = db.session.scalars(select(User).where(User.stripe_customer_id == customer_id))
        user = found.one_or_none()
        if user is not None:
            _ = [*user.subscriptions]  # loaded before the session ends
            db.session.expunge_all()
        return user


def linked_state(app: Flask, client: FlaskClient, c: sim.Customer) -> Json:
    """One customer's state, with ids replaced by their role."""
    with app.app_context():
        found = list(db.session.scalars(select(User).where(
            (User.stripe_customer_id == c.customer) | (User.email == c.email))))
        assert len(found) == 1, "one person must give exactly one user"
        user = found[0]
        state = {
            "customer": user.stripe_customer_id == c.customer, "email": user.email == c.email,
            "subscriptions": [s.stripe_subscription_id == c.subscription
                              for s in user.subscriptions],
            "key": user.api_key_hash is not None,
            "revealable_origin": user.origin_customer_id == c.customer,
        }
    status = status_of(client, c.email)
    state["status"] = (status["tier"], status["entitled"],
                       status["subscription"] and status["subscription"]["id"] == c.subscription)
    return state


@pytest.mark.parametrize("premade", [False, True], ids=["no-user-before", "flask-users-create"])
@pytest.mark.parametrize("api", APIS)
def test_every_order_links_the_customers_email_to_one_user(
        app: Flask, client: FlaskClient, runner: FlaskCliRunner, api: str, premade: bool) -> None:
    for n, order in enumerate(orders(["subscription", "invoice", "customer"])):
        c = sim.Customer.make(f"link{n}", accounts_v2=api == sim.API_ENDIVE)
        if premade:
            assert runner.invoke(args=["users", "create", c.email.upper()]).exit_code == 0
        deliver_roles(client, checkoutless(c, api), order)

        state = linked_state(app, client, c)
        # Every subset of two has the subscription or its invoice; the tier comes with
        # the subscription event (an invoice alone names no tier).
        tier = ("pro", True) if "subscription" in order else ("free", False)
        assert state == {
            "customer": True, "email": True, "subscriptions": [True], "key": True,
            "status": (*tier, True),
            # A record that existed before under the operator's identity is never revealable.
            "revealable_origin": not premade,
        }, f"order {order}"


def test_a_customer_event_alone_makes_the_customers_user_without_a_key(
        app: Flask, client: FlaskClient) -> None:
    c = sim.Customer.make("alone")
    deliver_ok(client, customer_event("customer.created", c))
    with app.app_context():
        [user] = db.session.scalars(select(User))
        assert (user.stripe_customer_id, user.email, user.origin_customer_id) == (
            c.customer, c.email, c.customer)
        assert user.api_key_hash is None and user.widget_config is None
    assert status_of(client, c.email)["tier"] == "free"


@pytest.mark.parametrize("email", [None, "", "ada\x00@example.com"], ids=["null", "empty", "nul"])
def test_a_customer_event_without_a_usable_email_is_ignored(
        app: Flask, client: FlaskClient, email: str | None) -> None:
    event = customer_event("customer.updated", sim.Customer.make("noemail"))
    event["data"]["object"]["email"] = email
    deliver_ok(client, event, "ignored")
    assert users(app) == []


@pytest.mark.parametrize("api", APIS)
def test_a_customer_event_locks_on_the_customer_of_its_subscription_events(api: str) -> None:
    """An Accounts v2 customer is the `acct_…` its `cus_…` object names: the same subject."""
    c = sim.Customer.make("lock", accounts_v2=api == sim.API_ENDIVE)
    events = checkoutless(c, api)
    parsed = [parse_event(sim.dumps(event)) for event in events.values()]
    assert {(e.customer_id, e.lock_subject) for e in parsed} == {(c.customer, c.customer)}


def test_a_later_email_change_does_not_move_the_stored_email(
        app: Flask, client: FlaskClient) -> None:
    """Linking only: the first email stored stays (the status look-up keeps working)."""
    c = sim.Customer.make("change")
    deliver_ok(client, subscription_event("customer.subscription.created", c))
    deliver_ok(client, customer_event("customer.updated", c))
    deliver_ok(client, customer_event("customer.updated", c, at=START + 60,
                                      email="renamed@example.com"))
    assert [(u.email, u.stripe_customer_id) for u in users(app)] == [(c.email, c.customer)]


# --- merges and the welcome page --------------------------------------------------------------


def test_a_stub_merged_into_a_premade_user_is_never_revealable(
        app: Flask, client: FlaskClient, runner: FlaskCliRunner) -> None:
    """The subscription event makes a stub (customer only) with a key; the customer event
    merges the operator's user in. A checkout of that customer later reveals nothing."""
    c = dataclasses.replace(sim.Customer.make("merge"), external_id="")
    assert runner.invoke(args=["users", "create", c.email]).exit_code == 0
    at = now() - 120
    deliver_ok(client, subscription_event("customer.subscription.created", c, at=at))
    deliver_ok(client, customer_event("customer.created", c, at=at + 1))
    [user] = users(app)
    assert (user.email, user.stripe_customer_id, user.origin_customer_id) == (
        c.email, c.customer, None)

    second = dataclasses.replace(c, subscription=sim.new_id("sub"))
    deliver_ok(client, checkout(second, at=now() - 30, client_reference_id=None))
    body = open_welcome(client, second.session)
    assert not FULL_KEY.search(body) and "support" in body
    assert len(users(app)) == 1


def test_the_customers_own_records_stay_revealable(app: Flask, client: FlaskClient) -> None:
    """Subscription and customer events first, then the checkout: all one customer's."""
    c = sim.Customer.make("own")
    at = now() - 120
    deliver_ok(client, subscription_event("customer.subscription.created", c, at=at))
    deliver_ok(client, customer_event("customer.created", c, at=at + 1))
    deliver_ok(client, checkout(c, at=now() - 30))
    [user] = users(app)
    assert user.origin_customer_id == c.customer
    assert FULL_KEY.search(open_welcome(client, c.session))


# --- the linking rule: an email alone never takes over ---------------------------------------


def victim_with_customer(client: FlaskClient, app: Flask) -> tuple[sim.Customer, User]:
    v = dataclasses.replace(sim.Customer.make("kate"), email=VICTIM_EMAIL)
    for event in checkoutless(v, sim.API_NEW).values():
        deliver_ok(client, event)
    user = user_of(app, v.customer)
    assert user is not None and user.email == VICTIM_EMAIL and user.api_key_hash is not None
    return v, user


@pytest.mark.parametrize("email", ATTACKER_EMAILS.values(), ids=ATTACKER_EMAILS.keys())
def test_an_attackers_events_with_the_victims_email_never_take_the_victim_over(
        app: Flask, client: FlaskClient, email: str) -> None:
    v, before = victim_with_customer(client, app)
    for n, order in enumerate(orders(["subscription", "invoice", "customer"])):
        a = dataclasses.replace(sim.Customer.make(f"mallory{n}"), email=email)
        deliver_roles(client, checkoutless(a, sim.API_NEW, email=email), order)
        own = user_of(app, a.customer)
        assert own is not None and own.id != before.id, order
        assert own.email != VICTIM_EMAIL, order  # a look-alike keeps its own exact address
        assert [s.stripe_subscription_id for s in own.subscriptions] == (
            [a.subscription] if {"subscription", "invoice"} & set(order) else [])
    after = user_of(app, v.customer)
    assert after is not None
    assert (after.id, after.email, after.api_key_hash, after.origin_customer_id) == (
        before.id, VICTIM_EMAIL, before.api_key_hash, v.customer)
    assert [s.stripe_subscription_id for s in after.subscriptions] == [v.subscription]
    assert status_of(client, VICTIM_EMAIL)["subscription"]["id"] == v.subscription


def test_a_customer_event_never_links_to_a_premade_user_holding_a_key(
        app: Flask, client: FlaskClient, runner: FlaskCliRunner,
        caplog: pytest.LogCaptureFixture) -> None:
    assert runner.invoke(args=["users", "create", VICTIM_EMAIL]).exit_code == 0
    assert runner.invoke(args=["keys", "rotate", VICTIM_EMAIL]).exit_code == 0
    a = dataclasses.replace(sim.Customer.make("mallory"), email=VICTIM_EMAIL)
    with caplog.at_level(logging.WARNING, logger="subsvc"):
        for order in (["customer", "subscription"], ["subscription", "customer"]):
            a = dataclasses.replace(a, customer=sim.new_id("cus"), subscription=sim.new_id("sub"))
            deliver_roles(client, checkoutless(a, sim.API_NEW), order)
            own = user_of(app, a.customer)
            assert own is not None and own.email is None, order
    victim = [u for u in users(app) if u.email == VICTIM_EMAIL]
    assert len(victim) == 1 and victim[0].stripe_customer_id is None
    assert status_of(client, VICTIM_EMAIL)["subscription"] is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and not any("@" in m for m in warnings)


def test_the_admin_look_up_finds_a_paying_checkoutless_customer(client: FlaskClient) -> None:
    """The symptom of the issue: 404 for a paying customer in the normal order."""
    c = sim.Customer.make("lookup")
    events = checkoutless(c, sim.API_NEW)
    for role in ("subscription", "invoice"):  # Stripe's usual order without a customer event
        deliver(client, events[role])
    assert status_of(client, c.email)["tier"] == "pro"
    assert deliver(client, events["customer"]).get_json() == answer(events["customer"])
