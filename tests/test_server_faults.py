"""Faults under gunicorn: killed workers leave nothing partial and lose no event; a lost database is a 503.

Nothing of ours is mocked: a worker is blocked on a real lock the test holds,
and the database goes away because the TCP path to it is cut.
"""
from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import sqlite3
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from subsvc import simulate as sim
from tests.conftest import BACKENDS, PG_URL
from tests.server import (
    CONNECTION_ERRORS, PRO, WHOLE_RUN_SECONDS, Json, Reply, Server, deliver_all, expected_status,
    free_port, fresh_database, gunicorn, journey, new_customer,
)

pytestmark = pytest.mark.server

START = int(time.time()) - 30 * sim.DAY
BLOCK_DEADLINE = 10.0
# A silent database must be given up on well before gunicorn's 30 s worker timeout.
SILENT_DEADLINE = 15.0
KILLS = 3
BOOT_SECONDS = 1.5
COPIES = 8
# Words that would betray SQL or a stack trace in an answer body.
LEAKS = re.compile(r"traceback|select |insert |update |psycopg|sqlalchemy|sqlite|operationalerror|file \"",
                   re.IGNORECASE)

Probe = Callable[[], bool]


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
    events, _ = sim.lifecycle_past_due(c, pro_price=PRO, start=START)
    return c, events[0]


def until(condition: Probe, deadline: float = BLOCK_DEADLINE) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


@contextmanager
def postgres_customer_lock(database_url: str, customer_id: str) -> Iterator[Probe]:
    """Hold the advisory lock the handlers take for this customer (statements.lock_key).

    Yields a probe that is true once another backend waits for it, i.e. a worker
    sits inside its transaction, after its inbox INSERT.
    """
    key = zlib.crc32(customer_id.encode())
    engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    # A backend waiting for our lock while holding the row lock of its own inbox INSERT.
    waiting = sa.text(
        "SELECT count(*) FROM pg_locks w JOIN pg_locks i ON i.pid = w.pid "
        "WHERE w.locktype = 'advisory' AND NOT w.granted AND w.classid = 0 "
        "AND w.objid = CAST(:key AS oid) AND i.locktype = 'relation' AND i.granted "
        "AND i.relation = CAST('inbox_events' AS regclass) AND i.mode = 'RowExclusiveLock'")
    try:
        with engine.connect() as holder, engine.connect() as observer:
            holder.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": key})
            yield lambda: observer.execute(waiting, {"key": key}).scalar_one() > 0
            holder.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    finally:
        engine.dispose()


def after_a_pause() -> bool:
    # Waiting on SQLite's busy_timeout cannot be observed from outside; a pause stands in.
    time.sleep(1.0)
    return True


@contextmanager
def sqlite_write_lock(database_url: str, customer_id: str) -> Iterator[Probe]:
    """Hold SQLite's single write lock (one for all customers); a worker then waits in BEGIN IMMEDIATE."""
    conn = sqlite3.connect(sa.engine.make_url(database_url).database or "", isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield after_a_pause
        conn.execute("ROLLBACK")
    finally:
        conn.close()


LOCKS = {"postgresql": postgres_customer_lock, "sqlite": sqlite_write_lock}


def rows_about(database_url: str, event_id: str, c: sim.Customer) -> dict[str, int]:
    queries = {
        "inbox": ("SELECT count(*) FROM inbox_events WHERE event_id = :v", event_id),
        "users": ("SELECT count(*) FROM users WHERE stripe_customer_id = :v OR email = :e", c.customer),
        "subscriptions": ("SELECT count(*) FROM subscriptions WHERE stripe_subscription_id = :v",
                          c.subscription),
    }
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return {name: conn.execute(sa.text(sql), {"v": value, "e": c.email}).scalar_one()
                    for name, (sql, value) in queries.items()}
    finally:
        engine.dispose()


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
    assert rows_about(server.database_url, checkout["id"], c) == {"inbox": 0, "users": 0, "subscriptions": 0}
    server.wait_for_workers(1, excluding={worker})  # gunicorn replaced it

    reply = server.post_event(checkout)
    assert (reply.status, reply.body) == (200, {"status": "processed", "event_id": checkout["id"]})
    status = server.user_status(c.email).body
    assert (status["tier"], status["subscription"]["id"], status["subscription"]["status"]) == (
        "pro", c.subscription, "active")
    assert rows_about(server.database_url, checkout["id"], c) == {"inbox": 1, "users": 1, "subscriptions": 1}
    assert f"(pid:{worker})" in server.log()


def kill_workers_meanwhile(server: Server, running: Future[Any], rng: random.Random) -> list[int]:
    """SIGKILL a serving worker KILLS times while `running` (a future) is not done; the pids killed.

    A worker just forked is still importing the app, so only one seen for BOOT_SECONDS counts
    as serving; the longest-serving one goes first, so a kill lands on one that is busy.
    """
    seen = dict.fromkeys(server.worker_pids(), float("-inf"))  # booted before the run began
    killed: list[int] = []
    while len(killed) < KILLS and not running.done():
        now = time.monotonic()
        alive = [pid for pid in server.worker_pids() if pid not in killed]
        serving = sorted((seen.setdefault(pid, now), pid) for pid in alive)
        if not serving or now - serving[0][0] < BOOT_SECONDS:
            time.sleep(0.05)
            continue
        time.sleep(rng.uniform(0.05, 0.2))
        os.kill(serving[0][1], signal.SIGKILL)
        killed.append(serving[0][1])
    return killed


def test_workers_killed_at_random_moments_lose_no_event(two_workers: Server) -> None:
    server, rng = two_workers, random.Random()
    journeys = [journey(name, api, START) for name in sim.Lifecycle.SCENARIOS
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
    engine = sa.create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            inbox = conn.execute(sa.text("SELECT event_id, status FROM inbox_events")).all()
    finally:
        engine.dispose()
    assert sorted(inbox) == sorted((event["id"], "processed") for event in events)
    assert server.alarms() == []


class TcpProxy:
    """The network between the service and its database, as a TCP forwarder on a port of its own.

    start() forwards; stop() cuts live connections and refuses new ones (the database is
    gone); stall() accepts connections that never get an answer (the host is there, silent).
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target, self.port = target, free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._acceptor: threading.Thread | None = None
        self._hole: socket.socket | None = None

    def start(self) -> None:
        self.stop()
        listener = socket.create_server(("127.0.0.1", self.port))
        listener.settimeout(0.1)  # lets the accept loop notice stop() quickly
        self._stopping.clear()
        self._acceptor = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._acceptor.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        if self._hole is not None:
            sockets.append(self._hole)
            self._hole = None
        for sock in sockets:
            _close(sock)

    def stall(self) -> None:
        self.stop()
        # The kernel completes handshakes into the backlog; nobody ever reads or answers.
        self._hole = socket.create_server(("127.0.0.1", self.port), backlog=64)

    def _accept(self, listener: socket.socket) -> None:
        with listener:
            while not self._stopping.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    _close(client)
                    continue
                for sock in (client, upstream):
                    sock.settimeout(None)
                with self._lock:
                    self._sockets.update((client, upstream))
                for src, dst in ((client, upstream), (upstream, client)):
                    threading.Thread(target=_pump, args=(src, dst), daemon=True).start()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    with suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    _close(src)
    _close(dst)


def _close(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with suppress(OSError):
        sock.close()


def proxied(url: str, port: int) -> str:
    return sa.engine.make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


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
    for _ in range(3):  # several rounds, so that both workers (each with its own pool) meet the outage
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
