"""Dialect-aware statements the ORM does not spell: insert-if-absent and per-key locks.

Both lean on the database rather than a prior SELECT, so they stay correct
when several workers (or containers) handle events at the same moment.
"""
from __future__ import annotations

import zlib
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


M = TypeVar("M")


def dialect_insert(session: Session, target: Any) -> Any:
    name = session.get_bind().dialect.name
    return (postgresql.insert if name == "postgresql" else sqlite.insert)(target)


@cache
def _insert_ignoring_conflicts(dialect: str, model: Any, returning: Any) -> Any:
    # Built once per (dialect, model): the values go in as execute() parameters,
    # so each call is a compiled-cache hit instead of a fresh statement.
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(model).on_conflict_do_nothing().returning(returning)


def insert_if_absent(session: Session, model: type[M], values: dict[str, Any], *,
                     returning: Any = None) -> Any:
    """INSERT … ON CONFLICT DO NOTHING RETURNING the new object (or `returning`), or None.

    One round trip. On Postgres a concurrent uncommitted insert of the same
    key makes this wait for that transaction; if it commits, this returns None.
    """
    dialect = session.get_bind().dialect.name
    stmt = _insert_ignoring_conflicts(dialect, model, model if returning is None else returning)
    return session.scalars(stmt, values).one_or_none()


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
