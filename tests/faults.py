"""What the server fault tests do to a running gunicorn from outside, and how they look at what is left.

They hold the very database lock a worker needs, SIGKILL workers, and count rows with a connection of their own.
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
from subsvc.models.statements import advisory_lock_ids
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
def postgres_customer_lock(database_url: str, customer_id: str) -> Iterator[Probe]:
    """Hold the advisory lock the handlers take for this customer (statements.lock_key).

    Yields a probe that is true once another backend waits for it, i.e. a worker
    sits inside its transaction, after its inbox INSERT.
    """
    namespace, key = advisory_lock_ids(customer_id)
    ids = {"ns": namespace, "key": key, "objid": key & 0xFFFF_FFFF}
    engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    # A backend waiting for our lock while holding the row lock of its own inbox INSERT.
    # The two-key form shows up in pg_locks as classid, objid and objsubid = 2.
    waiting = sa.text(
        "SELECT count(*) FROM pg_locks w JOIN pg_locks i ON i.pid = w.pid "
        "WHERE w.locktype = 'advisory' AND NOT w.granted AND w.objsubid = 2 "
        "AND w.classid = CAST(:ns AS oid) AND w.objid = CAST(:objid AS oid) "
        "AND i.locktype = 'relation' AND i.granted "
        "AND i.relation = CAST('inbox_events' AS regclass) AND i.mode = 'RowExclusiveLock'")
    try:
        with engine.connect() as holder, engine.connect() as observer:
            holder.execute(sa.text("SELECT pg_advisory_lock(:ns, :key)"), ids)
            yield lambda: observer.execute(waiting, ids).scalar_one() > 0
            holder.execute(sa.text("SELECT pg_advisory_unlock(:ns, :key)"), ids)
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
