"""The SQLite write-lock hand-off (subsvc/writelock.py): the flock is held exactly while a
write transaction is open, and never by readers."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest
from sqlalchemy import text

from subsvc import create_app
from subsvc.extensions import db, read_only
from subsvc.writelock import WriteLockedConnection
from tests.conftest import base_config


def lock_is_free(database: Path) -> bool:
    """Whether another open file description could take the flock right now."""
    fd = os.open(f"{database}-writelock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


@pytest.fixture
def app_db(tmp_path: Path):  # type: ignore[no-untyped-def]
    database = tmp_path / "lock.db"
    app = create_app(base_config(f"sqlite:///{database}"))
    with app.app_context():
        db.session.execute(text("CREATE TABLE t (x INTEGER)"))
        db.session.commit()
        yield database


@pytest.mark.parametrize("end", ["commit", "rollback"])
def test_a_write_transaction_holds_the_flock_until_it_ends(app_db: Path, end: str) -> None:
    assert lock_is_free(app_db)
    db.session.execute(text("INSERT INTO t VALUES (1)"))
    assert not lock_is_free(app_db)
    getattr(db.session, end)()
    assert lock_is_free(app_db)
    assert db.session.execute(text("SELECT count(*) FROM t")).scalar_one() == (
        1 if end == "commit" else 0)
    db.session.rollback()


def test_a_failed_statement_keeps_the_lock_until_the_rollback(app_db: Path) -> None:
    db.session.execute(text("INSERT INTO t VALUES (1)"))
    with pytest.raises(Exception, match="no such table"):
        db.session.execute(text("INSERT INTO missing VALUES (1)"))
    assert not lock_is_free(app_db)
    db.session.rollback()
    assert lock_is_free(app_db)


def test_readers_take_no_flock(app_db: Path) -> None:
    db.session.execute(text("INSERT INTO t VALUES (1)"))  # a writer holds it ...
    assert not lock_is_free(app_db)
    db.session.commit()
    with read_only():
        db.session.execute(text("SELECT count(*) FROM t"))
        assert lock_is_free(app_db)  # ... a reader never does
    db.session.rollback()


def test_the_pool_hands_out_write_locked_connections(app_db: Path) -> None:
    raw = db.session.connection().connection.dbapi_connection
    assert isinstance(raw, WriteLockedConnection)
    db.session.rollback()


def test_closing_a_connection_drops_its_flock(tmp_path: Path) -> None:
    database = tmp_path / "close.db"
    conn = WriteLockedConnection(str(database), isolation_level=None)
    conn.begin_immediate()
    assert not lock_is_free(database)
    conn.close()
    assert lock_is_free(database)
