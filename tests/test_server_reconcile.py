"""`flask stripe reconcile` while gunicorn workers take live webhooks: nothing lost or doubled.

Stripe is played by tests/stripe_api.py (with a 429 now and then); the workers
fetch thin events' objects from it too.
"""
from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from subsvc import simulate as sim
from subsvc.events import subscription_period_end, subscription_prices
from tests.conftest import BACKENDS, PRO, own_app
from tests.lifecycles import LIFECYCLES, Expected
from tests.server import (
    Json,
    Reply,
    Server,
    deliver_all,
    expected_status,
    fresh_database,
    gunicorn,
    journey,
    query,
)
from tests.stripe_api import SECRET_KEY, FakeStripe, fake_stripe

pytestmark = pytest.mark.server

START = int(time.time()) - 25 * sim.DAY  # within the Events API's 30 days
JOURNEYS = [(name, api) for name in LIFECYCLES for api in (sim.API_OLD, sim.API_NEW)]


@pytest.fixture
def stripe() -> Iterator[FakeStripe]:
    with fake_stripe(rate_limit_every=7, page_cap=4) as fake:
        yield fake


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path, stripe: FakeStripe) -> Iterator[Server]:
    env = {"STRIPE_SECRET_KEY": SECRET_KEY, "STRIPE_API_BASE": stripe.url}
    with fresh_database(request.param, tmp_path) as url, \
            gunicorn(url, tmp_path, workers=4, env=env) as srv:
        yield srv


def current_objects(events: list[Json], expected: Expected) -> list[Json]:
    """Stripe's subscriptions now: each one's newest event's object; the expected one must agree."""
    newest: dict[str, Json] = {}
    for event in sorted(events, key=lambda e: e["created"]):
        if event["type"].startswith("customer.subscription."):
            newest[event["data"]["object"]["id"]] = event["data"]["object"]
    obj = newest[expected["subscription_id"]]
    assert (obj["status"], subscription_prices(obj)[0]["id"], obj["cancel_at_period_end"],
            subscription_period_end(obj)) == (
        expected["status"], expected["price_id"], expected["cancel_at_period_end"],
        expected["current_period_end"])
    return list(newest.values())


def run_reconcile(server: Server, stripe: FakeStripe) -> tuple[int, Json]:
    with own_app(server.database_url, STRIPE_SECRET_KEY=SECRET_KEY,
                 STRIPE_API_BASE=stripe.url) as app:
        result = app.test_cli_runner().invoke(args=["stripe", "reconcile", "--json"])
        return result.exit_code, json.loads(result.stdout)


def test_reconcile_during_live_traffic_loses_and_doubles_nothing(server: Server,
                                                                 stripe: FakeStripe) -> None:
    rng = random.Random()
    events: list[Json] = []
    expectations: dict[str, Expected] = {}
    for name, api in JOURNEYS:
        c, lifecycle, expected = journey(name, api, START)
        for obj in current_objects(lifecycle, expected):
            stripe.put(obj)
        for event in lifecycle:  # about half never reached the endpoint, Stripe says
            stripe.add_event(event, delivered=rng.random() < 0.5)
        events += lifecycle
        expectations[c.email] = expected
    thin_customer = sim.Customer.make("thinlive")
    stripe.put(sim.subscription(customer=thin_customer.customer, sub_id=thin_customer.subscription,
                                price_id=PRO, period_start=START,
                                period_end=sim.add_interval(START)))
    thin = sim.thin_event("customer.subscription.created", thin_customer.subscription,
                          "subscription")
    deliveries = [(server.post_event, e) for e in [*events, thin] for _ in range(rng.randint(1, 3))]
    rng.shuffle(deliveries)

    outcome: dict[str, Any] = {}
    reconciler = threading.Thread(target=lambda: outcome.update(
        zip(("code", "report"), run_reconcile(server, stripe), strict=True)))
    reconciler.start()
    results = deliver_all(deliveries, threads=12)
    reconciler.join(timeout=120)
    assert not reconciler.is_alive()

    assert all(isinstance(r, Reply) and r.status == 200 for _, r in results), [
        r for _, r in results if not (isinstance(r, Reply) and r.status == 200)][:5]
    assert outcome["code"] == 0, json.dumps(outcome["report"], indent=1)
    report = outcome["report"]
    answers = Counter(r.body["status"] for _, r in results if isinstance(r, Reply))
    processed = (answers["processed"] + report["events"]["outcomes"].get("processed", 0)
                 + report["thin_events"]["outcomes"].get("processed", 0))
    assert processed == len(events) + 1  # each event applied once, by a worker or by reconcile
    assert set(answers) <= {"processed", "duplicate", "pending"}
    rows = query(server.database_url, "SELECT event_id, status, attempts FROM inbox_events")
    assert sorted(rows) == sorted((e["id"], "processed", 1) for e in [*events, thin])

    for email, expected in expectations.items():
        reply = server.user_status(email)
        assert reply.status == 200, (email, reply)
        assert {key: reply.body[key] for key in ("tier", "entitled", "subscription")} == \
            expected_status(expected), email
    users = query(server.database_url,
                  "SELECT count(*), count(DISTINCT stripe_customer_id) FROM users")
    assert users == [(len(expectations) + 1, len(expectations) + 1)]
    thin_sub = query(server.database_url, "SELECT status, tier FROM subscriptions WHERE "
                     f"stripe_subscription_id = '{thin_customer.subscription}'")
    assert thin_sub == [("active", "pro")]

    code, again = run_reconcile(server, stripe)  # traffic over: nothing left to do
    assert code == 0, again
    assert again["subscriptions"]["drift"] == [] and set(again["events"]["outcomes"]) == {
        "duplicate"}
    assert server.alarms() == []


