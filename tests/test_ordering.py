"""Convergence: any arrival order of a lifecycle's events, with duplicates, ends in one state.

Small windows are checked exhaustively (every permutation); whole lifecycles
are sampled with hypothesis. Each permutation uses a customer of its own, so
one database holds them all.
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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import or_, select

from subsvc import simulate as sim
from subsvc.accounts.entitlement import Policy
from subsvc.extensions import db
from subsvc.models import User
from subsvc.status.payloads import user_status
from tests.builders import deliver_in_order
from tests.conftest import BUSINESS, PRO
from tests.lifecycles import Scenario, lifecycle

START = int(time.time()) - 120 * sim.DAY

LEGACY, OLD, NEW, ENDIVE = sim.API_VERSIONS
ALL = sim.API_VERSIONS
# name -> the shape families the lifecycle runs in. A paused status postdates the legacy
# shape; mixed intervals need flexible billing (basil and later).
FAMILIES: dict[str, tuple[str, ...]] = {
    "full": ALL, "past_due": ALL, "trial": ALL, "resubscribe": ALL,
    "paused": (OLD, NEW, ENDIVE), "mixed_intervals": (NEW, ENDIVE),
}


def build(name: str, c: sim.Customer, api: str) -> Scenario:
    return lifecycle(name, c, pro_price=PRO, business_price=BUSINESS, start=START, api_version=api)


# (scenario, first index, end index, families) of windows small enough to permute exhaustively.
# full[0:5] is the shared-second group: checkout, created (incomplete), updated
# (active), payment_succeeded and paid all carry the same `created`. paused[4:8] is
# past_due, the pause (updated + paused) and the invoice paid after it; mixed_intervals[1:5]
# is created, the invoice billing both intervals, the renewal invoice and updated.
# Five-event windows (120 orders) run in two families each, so every family gets two of
# them; four-event ones (24 orders) run in all their scenario's families.
WINDOWS = [("full", 0, 5, (LEGACY, ENDIVE)), ("full", 5, 10, (OLD, NEW)),
           ("past_due", 3, 7, ALL), ("trial", 0, 5, (LEGACY, NEW)),
           ("resubscribe", 3, 7, ALL), ("paused", 4, 8, (OLD, NEW, ENDIVE)),
           ("mixed_intervals", 1, 5, (NEW, ENDIVE))]
_counter = itertools.count()


def customer_state(app: Flask, customer: sim.Customer, expected_sub: str) -> dict[str, Any]:
    """The state of one customer, with random ids replaced by their role."""
    with app.app_context():
        users = list(db.session.scalars(select(User).where(or_(
            User.stripe_customer_id == customer.customer, User.email == customer.email))))
        assert len(users) == 1, "one customer must give exactly one user"
        user = users[0]
        status = user_status(db.session, user, Policy())
        subs = sorted(
            ("deciding" if s.stripe_subscription_id == expected_sub else "other", s.status,
             s.price_id, s.tier, s.cancel_at_period_end, s.cancel_at, s.current_period_end,
             s.checkout_session_id is not None)
            for s in user.subscriptions)
        return {
            "email": user.email == customer.email,
            "external_id": user.external_id == customer.external_id,
            "customer": user.stripe_customer_id == customer.customer,
            "tier": status["tier"], "entitled": status["entitled"],
            "deciding": status["subscription"]["id"] == expected_sub,
            "key_issued": user.api_key_issued_at is not None and user.api_key_hash is not None,
            "widget_seeded": user.widget_config is not None,
            "subscriptions": subs,
        }


def run(app: Flask, client: FlaskClient, name: str, api: str, order_of: Callable[[int], list[int]]
        ) -> tuple[dict[str, Any], dict[str, Any]]:
    # Endive payloads come from an Accounts v2 customer (`customer_account`).
    customer = sim.Customer.make(f"{name}{next(_counter)}", accounts_v2=api == ENDIVE)
    events, expected = build(name, customer, api)
    deliver_in_order(client, events, order_of(len(events)))
    return customer_state(app, customer, expected["subscription_id"]), expected


def in_order(app: Flask, client: FlaskClient, name: str, api: str) -> dict[str, Any]:
    state, expected = run(app, client, name, api, lambda n: list(range(n)))
    deciding = next(s for s in state["subscriptions"] if s[0] == "deciding")
    assert deciding[1:3] == (expected["status"], expected["price_id"])
    assert deciding[4] == expected["cancel_at_period_end"]
    cancel_at = expected["cancel_at"]
    assert deciding[5] == (datetime.fromtimestamp(cancel_at, UTC) if cancel_at else None)
    assert deciding[6] == datetime.fromtimestamp(expected["current_period_end"], UTC)
    return state


@pytest.mark.parametrize(("name", "lo", "hi", "api"),
                         [(name, lo, hi, api) for name, lo, hi, apis in WINDOWS for api in apis])
def test_every_permutation_of_a_window_with_duplicates_converges(
        app: Flask, client: FlaskClient, name: str, lo: int, hi: int, api: str) -> None:
    reference = in_order(app, client, name, api)
    for perm in itertools.permutations(range(lo, hi)):
        def order_of(n: int, perm: tuple[int, ...] = perm) -> list[int]:
            middle = len(perm) // 2
            window = [*perm[:middle], perm[0], *perm[middle:], perm[-1]]
            return [*range(lo), *window, *range(hi, n)]
        state, _ = run(app, client, name, api, order_of)
        assert state == reference, f"{name} window order {perm}"


@st.composite
def shuffled_with_duplicates(draw: st.DrawFn, n: int) -> list[int]:
    order = list(draw(st.permutations(range(n))))
    for index in draw(st.lists(st.integers(0, n - 1), max_size=4)):
        order.insert(draw(st.integers(order.index(index) + 1, len(order))), index)
    return order


@pytest.mark.parametrize(("name", "api"),
                         [(name, api) for name, apis in FAMILIES.items() for api in apis])
def test_any_order_of_a_whole_lifecycle_converges(app: Flask, client: FlaskClient, name: str,
                                                  api: str) -> None:
    reference = in_order(app, client, name, api)
    size = len(build(name, sim.Customer.make("size"), api)[0])

    @settings(max_examples=15, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(order=shuffled_with_duplicates(size))
    def check(order: list[int]) -> None:
        state, _ = run(app, client, name, api, lambda n: order)
        assert state == reference, f"{name} order {order}"

    check()
