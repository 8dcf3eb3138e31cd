"""Unbound Flask extensions, bound in create_app, plus SQLite connection set-up."""
from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from subsvc.filemodes import create_private
from subsvc.models.base import Base
from subsvc.writelock import WriteLockedConnection

db = SQLAlchemy(model_class=Base)

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Set while a read-only view runs (read_only()): its transactions begin DEFERRED on SQLite.
_read_only: ContextVar[bool] = ContextVar("subsvc_read_only", default=False)

P = ParamSpec("P")
R = TypeVar("R")


def reconnecting(view: Callable[P, R]) -> Callable[P, R]:
    """Run a read-only view once more when its pooled connection turns out to be dead.

    The pool is not pinged before use (that would cost a round trip per
    request), so after a database restart the first statement on each stale
    connection fails. SQLAlchemy then invalidates the whole pool, and the
    second run gets a fresh connection: a product back end sees one slow
    answer instead of a 503. The whole view re-runs, so no half-read state is
    kept; only a dead pooled connection is retried, never a refused connect.
    Each run's transactions begin as readers (read_only).
    """
    @wraps(view)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with read_only():
            try:
                return view(*args, **kwargs)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                db.session.rollback()
                return view(*args, **kwargs)
    return run


@contextmanager
def read_only() -> Iterator[None]:
    """Transactions begun inside start as readers: on SQLite BEGIN (DEFERRED), not IMMEDIATE.

    A WAL reader takes no lock that a writer waits for, so lookups run beside event
    transactions and beside each other instead of queueing for the single write lock.
    Only for code that never writes (a deferred transaction that tried to could fail with
    "database is locked"). A context variable rather than a connection option, so that no
    connection is made before the view asks for one (it handles an unreachable database).
    """
    token = _read_only.set(True)
    try:
        yield
    finally:
        _read_only.reset(token)


def engine_options(database_url: str) -> dict[str, Any]:
    # hide_parameters: bound values (emails, key hashes, event bodies) stay out
    # of exception messages and so out of logs and the inbox's error text.
    # max_overflow -1: no cap of the pool's own. A connection is held only by a thread serving
    # a request, so gunicorn's THREADS already bounds each worker's connections (WORKERS x
    # THREADS in all), and no thread ever waits for a free one. pool_size is what stays open idle.
    if database_url.startswith("sqlite"):
        connect_args: dict[str, Any] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        options: dict[str, Any] = {"hide_parameters": True, "connect_args": connect_args}
        if is_sqlite_file(database_url):  # :memory: uses a one-connection-per-thread pool
            options["max_overflow"] = -1
            connect_args["factory"] = WriteLockedConnection  # writers queue in flock(2)
        return options
    # No pool_pre_ping: it costs a round trip per request. SQLAlchemy drops the
    # whole pool on the first disconnect error, and inbox.receive retries once.
    # connect_timeout: a database host that accepts but never answers must give
    # a 503 in seconds, not hold the worker until gunicorn kills it.
    # Keepalives notice a peer that vanished under an open connection.
    return {"hide_parameters": True,
            "pool_size": 5, "max_overflow": -1, "pool_recycle": 1800,
            "connect_args": {"connect_timeout": 5, "keepalives": 1, "keepalives_idle": 30,
                             "keepalives_interval": 10, "keepalives_count": 3}}


def sqlite_file(database_url: str) -> Path | None:
    """The file of a file-backed SQLite URL; None for other databases and in-memory ones."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if url.query.get("uri"):  # "file:…?mode=memory" and friends: SQLite's own URI syntax
        return None
    return Path(url.database)


def is_sqlite_file(database_url: str) -> bool:
    return sqlite_file(database_url) is not None


def create_sqlite_file(database_url: str) -> None:
    """Create a file-backed SQLite database's file mode 0600 before SQLite does (umask mode).

    It holds emails and key hashes. SQLite gives the -wal and -shm files beside it the same
    mode. A file that exists keeps its mode; a missing directory is left for SQLite to report.
    """
    path = sqlite_file(database_url)
    if path is not None:
        with suppress(FileNotFoundError):
            create_private(path)


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    # Take transaction control away from pysqlite (it would BEGIN lazily and
    # run SELECTs outside any transaction); _sqlite_on_begin issues BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # WAL lets readers run beside the single writer; it is a property of the
    # database file and a no-op for :memory:.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_on_begin(conn: Any) -> None:
    if conn.dialect.name != "sqlite":
        return
    # IMMEDIATE takes the write lock up front, waiting out busy_timeout. A
    # deferred transaction that reads and then writes can instead fail at once
    # with "database is locked" when another worker committed in between.
    # The price: on SQLite even a read holds the lock until its transaction
    # ends, so code must not read and then wait on something else (an HTTP call)
    # with the transaction open. Requests end theirs at teardown. Read-only views
    # (read_only()) begin DEFERRED: in WAL mode a reader waits for nobody.
    dbapi_connection = conn.connection.dbapi_connection
    if _read_only.get():
        dbapi_connection.execute("BEGIN")  # straight to the driver: no statement machinery
        return
    if isinstance(dbapi_connection, WriteLockedConnection):
        dbapi_connection.begin_immediate()  # queues for the write lock without sleeping
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
