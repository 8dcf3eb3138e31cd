"""Event -> state rules: user matching, tier of a price, entitlement, API key and widget seeding."""
from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from subsvc import simulate as sim
from subsvc.extensions import db
from subsvc.models import WidgetConfig
from tests.builders import (
    APIS,
    BUSINESS,
    P1,
    P2,
    PRO,
    START,
    another_subscription,
    at,
    checkout,
    deliver_ok,
    invoice_event,
    rotate_key,
    snapshot,
    status_of,
    subscription_event,
    subscription_row,
    users,
)
from tests.conftest import TEST_TIERS
from tests.lifecycles import lifecycle_full

WIDGET_DEFAULTS = {tier["name"]: tier["widget_defaults"] for tier in TEST_TIERS}


def create_user(runner: FlaskCliRunner, email: str, external_id: str | None = None) -> None:
    args = ["users", "create", email] + (["--external-id", external_id] if external_id else [])
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output


def widget_configs(app: Flask) -> list[WidgetConfig]:
    with app.app_context():
        return list(db.session.scalars(select(WidgetConfig)))


# --- users -----------------------------------------------------------------------

def test_client_reference_id_outranks_email(
        app: Flask, client: FlaskClient, runner: FlaskCliRunner) -> None:
    c = sim.Customer.make(1)
    create_user(runner, "owner@example.com", external_id=c.external_id)
    create_user(runner, c.email)

    deliver_ok(client, checkout(c))

    owner, other = users(app)
    assert (owner.email, owner.stripe_customer_id) == ("owner@example.com", c.customer)
    assert other.stripe_customer_id is None
    assert subscription_row(app, c.subscription).user_id == owner.id


def test_customer_id_outranks_email(
        app: Flask, client: FlaskClient, runner: FlaskCliRunner) -> None:
    c = sim.Customer.make(2)
    deliver_ok(client, checkout(c))
    create_user(runner, "renamed@example.com")
    second = dataclasses.replace(another_subscription(c), email="renamed@example.com")

    deliver_ok(client, checkout(second, at=START + 100, client_reference_id=None))

    customer_user, other = users(app)
    assert customer_user.stripe_customer_id == c.customer
    assert subscription_row(app, second.subscription).user_id == customer_user.id
    assert other.stripe_customer_id is None


@pytest.mark.parametrize("api", APIS)
def test_email_matches_case_insensitively(app: Flask, client: FlaskClient, runner: FlaskCliRunner,
                                          api: str) -> None:
    c = dataclasses.replace(sim.Customer.make(3), email="ADA.Lovelace@Example.COM")
    create_user(runner, "Ada.Lovelace@example.com")

    deliver_ok(client, checkout(c, api=api, client_reference_id=None))

    [user] = users(app)
    assert (user.email, user.stripe_customer_id) == ("ada.lovelace@example.com", c.customer)


def test_user_created_beforehand_is_linked_not_duplicated(
        app: Flask, client: FlaskClient, runner: FlaskCliRunner) -> None:
    c = sim.Customer.make(4)
    create_user(runner, c.email, external_id=c.external_id)
    [made] = users(app)

    deliver_ok(client, checkout(c))
    deliver_ok(client, subscription_event("customer.subscription.created", c))

    [user] = users(app)
    assert (user.id, user.stripe_customer_id, user.external_id) == (
        made.id, c.customer, c.external_id)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("first", ["customer.subscription.created", "invoice.paid"])
def test_event_before_checkout_is_merged_into_user_created_beforehand(
        app: Flask, client: FlaskClient, runner: FlaskCliRunner, first: str, api: str) -> None:
    c = sim.Customer.make(5)
    create_user(runner, c.email, external_id=c.external_id)
    [made] = users(app)
    early = (subscription_event(first, c, api=api) if first.startswith("customer.")
             else invoice_event(first, c, api=api))

    deliver_ok(client, early)
    # A subscription carries no email, so it makes a stub; an invoice's
    # customer_email links at once.
    assert len(users(app)) == (2 if first.startswith("customer.") else 1)
    deliver_ok(client, checkout(c, api=api, at=START + 5))

    [user] = users(app)
    assert (user.id, user.email, user.stripe_customer_id) == (made.id, c.email, c.customer)
    assert user.api_key_prefix
    assert subscription_row(app, c.subscription).user_id == made.id
    assert [config.user_id for config in widget_configs(app)] == [made.id]


# --- tier of a price ---------------------------------------------------------------

