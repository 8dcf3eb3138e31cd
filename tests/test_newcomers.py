"""A new customer's checkout in Core statements (accounts/newcomers.py) against the general path.

The two paths must leave the same rows: the newcomer's checkout is delivered over the webhook,
another customer's identical checkout goes through the general path (link_and_onboard) in its
own transaction, and the users, subscriptions and widget configurations are compared with
each customer's own identifiers put aside.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from subsvc import simulate as sim
from subsvc.accounts.entitlement import Policy
from subsvc.accounts.merge import Merged
from subsvc.accounts.newcomers import add_first_subscription
from subsvc.accounts.onboarding import onboard_after_merge, onboard_if_due
from subsvc.accounts.subscriptions import get_or_create_subscription
from subsvc.events import parse_event
from subsvc.extensions import db
from subsvc.handlers.checkout import link_and_onboard
from subsvc.models import InboxEvent, Subscription, User, WidgetConfig
from tests.builders import (
    APIS,
    checkout,
    deliver,
    deliver_ok,
    handled_event,
    subscription_event,
)
from tests.conftest import TEST_TIERS

Json = dict[str, Any]
VOLATILE = {"id", "user_id", "created_at", "updated_at", "api_key_hash", "api_key_prefix",
            "api_key_issued_at"}


def rows_of(c: sim.Customer, email: str | None = None, event_id: str = "") -> Json:
    """The customer's user, subscription and widget config, their own ids replaced (the
    event id within the ordering versions too)."""
    user = db.session.scalars(select(User).where(User.stripe_customer_id == c.customer)).one()
    sub = db.session.scalars(select(Subscription).where(
        Subscription.stripe_subscription_id == c.subscription)).one()
    widget = db.session.scalars(select(WidgetConfig).where(WidgetConfig.user_id == user.id)
                                ).one_or_none()
    own = {c.customer: "<customer>", c.subscription: "<subscription>", c.session: "<session>",
           email or c.email: "<email>", c.external_id: "<external id>"}

    def plain(obj: Any) -> Json:
        values = {col.key: getattr(obj, col.key) for col in obj.__table__.columns
                  if col.key not in VOLATILE}
        return {k: own.get(v, v.replace(event_id or "-", "<event>")) if isinstance(v, str) else v
                for k, v in values.items()}

    assert sub.user_id == user.id
    return {"user": {**plain(user), "has key": user.api_key_hash is not None},
            "subscription": plain(sub), "widget": widget and plain(widget)}


def general_path(app: Flask, event: Json) -> None:
    with app.app_context():
        link_and_onboard(parse_event(json.dumps(event)), Policy.from_config(app.config))
        db.session.commit()


def assert_same_rows(fast: Json, general: Json) -> None:
    differences = {(table, column): (value, (general[table] or {}).get(column))
                   for table, row in fast.items() for column, value in (row or {}).items()
                   if (general[table] or {}).get(column) != value}
    assert differences == {}
    assert {t: r is None for t, r in fast.items()} == {t: r is None for t, r in general.items()}


VARIANTS = {
    "paid, tier named": {},
    "unpaid": {"payment_status": "unpaid"},
    "no tier in metadata": {"tier": None},
    "no client_reference_id": {"client_reference_id": None},
    "email in capitals": {"email": "MixedCase.Person@Example.COM"},
}


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_newcomer_checkout_leaves_the_rows_the_general_path_leaves(
        app: Flask, client: FlaskClient, api: str, variant: str) -> None:
    fields = dict(VARIANTS[variant])
    newcomer, other = sim.Customer.make("n1"), sim.Customer.make("n2")
    tier = fields.pop("tier", "pro")
    email = fields.pop("email", None)
    emails = {newcomer: email, other: email and email.replace("Person", "Other")}
    events = {c: checkout(c, api=api, tier=tier, **fields,
                          **({"email": emails[c]} if email else {})) for c in (newcomer, other)}
    deliver_ok(client, events[newcomer])
    general_path(app, events[other])

    with app.app_context():
        fast, general = (rows_of(c, emails[c] and emails[c].lower(), events[c]["id"])
                         for c in (newcomer, other))
    assert_same_rows(fast, general)
    assert fast["user"]["has key"] and fast["widget"] is not None
    if variant == "no client_reference_id":
        assert fast["user"]["external_id"] is None


FIRST_EVENTS = ["customer.subscription.created", "customer.subscription.updated",
                "invoice.paid", "invoice.payment_failed"]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("type_", FIRST_EVENTS)
@pytest.mark.parametrize("premade", ["nobody", "user with their email", "user without email"])
def test_a_first_subscription_or_invoice_event_leaves_the_rows_the_orm_path_leaves(
        app: Flask, client: FlaskClient, api: str, type_: str, premade: str) -> None:
    # The newcomer's event finds nobody (stub user and row in two INSERTs, then the merge),
    # or the customer's user that a customer event made before any subscription (the row is
    # one INSERT for them; with no email on the user, an invoice links it through the ORM on
    # both sides). The other customer's row is made first through the ORM
    # (get_or_create_subscription, as the handler did before), then the same event merges.
    newcomer, other = sim.Customer.make("n1"), sim.Customer.make("n2")
    events = {c: handled_event(type_, c, api) for c in (newcomer, other)}
    if premade != "nobody":
        with app.app_context():
            for c in (newcomer, other):
                email = c.email if premade == "user with their email" else None
                db.session.add(User(stripe_customer_id=c.customer, email=email,
                                    origin_customer_id=c.customer))
            db.session.commit()
    deliver_ok(client, events[newcomer])
    with app.app_context():
        email = events[other]["data"]["object"].get("customer_email")
        get_or_create_subscription(db.session, other.subscription, customer_id=other.customer,
                                   email=email if type_.startswith("invoice") else None)
        db.session.commit()
    deliver_ok(client, events[other])

    with app.app_context():
        fast, general = (rows_of(c, None, events[c]["id"]) for c in (newcomer, other))
    assert_same_rows(fast, general)


def test_a_checkout_of_a_known_customer_takes_the_general_path_and_links(
        app: Flask, client: FlaskClient) -> None:
    # An operator made the user beforehand: the probe finds the email, nothing is made twice.
    c = sim.Customer.make(1)
    with app.app_context():
        db.session.add(User(email=c.email))
        db.session.commit()
    deliver_ok(client, checkout(c))
    with app.app_context():
        users = db.session.scalars(select(User)).all()
        assert [(u.email, u.stripe_customer_id) for u in users] == [(c.email, c.customer)]
        assert users[0].api_key_hash is not None
        assert users[0].origin_customer_id is None  # made by the operator, not the event


def test_a_checkout_naming_an_unknown_tier_fails_and_writes_nothing(
        app: Flask, client: FlaskClient) -> None:
    c = sim.Customer.make(1)
    event = checkout(c, tier="platinum")
    assert deliver(client, event).status_code == 500
    with app.app_context():
        assert db.session.scalars(select(User)).all() == []
        assert db.session.scalars(select(Subscription)).all() == []
        row = db.session.scalars(select(InboxEvent).where(InboxEvent.event_id == event["id"]))
        assert row.one().status == "failed"


def test_a_newcomer_is_seeded_from_the_tier_table_as_it_is_now(
        app: Flask, client: FlaskClient, runner: FlaskCliRunner, tmp_path: Path) -> None:
    # The first checkout fills the worker's tier copy; the operator then changes the defaults.
    # The next newcomer's probe sees the table's new fingerprint and seeds from the new ones.
    deliver_ok(client, checkout(sim.Customer.make(1)))
    tiers = copy.deepcopy(TEST_TIERS)
    for tier in tiers:
        if tier["name"] == "pro":
            tier["widget_defaults"] = {"theme": "changed", "max_widgets": 99}
    tier_file = tmp_path / "tiers.json"
    tier_file.write_text(json.dumps({"tiers": tiers}))
    result = runner.invoke(args=["seed", "tiers", "--file", str(tier_file)])
    assert result.exit_code == 0, result.output
    second = sim.Customer.make(2)
    deliver_ok(client, checkout(second))
    with app.app_context():
        assert rows_of(second)["widget"]["config"] == {"theme": "changed", "max_widgets": 99}


def test_a_first_subscription_is_made_in_core_only_when_no_linking_is_due(app: Flask) -> None:
    c = sim.Customer.make(1)
    with app.app_context():
        made = add_first_subscription(db.session, customer_id=c.customer, email=c.email,
                                      subscription_id=c.subscription)
        db.session.commit()
        # The customer's user is known now: their next subscription is a bare row for them
        # (no email, or theirs); an email alone, or another email, is linking (ORM's turn).
        second, third = sim.new_id("sub"), sim.new_id("sub")
        again = [add_first_subscription(db.session, customer_id=customer, email=email,
                                        subscription_id=sub)
                 for customer, email, sub in (
                     (c.customer, None, second), (c.customer, c.email, third),
                     (None, c.email, sim.new_id("sub")),
                     (c.customer, "other@example.com", sim.new_id("sub")),
                     (c.customer, None, second))]
        db.session.commit()
        users = db.session.scalars(select(User)).all()
        subs = db.session.scalars(select(Subscription).order_by(Subscription.id)).all()
    assert made is True and again == [True, True, False, False, False]
    assert [(u.stripe_customer_id, u.email, u.origin_customer_id, u.api_key_hash)
            for u in users] == [(c.customer, c.email, c.customer, None)]
    assert [(s.stripe_subscription_id, s.user_id, s.status) for s in subs] == [
        (sub, users[0].id, None) for sub in (c.subscription, second, third)]


@pytest.mark.parametrize("past_due_keeps_tier", [True, False])
@pytest.mark.parametrize("status", ["active", "trialing", "past_due", "incomplete", "canceled"])
def test_onboarding_after_a_merge_leaves_the_rows_onboard_if_due_leaves(
        app: Flask, client: FlaskClient, status: str, past_due_keeps_tier: bool) -> None:
    # Both customers' subscriptions came first and incomplete: keyless stub users. Then each
    # subscription gets the same status; the newcomer is onboarded by the Core statements
    # the handlers run after a merge, the other by onboard_if_due through the ORM.
    newcomer, other = sim.Customer.make("n1"), sim.Customer.make("n2")
    first = {c: subscription_event("customer.subscription.created", c, status="incomplete")
             for c in (newcomer, other)}
    for event in first.values():
        deliver_ok(client, event)
    policy = Policy(past_due_keeps_tier=past_due_keeps_tier)
    with app.app_context():
        subs = {c: db.session.scalars(select(Subscription).where(
            Subscription.stripe_subscription_id == c.subscription)).one()
                for c in (newcomer, other)}
        assert all(sub.user.api_key_hash is None for sub in subs.values())
        for sub in subs.values():
            sub.status = status
        db.session.commit()
        user = db.session.get(User, subs[newcomer].user_id)  # loaded: must not go stale
        assert user is not None
        done = onboard_after_merge(db.session, Merged(
            subs[newcomer].id, user.id, False, False, None, newcomer.customer), policy)
        assert done == (user.api_key_issued_at is not None)
        reference = onboard_if_due(db.session, subs[other].user, policy, checkout=False)
        db.session.commit()
        fast, general = (rows_of(c, None, first[c]["id"]) for c in (newcomer, other))
    assert done == reference == (status in ("active", "trialing")
                                 or (status == "past_due" and past_due_keeps_tier))
    assert_same_rows(fast, general)
    assert fast["user"]["has key"] == done and (fast["widget"] is not None) == done


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("first_status", ["active", "incomplete"])
def test_a_checkout_after_its_subscription_leaves_the_rows_the_general_path_leaves(
        app: Flask, client: FlaskClient, variant: str, first_status: str) -> None:
    # Under concurrent delivery a checkout often comes after its subscription's event, which
    # made a stub user and the row (keyed or not, as the status entitles). The newcomer's
    # checkout then takes checkout_known_customer, the other's the general path.
    fields = dict(VARIANTS[variant])
    newcomer, other = sim.Customer.make("n1"), sim.Customer.make("n2")
    tier = fields.pop("tier", "pro")
    email = fields.pop("email", None)
    emails = {newcomer: email, other: email and email.replace("Person", "Other")}
    first = {c: subscription_event("customer.subscription.created", c, status=first_status)
             for c in (newcomer, other)}
    events = {c: checkout(c, tier=tier, **fields, **({"email": emails[c]} if email else {}))
              for c in (newcomer, other)}
    for c in (newcomer, other):
        deliver_ok(client, first[c])
    deliver_ok(client, events[newcomer])
    general_path(app, events[other])

    with app.app_context():
        fast, general = (rows_of(c, emails[c] and emails[c].lower(), first[c]["id"])
                         for c in (newcomer, other))
    assert_same_rows(fast, general)
    assert fast["user"]["has key"] and fast["widget"] is not None
    assert fast["subscription"]["checkout_session_id"] == "<session>"


def test_a_checkout_whose_email_another_user_holds_takes_the_general_path(
        app: Flask, client: FlaskClient) -> None:
    # The operator made a user with the checkout's email; the subscription came first and
    # made a stub. The checkout merges the stub into the operator's user (general path).
    c = sim.Customer.make(1)
    with app.app_context():
        db.session.add(User(email=c.email))
        db.session.commit()
    deliver_ok(client, subscription_event("customer.subscription.created", c, status="active"))
    deliver_ok(client, checkout(c))
    with app.app_context():
        users = db.session.scalars(select(User)).all()
        assert [(u.email, u.stripe_customer_id) for u in users] == [(c.email, c.customer)]
        assert users[0].api_key_hash is not None and users[0].origin_customer_id is None
