"""Files holding secrets or user data are created mode 0600, whatever the umask.

`.env` (written by `make run`'s dev secrets) and the SQLite database with its -wal and -shm
files, each under a permissive (000), the usual (022) and a strict (077) umask: under the first
two a file created the ordinary way would be readable by others.
"""
from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text

from subsvc import create_app
from subsvc.devsecrets import ensure_dev_secrets
from subsvc.extensions import db

UMASKS = [0o000, 0o022, 0o077]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=UMASKS, ids=[f"umask{m:03o}" for m in UMASKS])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


@pytest.fixture
def no_dev_secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STRIPE_WEBHOOK_SECRET", "INTERNAL_WEBHOOK_SECRET", "STATUS_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fresh_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point Flask's instance folder (where the default SQLite file lives) at a new directory."""
    instance = tmp_path / "instance"
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(instance))
    return instance


@pytest.mark.usefixtures("umask", "no_dev_secrets_in_env")
def test_dev_secrets_create_env_mode_0600(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    assert ensure_dev_secrets(env)
    assert mode(env) == 0o600


@pytest.mark.usefixtures("umask", "no_dev_secrets_in_env")
def test_dev_secrets_make_an_existing_env_0600_before_writing_secrets_to_it(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("LOG_FORMAT=text\n")
    env.chmod(0o644)
    assert ensure_dev_secrets(env)
    assert mode(env) == 0o600
    assert env.read_text().startswith("LOG_FORMAT=text\n")


def assert_private_database(path: Path, app: Flask) -> None:
    """Write once, then look at the files while the pooled connection keeps -wal and -shm."""
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    with app.app_context():
        db.session.execute(text("CREATE TABLE probe (x INTEGER)"))
        db.session.commit()
        try:
            assert {file.name: mode(file) for file in files} == {file.name: 0o600 for file in files}
        finally:
            db.engine.dispose()


@pytest.mark.usefixtures("umask")
def test_default_sqlite_database_and_its_wal_files_are_0600(fresh_instance: Path) -> None:
    app = create_app({"DATABASE_URL": None})
    assert app.instance_path == str(fresh_instance)
    assert mode(fresh_instance) & 0o077 == 0  # the folder is the owner's too
    assert_private_database(fresh_instance / "subsvc.db", app)


@pytest.mark.usefixtures("umask")
def test_sqlite_file_named_in_database_url_is_0600(tmp_path: Path) -> None:
    path = tmp_path / "named.db"
    assert_private_database(path, create_app({"DATABASE_URL": f"sqlite:///{path}"}))


def test_an_existing_sqlite_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "operator.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    create_app({"DATABASE_URL": f"sqlite:///{path}"})
    assert mode(path) == 0o640