@pytest.mark.parametrize(("price_id", "lookup_key", "metadata", "tier"), [
    (PRO, None, {}, "pro"),
    ("price_1NewProIdFromStripe00", "pro_monthly", {}, "pro"),
    ("price_1NewBusinessIdStripe0", None, {"tier": "business"}, "business"),
    (PRO, None, {"tier": "business"}, "pro"),
    ("price_1NewProIdFromStripe00", "pro_monthly", {"tier": "business"}, "pro"),
], ids=["price-id", "lookup-key", "metadata", "id-over-metadata", "lookup-key-over-metadata"])
@pytest.mark.parametrize("api", APIS)
def test_tier_of_a_price(app: Flask, client: FlaskClient, api: str, price_id: str,
                         lookup_key: str | None, metadata: dict[str, str], tier: str) -> None:
    if lookup_key and api == sim.API_LEGACY:
        pytest.skip("a legacy plan has no lookup_key (a Price's)")
    c = sim.Customer.make(6)
    deliver_ok(client, checkout(c, api=api, tier=None))

    deliver_ok(client, subscription_event("customer.subscription.created", c, api=api,
                                          price_id=price_id, lookup_key=lookup_key,
                                          price_metadata=metadata))

    sub = subscription_row(app, c.subscription)
    assert (sub.price_id, sub.tier) == (price_id, tier)
    assert status_of(client, c.email)["tier"] == tier


@pytest.mark.parametrize("offset", [-10, 0, 10], ids=["older", "same-second", "newer"])
@pytest.mark.parametrize("checkout_first", [True, False],
                         ids=["checkout-first", "subscription-first"])
def test_checkout_metadata_tier_is_provisional_until_a_subscription_event(
        app: Flask, client: FlaskClient, offset: int, checkout_first: bool) -> None:
    c = sim.Customer.make(7)
    session = checkout(c, at=START, tier="business")
    sub_event = subscription_event("customer.subscription.created", c, at=START + offset,
                                   price_id=PRO)

    if checkout_first:
        deliver_ok(client, session)
        assert status_of(client, c.email)["tier"] == "business"
        assert subscription_row(app, c.subscription).tier == "business"
    for event in ([sub_event] if checkout_first else [sub_event, session]):
        deliver_ok(client, event)

    sub = subscription_row(app, c.subscription)
    assert (sub.tier, sub.price_id, sub.status) == ("pro", PRO, "active")
    assert status_of(client, c.email)["tier"] == "pro"


@pytest.mark.parametrize(("payment_status", "status", "tier"), [
    ("paid", "active", "pro"),
    ("no_payment_required", "active", "pro"),
    ("unpaid", "incomplete", "free"),
])
def test_checkout_gives_provisional_status_from_payment_status(
        app: Flask, client: FlaskClient, payment_status: str, status: str, tier: str) -> None:
    c = sim.Customer.make(8)

    deliver_ok(client, checkout(c, payment_status=payment_status))

    assert subscription_row(app, c.subscription).status == status
    assert status_of(client, c.email)["tier"] == tier


# --- current_period_end -------------------------------------------------------------

@pytest.mark.parametrize("api", APIS)
def test_period_end_ignores_a_later_ending_proration_line(
        app: Flask, client: FlaskClient, api: str) -> None:
    # Downgrading yearly business to monthly pro: the credit for unused yearly
    # time runs to the old year end, past the new monthly period.
    c = sim.Customer.make(17)
    switch = START + 40 * sim.DAY
    month_end, year_end = sim.add_interval(switch), sim.add_interval(START, "year")
    credit = {"price_id": BUSINESS, "amount": -40000, "start": switch, "end": year_end}

    deliver_ok(client, invoice_event("invoice.paid", c, api=api, at=switch,
                                     period=(switch, month_end),
                                     billing_reason="subscription_update",
                                     proration_lines=[credit]))

    assert subscription_row(app, c.subscription).current_period_end == at(month_end)


@pytest.mark.parametrize("api", APIS)
def test_period_end_only_moves_forward(app: Flask, client: FlaskClient, api: str) -> None:
    c = sim.Customer.make(18)
    renewal = invoice_event("invoice.paid", c, api=api, at=P1, period=(P1, P2),
                            billing_reason="subscription_cycle")
    deliver_ok(client, renewal)

    deliver_ok(client, invoice_event("invoice.paid", c, api=api))
    deliver_ok(client, subscription_event("customer.subscription.created", c, api=api))

    assert subscription_row(app, c.subscription).current_period_end == at(P2)


# --- entitlement -------------------------------------------------------------------

KEEPS, DROPS = {"PAST_DUE_KEEPS_TIER": True}, {"PAST_DUE_KEEPS_TIER": False}


@pytest.mark.parametrize(("config_overrides", "status", "tier"), [
    (KEEPS, "active", "pro"),
    (KEEPS, "trialing", "pro"),
    (KEEPS, "past_due", "pro"),
    (DROPS, "past_due", "free"),
    (DROPS, "active", "pro"),
    (KEEPS, "unpaid", "free"),
    (KEEPS, "incomplete", "free"),
    (KEEPS, "incomplete_expired", "free"),
    (KEEPS, "paused", "free"),
    (KEEPS, "canceled", "free"),
], indirect=["config_overrides"])
def test_entitlement_by_status(app: Flask, client: FlaskClient, status: str, tier: str) -> None:
    c = sim.Customer.make(9)
    deliver_ok(client, checkout(c))

    deliver_ok(client, subscription_event("customer.subscription.updated", c, at=START + 10,
                                          status=status))

    body = status_of(client, c.email)
    assert (body["tier"], body["entitled"], body["subscription"]["status"]) == (
        tier, tier != "free", status)
    assert subscription_row(app, c.subscription).tier == "pro"


