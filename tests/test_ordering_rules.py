"""Each ordering rule on its own: a tiny event set, every arrival order, one expected state.

Mutation check of accounts/ordering.py (issue 8, point 10): each rule was changed once, by
hand, and this file and tests/test_ordering.py run on SQLite; every mutation is killed by the
case named (the first to fail), or is equivalent: no event set can tell it from the rule.
"Before": whether the suite without the cases added with this table caught it (test_ordering.py
was run on every mutation the old rule cases let through; "(new)": not tried before).

  mutation                                         killed by (case)                   before
  PROGRESS swap incomplete <-> trialing            trialing outranks incomplete ...    survived
  PROGRESS swap trialing <-> active                active outranks trialing ...        survived
  PROGRESS swap active <-> past_due                past_due outranks active ...        survived
  PROGRESS swap past_due <-> unpaid                unpaid outranks past_due ...        survived
  PROGRESS swap unpaid <-> paused                  paused outranks unpaid ...          survived
  Source flipped (checkout 3, subscription 1)      subscription event beats an invoice  killed
  Source swap invoice <-> subscription             subscription event beats an invoice  killed
  Source swap checkout <-> invoice                 equivalent: `authoritative` already separates a
                                                   checkout from an invoice before `source` is read
  status: drop terminal                            canceled is terminal even before ... killed
  details: drop terminal                           equivalent alone: PROGRESS ranks canceled and
                                                   incomplete_expired (7) above every other status
  PROGRESS canceled/incomplete_expired 7 -> 0      equivalent alone: `terminal` precedes progress
                                                   in both versions
  both of the last two together                    a cancel's details win ...          (new)
  details: terminal before created                 price comes from the newest ...     survived
  status: drop authoritative                       a later checkout never overrides ...  killed
  details: drop authoritative                      a later checkout never overrides ...  killed
  status: drop created                             newer failed invoice beats older ...  killed
  details: drop created                            price comes from the newest ...     (new)
  status: source before created                    newer failed invoice beats older ...  killed
  status: progress before source                   subscription event beats an invoice  killed
  status: drop progress                            created incomplete and updated active killed by
                                                   luck of random ids; now with fixed ids
  details: drop progress                           trialing outranks incomplete ...    survived
  status: event-id tiebreak reversed               two words of one rank in one second  survived
  details: event-id tiebreak reversed              two words of one rank / two updates  survived
  TERMINAL without incomplete_expired              incomplete_expired is terminal        killed
  paused rule dropped (settled = newest word)      a paid invoice newer than the pause  killed
                                                   (before: test_ordering's paused window)
  paused rule ignores a terminal word              a terminal status stays under ...   survived
  paused rule reads either word                    equivalent: the newest word is `paused` only
                                                   when the newest subscription event says it
  (`paused` from event_status too)                 (same created and source order in both
                                                   versions), so subscription_status is paused too
"""
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
from tests.builders import deliver
from tests.conftest import BUSINESS, PRO

T = int(time.time()) - 60 * sim.DAY
P1, P2 = sim.add_interval(T), sim.add_interval(T, n=2)
Json = dict[str, Any]
Case = Callable[[sim.Customer], list[Json]]


def event_id(c: sim.Customer, rank: str | None) -> str | None:
    """A fixed event id: within one customer, rank "b" sorts above rank "a".

    A tie case gives its expected winner the *lower* id, so that the event-id
    tiebreak alone picks the wrong event: dropping the rule under test fails the
    case every time, not by the luck of random ids.
    """
    return f"evt_{c.subscription[4:]}_{rank}" if rank else None


def journey(c: sim.Customer, price: str = PRO) -> sim.Journey:
    """The customer's journey on `price`, its subscription created at T."""
    return sim.Journey(c, plan=sim.price(price_id=price), created=T)


def sub_at(c: sim.Customer, type_: str, created: int, *, price: str = PRO,
           period: tuple[int, int] = (T, P1), rank: str | None = None, **extra: Any) -> Json:
    return journey(c, price).subscription_event(type_, created, period=period,
                                                event_id=event_id(c, rank), **extra)


def invoice_at(c: sim.Customer, type_: str, created: int, *, period: tuple[int, int] = (T, P1),
               rank: str | None = None, billing_reason: str = "subscription_cycle",
               **extra: Any) -> Json:
    return journey(c).invoice_event(type_, created, period=period, event_id=event_id(c, rank),
                                 billing_reason=billing_reason, **extra)


