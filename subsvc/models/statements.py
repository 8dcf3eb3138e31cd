"""Dialect-aware statements the ORM does not spell: insert-if-absent and per-key locks.

Both lean on the database rather than a prior SELECT, so they stay correct
when several workers (or containers) handle events at the same moment.
"""
from __future__ import annotations

import zlib
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


M = TypeVar("M")


def dialect_insert(session: Session, target: Any) -> Any:
    name = session.get_bind().dialect.name
    return (postgresql.insert if name == "postgresql" else sqlite.insert)(target)


def insert_if_absent(session: Session, model: type[M], values: dict[str, Any], *,
                     returning: Any = None) -> Any:
    """INSERT … ON CONFLICT DO NOTHING RETURNING the new object (or `returning`), or None.

    One round trip. On Postgres a concurrent uncommitted insert of the same
    key makes this wait for that transaction; if it commits, this returns None.
    """
    stmt = dialect_insert(session, model).values(**values).on_conflict_do_nothing()
    return session.scalars(stmt.returning(model if returning is None else returning)).one_or_none()


def lock_key(session: Session, key: str) -> None:
    """Serialise transactions about one key (a Stripe customer) until commit.

    Postgres: a transaction-scoped advisory lock. SQLite needs nothing: every
    write transaction there already holds the database's single write lock.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    # crc32 is stable across processes (unlike hash()), and a collision only
    # serialises two unrelated customers, never breaks correctness.
    session.execute(select(func.pg_advisory_xact_lock(zlib.crc32(key.encode()))))
