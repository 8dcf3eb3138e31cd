"""What the server fault tests do to a running gunicorn from outside,
and how they look at what is left.

They hold the very database lock a worker needs, SIGKILL workers, and count rows with a
connection of their own.
"""
from __future__ import annotations

import os
import random
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from subsvc import simulate as sim
from tests.server import Server

BLOCK_DEADLINE = 10.0
KILLS = 3
BOOT_SECONDS = 1.5

Probe = Callable[[], bool]


def until(condition: Probe, deadline: float = BLOCK_DEADLINE) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


@contextmanager
def postgres_pending_user(database_url: str, customer_id: str) -> Iterator[Probe]:
    """Hold an uncommitted user row for this customer, so a worker's own user INSERT waits on it.

    Yields a probe that is true once a worker waits on our transaction while it
    has already written its inbox row: it sits mid-transaction, with uncommitted
    writes of its own, when the test kills it.
    """
    engine = sa.create_engine(database_url)
    waiting = sa.text(
        "SELECT count(*) FROM pg_locks w JOIN pg_locks i ON i.pid = w.pid "
        "WHERE w.locktype = 'transactionid' AND NOT w.granted AND w.pid <> pg_backend_pid() "
        "AND i.locktype = 'relation' AND i.granted "
        "AND i.relation = CAST('inbox_events' AS regclass) AND i.mode = 'RowExclusiveLock'")
    try:
        with engine.connect() as holder, engine.connect() as observer:
            holder.execute(sa.text(
                "INSERT INTO users (stripe_customer_id, created_at, updated_at) "
                "VALUES (:customer, now(), now())"), {"customer": customer_id})

            def worker_is_waiting() -> bool:
                found = observer.execute(waiting).scalar_one() > 0
                observer.rollback()  # a fresh snapshot of pg_locks each time
                return found
            yield worker_is_waiting
            holder.rollback()
    finally:
        engine.dispose()


def after_a_pause() -> bool:
    # Waiting on SQLite's busy_timeout cannot be observed from outside; a pause stands in.
    time.sleep(1.0)
    return True


@contextmanager
def sqlite_write_lock(database_url: str, customer_id: str) -> Iterator[Probe]:
    """Hold SQLite's single write lock (one for all customers);
    a worker then waits in BEGIN IMMEDIATE.
    """
    conn = sqlite3.connect(sa.engine.make_url(database_url).database or "", isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield after_a_pause
        conn.execute("ROLLBACK")
    finally:
        conn.close()


LOCKS = {"postgresql": postgres_pending_user, "sqlite": sqlite_write_lock}


def rows_about(database_url: str, event_id: str, c: sim.Customer) -> dict[str, int]:
    queries = {
        "inbox": ("SELECT count(*) FROM inbox_events WHERE event_id = :v", event_id),
        "users": ("SELECT count(*) FROM users WHERE stripe_customer_id = :v OR email = :e",
                  c.customer),
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
