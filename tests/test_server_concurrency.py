"""Exactly once, nothing lost: gunicorn workers fed every event several times at once over HTTP.

Each test gets its own database (a SQLite file or a Postgres schema), migrated
and seeded through the CLI, and a real gunicorn with 4 workers in front of it.
"""
from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from subsvc import simulate as sim
from tests.conftest import BACKENDS, PRO
from tests.lifecycles import LIFECYCLES, Expected, lifecycle_past_due
from tests.server import (
    Json,
    Post,
    Reply,
    Server,
    deliver_all,
    expected_status,
    fresh_database,
    gunicorn,
    journey,
    new_customer,
    query,
)

pytestmark = pytest.mark.server

START = int(time.time()) - 120 * sim.DAY
WORKERS = 4
CLIENT_THREADS = 24
COPIES = (4, 8)
# (lifecycle, API version) of each of the 12 customers: every pair once, then four more.
JOURNEYS = [(name, api) for api in (sim.API_OLD, sim.API_NEW) for name in LIFECYCLES] + [
    ("full", sim.API_NEW), ("past_due", sim.API_OLD), ("trial", sim.API_NEW),
    ("resubscribe", sim.API_OLD),
]


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    with fresh_database(request.param, tmp_path) as url, \
            gunicorn(url, tmp_path, workers=WORKERS) as srv:
        yield srv


def customer_created(c: sim.Customer, api: str) -> Json:
    # The customer's email, for linking (already on the user the checkout made, or not yet).
    obj = sim.customer(customer=c.customer, email=c.email, created=START, api_version=api)
    return sim.event("customer.created", obj, created=START, api_version=api)



def test_every_event_delivered_many_times_at_once_is_applied_exactly_once(server: Server) -> None:
    rng = random.Random()
    events: list[Json] = []
    expectations: dict[str, Expected] = {}
    for name, api in JOURNEYS:
        c, lifecycle, expected = journey(name, api, START)
        events += [*lifecycle, customer_created(c, api)]
        expectations[c.email] = expected
    # Both doors lead to the same inbox: about a third of the copies use the internal endpoint.
    doors: list[Post] = [server.post_event, server.post_event, server.post_internal]
    deliveries = [(rng.choice(doors), event)
                  for event in events for _ in range(rng.randint(*COPIES))]
    rng.shuffle(deliveries)

    results = deliver_all(deliveries, threads=CLIENT_THREADS)

    failed = [(eid, r) for eid, r in results
              if not (isinstance(r, Reply) and 200 <= r.status < 300)]
    assert not failed, f"{len(failed)} failed deliveries, e.g. {failed[:5]}\n{server.alarms()}"
    answers: dict[str, Counter[str]] = defaultdict(Counter)
    for eid, reply in results:
        assert isinstance(reply, Reply) and reply.body["event_id"] == eid
        answers[eid][reply.body["status"]] += 1
    copies = Counter(event["id"] for _, event in deliveries)
    not_once = {e["id"]: dict(answers[e["id"]]) for e in events
                if answers[e["id"]] != Counter({"processed": 1, "duplicate": copies[e["id"]] - 1})}
    assert not not_once, f"events not answered exactly once: {not_once}"
    for email, expected in expectations.items():
        reply = server.user_status(email)
        assert reply.status == 200, (email, reply)
        assert {key: reply.body[key] for key in ("tier", "entitled", "subscription")} == \
            expected_status(expected), email
    assert query(server.database_url,
                 "SELECT count(*), min(status), max(status) FROM inbox_events "
                 "WHERE status NOT IN ('processed', 'ignored')") == [(0, None, None)]
    assert server.alarms() == []


def test_events_about_one_new_customer_arriving_together_create_one_user(server: Server) -> None:
    customers = [new_customer() for _ in range(16)]
    # checkout, subscription.created, invoice.paid and customer.created of each new customer,
    # each twice, all eight fired together by one barrier per customer: same-customer and
    # same-id races at once.
    apis = [sim.API_NEW if i % 2 else sim.API_OLD for i in range(len(customers))]
    groups = [2 * [*lifecycle_past_due(c, pro_price=PRO, start=START,
                                       api_version=api)[0][:3], customer_created(c, api)]
              for c, api in zip(customers, apis, strict=True)]

    def together(barrier: threading.Barrier) -> Post:
        def post(event: Json) -> Reply:
            barrier.wait()
            return server.post_event(event)
        return post

    deliveries = [(together(barrier), event) for group in groups
                  for barrier in [threading.Barrier(len(group), timeout=30)] for event in group]
    # A multiple of the group size, so that no barrier waits for a thread the pool cannot give.
    results = deliver_all(deliveries, threads=4 * len(groups[0]))

    assert all(isinstance(r, Reply) and r.status == 200 for _, r in results), results
    answers = Counter((eid, r.body["status"]) for eid, r in results if isinstance(r, Reply))
    assert answers == Counter({(event["id"], answer): 1 for group in groups for event in group[:4]
                               for answer in ("processed", "duplicate")})
    users = query(server.database_url, "SELECT stripe_customer_id, email, external_id FROM users")
    assert sorted(users) == sorted((c.customer, c.email, c.external_id) for c in customers)
    subscriptions = query(server.database_url,
                          "SELECT s.stripe_subscription_id, u.stripe_customer_id "
                          "FROM subscriptions s JOIN users u ON u.id = s.user_id")
    assert sorted(subscriptions) == sorted((c.subscription, c.customer) for c in customers)
    assert server.alarms() == []
