"""Faults under gunicorn: killed workers leave nothing partial and lose no event;
a lost database is a 503.

Nothing of ours is mocked: a worker is blocked on a real lock the test holds,
and the database goes away because the TCP path to it is cut.
"""
from __future__ import annotations

import json
import os
import random
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from subsvc import simulate as sim
from tests.conftest import BACKENDS, PG_URL, PRO
from tests.faults import LOCKS, kill_workers_meanwhile, rows_about, until
from tests.lifecycles import LIFECYCLES, lifecycle_past_due
from tests.server import (
    CONNECTION_ERRORS,
    WHOLE_RUN_SECONDS,
    Json,
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
from tests.tcpproxy import TcpProxy, proxied

pytestmark = pytest.mark.server

START = int(time.time()) - 30 * sim.DAY
# A silent database must be given up on well before gunicorn's 30 s worker timeout.
SILENT_DEADLINE = 15.0
COPIES = 8
# Words that would betray SQL or a stack trace in an answer body.
LEAKS = re.compile(r"traceback|select |insert |update |psycopg|sqlalchemy|sqlite"
                   r"|operationalerror|file \"",
                   re.IGNORECASE)


@pytest.fixture(params=BACKENDS)
def one_worker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    with fresh_database(request.param, tmp_path) as url, gunicorn(url, tmp_path, workers=1) as srv:
        yield srv


@pytest.fixture(params=BACKENDS)
def two_workers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    with fresh_database(request.param, tmp_path) as url, gunicorn(url, tmp_path, workers=2) as srv:
        yield srv


def new_checkout() -> tuple[sim.Customer, Json]:
    c = new_customer()
    events, _ = lifecycle_past_due(c, pro_price=PRO, start=START)
    return c, events[0]


def test_worker_killed_inside_its_transaction_leaves_nothing_and_redelivery_processes(
        one_worker: Server) -> None:
    server = one_worker
    c, checkout = new_checkout()
    dialect = sa.engine.make_url(server.database_url).get_dialect().name
    [worker] = server.worker_pids()
    with ThreadPoolExecutor(max_workers=1) as pool:
        with LOCKS[dialect](server.database_url, c.customer) as worker_is_blocked:
            sent = pool.submit(server.post_event, checkout)
            assert until(worker_is_blocked), f"worker never blocked on the lock\n{server.log()}"
            assert not sent.done()
            os.kill(worker, signal.SIGKILL)
            try:
                answer: Any = sent.result(timeout=30)
            except CONNECTION_ERRORS as exc:
                answer = exc
        assert not (isinstance(answer, Reply) and answer.status < 300), answer

    # Nothing partial is visible; that the redelivery below is `processed`, not `duplicate`,
    # proves the dead transaction never committed either.
    assert rows_about(server.database_url, checkout["id"], c) == \
        {"inbox": 0, "users": 0, "subscriptions": 0}
    server.wait_for_workers(1, excluding={worker})  # gunicorn replaced it

    reply = server.post_event(checkout)
    assert (reply.status, reply.body) == (200, {"status": "processed", "event_id": checkout["id"]})
    status = server.user_status(c.email).body
    assert (status["tier"], status["subscription"]["id"], status["subscription"]["status"]) == (
        "pro", c.subscription, "active")
    assert rows_about(server.database_url, checkout["id"], c) == \
        {"inbox": 1, "users": 1, "subscriptions": 1}
    assert f"(pid:{worker})" in server.log()


def test_workers_killed_at_random_moments_lose_no_event(two_workers: Server) -> None:
    server, rng = two_workers, random.Random()
    journeys = [journey(name, api, START) for name in LIFECYCLES
                for api in (sim.API_OLD, sim.API_NEW)]
    events = [event for _, lifecycle, _ in journeys for event in lifecycle]
    deliveries = [(server.post_event, event) for event in events for _ in range(COPIES)]
    rng.shuffle(deliveries)
    with ThreadPoolExecutor(max_workers=1) as background:
        running = background.submit(deliver_all, deliveries, threads=8)
        killed = kill_workers_meanwhile(server, running, rng)
        first = running.result(timeout=WHOLE_RUN_SECONDS)
    # Then Stripe's retries: every event once more, after the dust settles.
    server.wait_for_workers(2, excluding=killed)
    second = deliver_all([(server.post_event, event) for event in events], threads=8)

    cut = [r for _, r in first if not isinstance(r, Reply)]
    assert killed and cut, f"no kill landed mid-request (killed {killed})"
    replies = [(eid, r) for eid, r in first + second if isinstance(r, Reply)]
    assert all(r.status == 200 for _, r in replies), [r for _, r in replies if r.status != 200]
    assert all(isinstance(r, Reply) for _, r in second), second
    processed = Counter(eid for eid, r in replies if r.body["status"] == "processed")
    assert set(processed.values()) == {1}  # answers lost with a killed worker are the only gaps
    for c, _, expected in journeys:
        status = server.user_status(c.email).body
        assert {key: status[key] for key in ("tier", "entitled", "subscription")} == \
            expected_status(expected), c.email
    inbox = query(server.database_url, "SELECT event_id, status FROM inbox_events")
    assert sorted(inbox) == sorted((event["id"], "processed") for event in events)
    assert server.alarms() == []


@pytest.fixture
def behind_proxy(tmp_path: Path) -> Iterator[tuple[Server, TcpProxy]]:
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL not set")
    target = sa.engine.make_url(PG_URL)
    proxy = TcpProxy((target.host or "127.0.0.1", target.port or 5432))
    proxy.start()
    try:
        with fresh_database("postgres", tmp_path) as url, \
                gunicorn(proxied(url, proxy.port), tmp_path, workers=2) as server:
            yield server, proxy
    finally:
        proxy.stop()


def assert_unavailable(reply: Reply) -> None:
    assert reply.status == 503, reply
    assert isinstance(reply.body.get("error"), str), reply
    assert not LEAKS.search(json.dumps(reply.body)), reply


def assert_heals(server: Server, proxy: TcpProxy, c: sim.Customer, checkout: Json) -> None:
    proxy.start()
    reply = server.post_event(checkout)
    assert (reply.status, reply.body) == (200, {"status": "processed", "event_id": checkout["id"]})
    for _ in range(3):  # both workers, whichever answers
        assert server.request("GET", "/readyz").status == 200
        assert server.post_internal(checkout).body["status"] == "duplicate"
    assert server.user_status(c.email).body["tier"] == "pro"


@pytest.mark.postgres
def test_database_gone_answers_503_json_and_heals_without_restart(
        behind_proxy: tuple[Server, TcpProxy]) -> None:
    server, proxy = behind_proxy
    c, checkout = new_checkout()
    assert server.request("GET", "/readyz").status == 200
    proxy.stop()
    # several rounds, so that both workers (each with its own pool) meet the outage
    for _ in range(3):
        assert_unavailable(server.post_event(checkout))
        assert_unavailable(server.post_internal(checkout))
        assert_unavailable(server.request("GET", "/readyz"))
        assert server.request("GET", "/healthz").status == 200
    assert_heals(server, proxy, c, checkout)
    assert "Traceback" not in server.log()


@pytest.mark.postgres
def test_silent_database_host_answers_503_before_the_worker_timeout(
        behind_proxy: tuple[Server, TcpProxy]) -> None:
    server, proxy = behind_proxy
    c, checkout = new_checkout()
    proxy.stall()
    started = time.monotonic()
    assert_unavailable(server.request("GET", "/readyz", timeout=SILENT_DEADLINE))
    assert_unavailable(server.post_event(checkout, timeout=SILENT_DEADLINE))
    assert time.monotonic() - started < 2 * SILENT_DEADLINE
    assert_heals(server, proxy, c, checkout)
    assert "WORKER TIMEOUT" not in server.log()
