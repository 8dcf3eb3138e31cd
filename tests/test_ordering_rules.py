"""Each ordering rule on its own: a tiny event set, every arrival order, one expected state."""
from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from subsvc import simulate as sim
from subsvc.extensions import db
from subsvc.models import Subscription
from tests.conftest import post_event

PRO, BUSINESS = "price_pro_monthly", "price_business_monthly"
T = int(time.time()) - 60 * sim.DAY
P1, P2 = sim.add_interval(T), sim.add_interval(T, n=2)
Case = Callable[[sim.Customer], list[dict[str, Any]]]


def sub_event(c: sim.Customer, type_: str, created: int, *, status: str = "active",
              price: str = PRO, period: tuple[int, int] = (T, P1), **extra: Any) -> dict[str, Any]:
    obj = sim.subscription(customer=c.customer, sub_id=c.subscription, price_id=price, status=status,
                           period_start=period[0], period_end=period[1], created=T, **extra)
    return sim.event(type_, obj, created=created)


def invoice_event(c: sim.Customer, type_: str, created: int, *, period: tuple[int, int] = (T, P1),
                  amount: int = 1900, **extra: Any) -> dict[str, Any]:
    obj = sim.invoice(customer=c.customer, subscription=c.subscription, price_id=PRO,
                      period_start=period[0], period_end=period[1], paid=type_ != "invoice.payment_failed",
                      amount=amount, created=created, **extra)
    return sim.event(type_, obj, created=created)


def checkout_event(c: sim.Customer, created: int, *, tier: str, paid: bool = True) -> dict[str, Any]:
    obj = sim.checkout_session(customer=c.customer, subscription=c.subscription, email=c.email,
                               client_reference_id=c.external_id, tier=tier, created=created,
                               payment_status="paid" if paid else "unpaid")
    return sim.event("checkout.session.completed", obj, created=created)


# name: (events for a customer, expected (status, price_id, tier, current_period_end))
CASES: dict[str, tuple[Case, tuple[str, str | None, str | None, int | None]]] = {
    "canceled is terminal even before a newer paid invoice": (lambda c: [
        sub_event(c, "customer.subscription.created", T),
        sub_event(c, "customer.subscription.deleted", T + 100, status="canceled"),
        invoice_event(c, "invoice.paid", T + 200),  # a final invoice, paid after the end
    ], ("canceled", PRO, "pro", P1)),
    "incomplete_expired is terminal": (lambda c: [
        sub_event(c, "customer.subscription.created", T, status="incomplete"),
        sub_event(c, "customer.subscription.updated", T + 82800, status="incomplete_expired"),
        invoice_event(c, "invoice.payment_failed", T + 90000, billing_reason="subscription_cycle"),
    ], ("incomplete_expired", PRO, "pro", P1)),
    "created incomplete and updated active in one second": (lambda c: [
        sub_event(c, "customer.subscription.created", T, status="incomplete"),
        sub_event(c, "customer.subscription.updated", T),
    ], ("active", PRO, "pro", P1)),
    "subscription event beats an invoice in the same second": (lambda c: [
        sub_event(c, "customer.subscription.updated", T + 50, status="active"),
        invoice_event(c, "invoice.payment_failed", T + 50, period=(P1, P2)),
    ], ("active", PRO, "pro", P1)),
    "newer failed invoice beats older subscription event": (lambda c: [
        sub_event(c, "customer.subscription.updated", T + 50),
        invoice_event(c, "invoice.payment_failed", T + 51, period=(P1, P2)),
    ], ("past_due", PRO, "pro", P1)),
    "price comes from the newest subscription event only": (lambda c: [
        sub_event(c, "customer.subscription.updated", T + 10, price=BUSINESS),
        sub_event(c, "customer.subscription.updated", T + 20, price=PRO),
        invoice_event(c, "invoice.paid", T + 30),
    ], ("active", PRO, "pro", P1)),
    "period end is the latest any event carried": (lambda c: [
        invoice_event(c, "invoice.paid", P1 + 10, period=(P1, P2)),
        sub_event(c, "customer.subscription.updated", P1 + 20, period=(T, P1)),
    ], ("active", PRO, "pro", P2)),
    "a later checkout never overrides a subscription event": (lambda c: [
        sub_event(c, "customer.subscription.created", T, status="incomplete"),
        checkout_event(c, T + 2, tier="business"),
    ], ("incomplete", PRO, "pro", P1)),
    "checkout alone gives a provisional status and tier": (lambda c: [
        checkout_event(c, T, tier="business"),
    ], ("active", None, "business", None)),
    "unpaid checkout is provisionally incomplete": (lambda c: [
        checkout_event(c, T, tier="pro", paid=False),
    ], ("incomplete", None, "pro", None)),
    "a zero-amount trial invoice says nothing of status": (lambda c: [
        sub_event(c, "customer.subscription.created", T, status="trialing", trial_end=T + 14 * sim.DAY),
        invoice_event(c, "invoice.paid", T + 1, amount=0, billing_reason="subscription_create"),
    ], ("trialing", PRO, "pro", P1)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_arrival_order_gives_the_rule_state(app: Flask, client: FlaskClient, case: str) -> None:
    build, (status, price_id, tier, period_end) = CASES[case]
    for n, perm in enumerate(itertools.permutations(range(len(build(sim.Customer.make(0)))))):
        customer = sim.Customer.make(f"rule{n}")
        events = build(customer)
        for index in perm:
            answer = post_event(client, events[index])
            assert answer.status_code == 200 and answer.json["status"] == "processed", answer.json
        with app.app_context():
            sub = db.session.scalars(select(Subscription).where(
                Subscription.stripe_subscription_id == customer.subscription)).one()
            end = datetime.fromtimestamp(period_end, UTC) if period_end else None
            assert (sub.status, sub.price_id, sub.tier, sub.current_period_end) == (
                status, price_id, tier, end), f"order {perm}"
