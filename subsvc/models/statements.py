"""Dialect-aware statements the ORM does not spell: insert-if-absent and per-key locks.

Both lean on the database rather than a prior SELECT, so they stay correct
when several workers (or containers) handle events at the same moment.
"""
from __future__ import annotations

import zlib
from functools import cache
from typing import Any

from sqlalchemy import Connection, Integer, Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite

from subsvc.models.base import DbSession
from subsvc.models.prepared import prepared


def _insert_for(dialect: str) -> Any:
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def dialect_insert(session: DbSession, target: Any) -> Any:
    return _insert_for(session.get_bind().dialect.name)(target)


@cache
def _insert_ignoring_conflicts(dialect: str, model: Any, returning: Any) -> Any:
    # Built once per (dialect, model): the values go in as execute() parameters,
    # so each call is a compiled-cache hit instead of a fresh statement.
    return _insert_for(dialect)(model).on_conflict_do_nothing().returning(returning)


def insert_if_absent(session: DbSession, model: Any, values: dict[str, Any], *,
                     returning: Any = None) -> Any:
    """INSERT … ON CONFLICT DO NOTHING RETURNING the new object (or `returning`), or None.

    One round trip. On Postgres a concurrent uncommitted insert of the same
    key makes this wait for that transaction; if it commits, this returns None.
    """
    returning = model if returning is None else returning
    if isinstance(model, Table):  # a Core row: straight on the connection, no ORM execute path
        connection = core_connection(session)
        stmt = _insert_ignoring_conflicts(connection.dialect.name, model, returning)
        return connection.execute(stmt, values).scalar_one_or_none()
    stmt = _insert_ignoring_conflicts(session.get_bind().dialect.name, model, returning)
    return session.scalars(stmt, values).one_or_none()


def insert_row_if_absent(session: DbSession, table: Any, values: dict[str, Any],
                         returning: Any) -> Any:
    """insert_if_absent of a Core row on the driver's cursor (models/prepared.py), for the
    inbox claim and a newcomer's rows; every column with a Python-side default must be in
    `values` (Prepared refuses a statement that would need one computed)."""
    connection = core_connection(session)
    stmt = prepared(connection, _insert_ignoring_conflicts, connection.dialect.name, table,
                    returning, column_keys=tuple(values))
    return stmt.scalar(connection, values)


# pg_advisory_xact_lock(int, int): the first key is subsvc's own namespace
# ("SUBS"), so its locks never meet those of another application on the database.
ADVISORY_NAMESPACE = 0x5355_4253


def advisory_lock_ids(key: str) -> tuple[int, int]:
    """The (namespace, id) pair of the advisory lock for `key`."""
    # crc32 is stable across processes (unlike hash()); a collision only
    # serialises two unrelated customers, it never breaks correctness.
    crc = zlib.crc32(key.encode())
    return ADVISORY_NAMESPACE, crc - (1 << 32) if crc >= 1 << 31 else crc


@cache
def _claim_locked(table: Any, columns: tuple[str, ...]) -> Any:
    # INSERT … SELECT <values> FROM (SELECT pg_advisory_xact_lock(…)): selecting
    # from the lock makes Postgres take it before the row is inserted, in the
    # same round trip. Statements that follow get a snapshot taken after the
    # lock, so they see everything the previous holder committed.
    ids = bindparam("lock_ns", type_=Integer), bindparam("lock_key", type_=Integer)
    lock = select(func.pg_advisory_xact_lock(*ids).label("locked")).cte("subject_lock")
    params = [bindparam(name, type_=table.c[name].type) for name in columns]
    rows = select(*params).select_from(lock)
    insert = postgresql.insert(table).from_select(list(columns), rows)
    return insert.on_conflict_do_nothing().returning(table.c.id)


def claim_locked(session: DbSession, model: Any, values: dict[str, Any],
                 subject: str | None) -> Any:
    """insert_if_absent RETURNING id that first serialises on `subject` (a Stripe customer), if any.

    Postgres: a transaction-scoped advisory lock, held until commit, taken in
    the INSERT itself. SQLite needs none: a write transaction there already
    holds the database's single write lock.
    """
    table = model.__table__  # a Core statement: the ORM's bulk-insert machinery costs more
    if subject is None or session.get_bind().dialect.name != "postgresql":
        return insert_row_if_absent(session, table, values, table.c.id)
    namespace, key = advisory_lock_ids(subject)
    connection = core_connection(session)
    stmt = prepared(connection, _claim_locked, table, tuple(values))
    return stmt.scalar(connection, {**values, "lock_ns": namespace, "lock_key": key})


def core_connection(session: DbSession) -> Connection:
    """The session's connection in its transaction, for a Core statement on the hot path.

    Executing there skips the ORM's execute machinery (about 0.1 ms a statement). What the
    ORM would have autoflushed before the statement is flushed first (a no-op when clean).
    """
    session.flush()
    return session.connection()