def same_second(c: sim.Customer, loser: str, winner: str) -> list[Json]:
    """Two subscription events in one second: `winner` further along (PROGRESS) than
    `loser`, with the lower event id, and the other price: the winner's word and price stand."""
    return [sub_at(c, "customer.subscription.updated", T + 50, status=loser, price=BUSINESS,
                   rank="b"),
            sub_at(c, "customer.subscription.updated", T + 50, status=winner, rank="a")]


def checkout_at(c: sim.Customer, created: int, *, tier: str, paid: bool = True) -> Json:
    return sim.Journey(c, plan=sim.price(price_id=PRO), tier=tier).checkout(
        created, created=created, payment_status="paid" if paid else "unpaid")


# name: (events for a customer, expected (status, price_id, tier, current_period_end))
CASES: dict[str, tuple[Case, tuple[str, str | None, str | None, int | None]]] = {
    "canceled is terminal even before a newer paid invoice": (lambda c: [
        sub_at(c, "customer.subscription.created", T),
        sub_at(c, "customer.subscription.deleted", T + 100, status="canceled"),
        invoice_at(c, "invoice.paid", T + 200),  # a final invoice, paid after the end
    ], ("canceled", PRO, "pro", P1)),
    "incomplete_expired is terminal": (lambda c: [
        sub_at(c, "customer.subscription.created", T, status="incomplete"),
        sub_at(c, "customer.subscription.updated", T + 82800, status="incomplete_expired"),
        invoice_at(c, "invoice.payment_failed", T + 90000, billing_reason="subscription_cycle"),
    ], ("incomplete_expired", PRO, "pro", P1)),
    "created incomplete and updated active in one second": (lambda c: [
        sub_at(c, "customer.subscription.created", T, status="incomplete", rank="b"),
        sub_at(c, "customer.subscription.updated", T, rank="a"),
    ], ("active", PRO, "pro", P1)),
    "subscription event beats an invoice in the same second": (lambda c: [
        sub_at(c, "customer.subscription.updated", T + 50, status="active", rank="a"),
        invoice_at(c, "invoice.payment_failed", T + 50, period=(P1, P2), rank="b"),
    ], ("active", PRO, "pro", P1)),
    # Progress within one second, one neighbouring pair of PROGRESS each (status and details).
    "trialing outranks incomplete in one second": (
        lambda c: same_second(c, "incomplete", "trialing"), ("trialing", PRO, "pro", P1)),
    "active outranks trialing in one second": (
        lambda c: same_second(c, "trialing", "active"), ("active", PRO, "pro", P1)),
    "past_due outranks active in one second": (
        lambda c: same_second(c, "active", "past_due"), ("past_due", PRO, "pro", P1)),
    "unpaid outranks past_due in one second": (
        lambda c: same_second(c, "past_due", "unpaid"), ("unpaid", PRO, "pro", P1)),
    "paused outranks unpaid in one second": (
        lambda c: same_second(c, "unpaid", "paused"), ("paused", PRO, "pro", P1)),
    "a failed invoice outranks a paid one in one second": (lambda c: [
        invoice_at(c, "invoice.paid", P1 + 10, period=(P1, P2), rank="b"),
        invoice_at(c, "invoice.payment_failed", P1 + 10, period=(P1, P2), rank="a",
                   billing_reason="subscription_cycle"),
    ], ("past_due", None, None, P2)),
    # Terminal: a cancel's details win within its second, and the newest subscription
    # event's details win after it (the status stays canceled either way).
    "a cancel's details win within its second": (lambda c: [
        sub_at(c, "customer.subscription.updated", T + 100, price=BUSINESS, rank="b"),
        sub_at(c, "customer.subscription.deleted", T + 100, status="canceled", rank="a"),
    ], ("canceled", PRO, "pro", P1)),
    "price comes from the newest subscription event even after a cancel": (lambda c: [
        sub_at(c, "customer.subscription.deleted", T + 100, status="canceled", rank="b"),
        sub_at(c, "customer.subscription.updated", T + 200, price=BUSINESS, rank="a"),
    ], ("canceled", BUSINESS, "business", P1)),
    # The event id decides what nothing else does: the higher id wins (an arbitrary but
    # fixed direction, so every arrival order agrees).
    "two words of one rank in one second: the higher event id": (lambda c: [
        sub_at(c, "customer.subscription.deleted", T + 100, status="canceled", price=BUSINESS,
               rank="a"),
        sub_at(c, "customer.subscription.updated", T + 100, status="incomplete_expired",
               rank="b"),
    ], ("incomplete_expired", PRO, "pro", P1)),
    "two updates of one status in one second: the higher event id": (lambda c: [
        sub_at(c, "customer.subscription.updated", T + 100, price=BUSINESS, rank="a"),
        sub_at(c, "customer.subscription.updated", T + 100, rank="b"),
    ], ("active", PRO, "pro", P1)),
    # Paused: only a subscription event moves a subscription out of it.
    "a paid invoice newer than the pause does not resume it": (lambda c: [
        sub_at(c, "customer.subscription.updated", T + 100, status="past_due"),
        sub_at(c, "customer.subscription.paused", T + 200, status="paused"),
        invoice_at(c, "invoice.paid", T + 300, period=(P1, P2)),
    ], ("paused", PRO, "pro", P2)),
    "a resume ends the pause and a later invoice counts again": (lambda c: [
        sub_at(c, "customer.subscription.paused", T + 100, status="paused"),
        sub_at(c, "customer.subscription.resumed", T + 200, status="active"),
        invoice_at(c, "invoice.payment_failed", T + 300, period=(P1, P2),
                   billing_reason="subscription_cycle"),
    ], ("past_due", PRO, "pro", P1)),
    "a terminal status stays under a newer pause": (lambda c: [
        sub_at(c, "customer.subscription.deleted", T + 100, status="canceled"),
        sub_at(c, "customer.subscription.paused", T + 200, status="paused"),
    ], ("canceled", PRO, "pro", P1)),
    "newer failed invoice beats older subscription event": (lambda c: [
        sub_at(c, "customer.subscription.updated", T + 50),
        invoice_at(c, "invoice.payment_failed", T + 51, period=(P1, P2)),
    ], ("past_due", PRO, "pro", P1)),
    "price comes from the newest subscription event only": (lambda c: [
        sub_at(c, "customer.subscription.updated", T + 10, price=BUSINESS),
        sub_at(c, "customer.subscription.updated", T + 20, price=PRO),
        invoice_at(c, "invoice.paid", T + 30),
    ], ("active", PRO, "pro", P1)),
    "period end is the latest any event carried": (lambda c: [
        invoice_at(c, "invoice.paid", P1 + 10, period=(P1, P2)),
        sub_at(c, "customer.subscription.updated", P1 + 20, period=(T, P1)),
    ], ("active", PRO, "pro", P2)),
    "a later checkout never overrides a subscription event": (lambda c: [
        sub_at(c, "customer.subscription.created", T, status="incomplete"),
        checkout_at(c, T + 2, tier="business"),
    ], ("incomplete", PRO, "pro", P1)),
    "checkout alone gives a provisional status and tier": (lambda c: [
        checkout_at(c, T, tier="business"),
    ], ("active", None, "business", None)),
    "unpaid checkout is provisionally incomplete": (lambda c: [
        checkout_at(c, T, tier="pro", paid=False),
    ], ("incomplete", None, "pro", None)),
    "a zero-amount trial invoice says nothing of status": (lambda c: [
        sub_at(c, "customer.subscription.created", T, status="trialing",
               trial_end=T + 14 * sim.DAY),
        invoice_at(c, "invoice.paid", T + 1, amount=0, billing_reason="subscription_create"),
    ], ("trialing", PRO, "pro", P1)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_arrival_order_gives_the_rule_state(app: Flask, client: FlaskClient,
                                                  case: str) -> None:
    build, (status, price_id, tier, period_end) = CASES[case]
    for n, perm in enumerate(itertools.permutations(range(len(build(sim.Customer.make(0)))))):
        customer = sim.Customer.make(f"rule{n}")
        events = build(customer)
        for index in perm:
            answer = deliver(client, events[index])
            assert answer.status_code == 200 and answer.json["status"] == "processed", answer.json
        with app.app_context():
            sub = db.session.scalars(select(Subscription).where(
                Subscription.stripe_subscription_id == customer.subscription)).one()
            end = datetime.fromtimestamp(period_end, UTC) if period_end else None
            assert (sub.status, sub.price_id, sub.tier, sub.current_period_end) == (
                status, price_id, tier, end), f"order {perm}"
