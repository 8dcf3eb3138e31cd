"""Stored history for the "cost does not grow with history" runs, inserted in bulk.

N events already processed, in subsvc's own tables and shape: inbox rows carrying real
lifecycle payloads (about 5 KB each), and one user (with an API key) and one subscription
per ten events, as whole lifecycles leave them. Written straight to the database in big
batches (COPY on Postgres, executemany on SQLite without journal or fsync), since feeding
1,000,000 events through HTTP would take hours; the runs that follow then go through HTTP.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import psycopg
import sqlalchemy as sa

from bench.floor import libpq_url
from subsvc.accounts.ordering import Source, details_version, status_version
from subsvc.models import InboxEvent, Subscription, User
from subsvc.simulate import Json

EVENTS_PER_USER = 10  # a whole lifecycle is about ten events
BATCH = 20_000
STATUSES = ("active",) * 6 + ("canceled",) * 2 + ("trialing", "past_due")
Row = tuple[Any, ...]


def seed_history(database_url: str, events: int, samples: list[Json], price_id: str) -> None:
    """Insert `events` processed inbox rows and the users and subscriptions they made."""
    users = max(1, events // EVENTS_PER_USER)
    now = datetime.now(UTC)
    tables = ((User.__table__, USER_COLUMNS, user_rows(users, now)),
              (Subscription.__table__, SUBSCRIPTION_COLUMNS,
               subscription_rows(users, now, price_id)),
              (InboxEvent.__table__, INBOX_COLUMNS, inbox_rows(events, samples, now)))
    if database_url.startswith("sqlite"):
        seed_sqlite(database_url.split("///", 1)[1], tables)
    else:
        seed_postgres(libpq_url(database_url), tables)


Tables = tuple[tuple[sa.Table, tuple[str, ...], Iterable["Row"]], ...]


def seed_sqlite(path: str, tables: Tables) -> None:
    # Seeding only (nobody else has the file open yet): no journal and no fsync, several
    # times faster; the file goes back to WAL, as subsvc runs it, before the server starts.
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        for table, columns, rows in tables:
            sql = (f"INSERT INTO {table.name} ({', '.join(columns)})"
                   f" VALUES ({', '.join('?' * len(columns))})")
            iterator = iter(rows)
            while batch := list(islice(iterator, BATCH)):
                conn.executemany(sql, [tuple(map(sqlite_value, row)) for row in batch])
        conn.execute("COMMIT")
        conn.execute("PRAGMA optimize")
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()


def sqlite_value(value: Any) -> Any:
    """Datetimes as subsvc's UtcDateTime stores them on SQLite (naive UTC text)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_escaped: dict[str, str] = {}


def copy_line(row: Row) -> str:
    """One row in COPY's text format (psycopg's write_row adapts per value: slower)."""
    return "\t".join(map(copy_value, row)) + "\n"


def copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and len(value) > 256:
        # The payloads repeat (a pool of samples): escape each once.
        if value not in _escaped:
            _escaped[value] = value.translate(COPY_ESCAPES)
        return _escaped[value]
    return str(value).translate(COPY_ESCAPES)


def seed_postgres(url: str, tables: Tables) -> None:
    with psycopg.connect(url) as conn:
        with conn.cursor() as cursor:
            for table, columns, rows in tables:
                with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
                    iterator = iter(rows)
                    while batch := list(islice(iterator, BATCH)):
                        copy.write("".join(copy_line(row) for row in batch))
                # Explicit ids: move the sequence past them for the rows subsvc adds later.
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'),"
                               f" (SELECT max(id) FROM {table.name}))")
        conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE")


USER_COLUMNS = ("id", "email", "external_id", "stripe_customer_id", "api_key_hash",
                "api_key_prefix", "api_key_issued_at", "api_key_revealed_at", "created_at",
                "updated_at")


def user_rows(count: int, now: datetime) -> Iterator[Row]:
    for i in range(count):
        key_hash = hashlib.sha256(f"history-key-{i}".encode()).hexdigest()
        at = now - timedelta(minutes=i % 100_000)
        yield (i + 1, f"hist{i}@example.com", f"hist_{i}", f"cus_H{i:012d}", key_hash,
               f"sk_subsvc_{key_hash[:6]}", at, at, at, at)


SUBSCRIPTION_COLUMNS = ("id", "stripe_subscription_id", "user_id", "stripe_customer_id",
                        "checkout_session_id", "status", "status_version", "price_id", "tier",
                        "cancel_at_period_end", "cancel_at", "details_version",
                        "current_period_end", "last_event_created", "created_at", "updated_at")


def subscription_rows(count: int, now: datetime, price_id: str) -> Iterator[Row]:
    for i in range(count):
        status, event_id = STATUSES[i % len(STATUSES)], f"evt_1H{i:022d}"
        created = int(now.timestamp()) - i % 5_000_000
        yield (i + 1, f"sub_1H{i:022d}", i + 1, f"cus_H{i:012d}", f"cs_test_a1H{i:055d}",
               status, status_version(status, Source.SUBSCRIPTION, created, event_id),
               price_id, "pro", False, None,
               details_version(status, Source.SUBSCRIPTION, created, event_id),
               now + timedelta(days=i % 30), created, now, now)


INBOX_COLUMNS = ("id", "event_id", "type", "api_version", "livemode", "stripe_created",
                 "status", "attempts", "last_error", "payload", "received_at", "processed_at")


def inbox_rows(count: int, samples: list[Json], now: datetime) -> Iterator[Row]:
    payloads = [json.dumps(event, indent=2) for event in samples]
    for i in range(count):
        sample = samples[i % len(samples)]
        at = now - timedelta(seconds=i % 10_000_000)
        yield (i + 1, f"evt_1H{i:022d}", sample["type"], sample["api_version"], False,
               sample["created"], "processed", 1, None, payloads[i % len(payloads)], at, at)
