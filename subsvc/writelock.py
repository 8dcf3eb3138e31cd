"""SQLite's write lock handed from writer to writer by the kernel instead of by sleeping.

SQLite lets one connection write at a time. A connection that finds the lock taken
calls its busy handler, which *sleeps* (1, 2, 5, 10 … up to 100 ms) and tries again: it
is not woken when the lock is released. Under concurrent webhooks (gunicorn's threads
and workers all writing one file) most of a request's time went to those sleeps, and
p99 latency to the longest of them.

So every write transaction on a file-backed database first takes an exclusive flock(2)
on a lock file beside it (`<database>-writelock`), then runs BEGIN IMMEDIATE, and drops
the flock right after its COMMIT or ROLLBACK. A writer waiting in flock sleeps in the
kernel and is woken the moment the holder lets go, across threads (each connection opens
the file itself, so each has its own lock) and across gunicorn's worker processes. A
process that dies drops its flock with it. Durability is untouched: the commit still
goes through SQLite with synchronous=FULL before the lock is passed on.

The wait has no timeout of its own: the flock is held exactly as long as SQLite's write
lock, and our write transactions never wait on anything outside the database (see
extensions._sqlite_on_begin). Writers outside this module (another program, the sqlite3
shell) still meet SQLite's busy handler and its 30 s timeout, as before.
"""
from __future__ import annotations

import fcntl
import os
import sqlite3
from typing import Any


class WriteLockedConnection(sqlite3.Connection):
    """A pysqlite connection that holds its lock file's flock during a write transaction.

    Passed to sqlite3.connect as `factory` (extensions.engine_options). SQLAlchemy ends
    transactions through commit() and rollback(), and the pool's reset-on-return calls
    rollback(), so the flock can never outlive the connection's checkout.
    """

    def __init__(self, database: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._lock_fd = os.open(f"{os.fsdecode(database)}-writelock",
                                os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._locked = False

    def begin_immediate(self) -> None:
        """BEGIN IMMEDIATE once this connection holds the flock (waiting for it if need be)."""
        if not self._locked:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            self._locked = True
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release()
            raise

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._lock_fd >= 0:  # closing the file drops its flock
                os.close(self._lock_fd)
                self._lock_fd = -1
                self._locked = False

    def _release(self) -> None:
        # A COMMIT that failed leaves the transaction open (and the lock held) until the
        # ROLLBACK that follows it.
        if self._locked and not self.in_transaction:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            self._locked = False