@pytest.mark.parametrize(("config_overrides", "tier"), [(KEEPS, "pro"), (DROPS, "free")],
                         indirect=["config_overrides"])
def test_failed_renewal_invoice_makes_past_due(app: Flask, client: FlaskClient, tier: str) -> None:
    c = sim.Customer.make(10)
    deliver_ok(client, checkout(c))
    deliver_ok(client, subscription_event("customer.subscription.created", c))

    deliver_ok(client, invoice_event("invoice.payment_failed", c, at=P1 + 3600,
                                     period=(P1, P1 + 99),
                                     billing_reason="subscription_cycle"))

    assert subscription_row(app, c.subscription).status == "past_due"
    assert status_of(client, c.email)["tier"] == tier


@pytest.mark.parametrize(("config_overrides", "second_status", "tier", "deciding"), [
    ({}, "active", "business", "second"),
    (KEEPS, "past_due", "business", "second"),
    (DROPS, "past_due", "pro", "first"),
    ({}, "canceled", "pro", "first"),
], indirect=["config_overrides"])
def test_highest_ranked_entitled_subscription_decides_the_tier(
        app: Flask, client: FlaskClient, second_status: str, tier: str, deciding: str) -> None:
    first = sim.Customer.make(11)
    second = another_subscription(first)
    deliver_ok(client, checkout(first))
    deliver_ok(client, subscription_event("customer.subscription.created", first, at=START + 20))
    deliver_ok(client, subscription_event("customer.subscription.created", second, at=START + 10,
                                          price_id=BUSINESS, status=second_status))

    body = status_of(client, first.email)

    assert body["tier"] == tier
    assert body["subscription"]["id"] == {"first": first, "second": second}[deciding].subscription
    assert len(users(app)) == 1


# --- API key and widget configuration ------------------------------------------------

def key_state(app: Flask) -> tuple[Any, ...]:
    [user] = users(app)
    configs = [(w.seeded_from_tier, w.config) for w in widget_configs(app)]
    return user.api_key_prefix, user.api_key_hash, configs


@pytest.mark.parametrize("api", APIS)
def test_key_issued_once_and_widget_seeded_once(app: Flask, client: FlaskClient, api: str) -> None:
    c = sim.Customer.make(12)
    events, _ = lifecycle_full(c, pro_price=PRO, business_price=BUSINESS, start=START,
                               api_version=api)
    deliver_ok(client, events[0])
    issued = key_state(app)

    for event in events[1:]:
        deliver_ok(client, event)

    prefix, key_hash, configs = issued
    assert prefix and key_hash and len(prefix) < 32
    assert configs == [("pro", WIDGET_DEFAULTS["pro"])]
    assert key_state(app) == issued


def test_users_table_never_holds_a_full_key(
        app: Flask, client: FlaskClient, runner: FlaskCliRunner) -> None:
    c = sim.Customer.make(13)
    deliver_ok(client, checkout(c))
    issued = users(app)[0].api_key_prefix
    # The onboarding key is never shown: only its short prefix may be stored.
    assert issued and not [v for v in user_values(app) if v.startswith(issued) and v != issued]

    key = rotate_key(runner, c.email)

    [user] = users(app)
    assert key.startswith(user.api_key_prefix) and len(user.api_key_prefix) < len(key)
    assert not [v for v in user_values(app) if key in v]


def user_values(app: Flask) -> list[str]:
    return [str(value) for row in snapshot(app)["users"] for value in row.values()
            if value is not None]


def test_first_entitling_subscription_event_seeds_from_its_tier(
        app: Flask, client: FlaskClient) -> None:
    c = sim.Customer.make(14)

    deliver_ok(client, subscription_event("customer.subscription.created", c, price_id=BUSINESS))

    prefix, _, configs = key_state(app)
    assert prefix
    assert configs == [("business", WIDGET_DEFAULTS["business"])]


def test_unentitled_event_issues_nothing_until_entitled(app: Flask, client: FlaskClient) -> None:
    c = sim.Customer.make(15)

    deliver_ok(client, subscription_event("customer.subscription.created", c, status="incomplete"))
    assert key_state(app) == (None, None, [])

    deliver_ok(client, subscription_event("customer.subscription.updated", c, at=START + 5))
    prefix, _, configs = key_state(app)
    assert prefix and configs == [("pro", WIDGET_DEFAULTS["pro"])]


def test_events_after_a_revoke_never_reissue(
        app: Flask, client: FlaskClient, runner: FlaskCliRunner) -> None:
    c = sim.Customer.make(16)
    deliver_ok(client, checkout(c))
    assert runner.invoke(args=["keys", "revoke", c.email]).exit_code == 0

    deliver_ok(client, subscription_event("customer.subscription.created", c, at=START + 5))
    deliver_ok(client, invoice_event("invoice.paid", c, at=START + 6))

    prefix, key_hash, configs = key_state(app)
    assert (prefix, key_hash) == (None, None)
    assert configs == [("pro", WIDGET_DEFAULTS["pro"])]
    assert subscription_row(app, c.subscription).current_period_end == at(P1)
