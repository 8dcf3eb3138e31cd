"""Databases and gunicorn servers for one measurement: subsvc and the floor, side by side.

Both run under the repository's gunicorn.conf.py (BIND, WORKERS, THREADS from the
environment), on loopback only, each on a database of its own: a fresh SQLite file, or a
fresh Postgres schema dropped afterwards.
"""
from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.conftest import pg_schema
from tests.server import REPO_ROOT, Server, free_port, run_flask, server_env

BENCH_DIR = Path(__file__).resolve().parent
TIERS_FILE = REPO_ROOT / "subsvc" / "tiers.default.json"
# Signatures are made when the events file is written; the servers accept them for a day, so
# a long run never turns into a run of 400s.
TOLERANCE_SECONDS = 86_400


def gunicorn_conf() -> Path:
    """The repository's gunicorn.conf.py, or the bench's stand-in while there is none."""
    conf = REPO_ROOT / "gunicorn.conf.py"
    return conf if conf.exists() else BENCH_DIR / "gunicorn_placeholder.py"


@contextmanager
def fresh_database(kind: str, pg_url: str | None, workdir: Path, name: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / f'{name}-{uuid.uuid4().hex[:8]}.db'}"
        return
    assert pg_url, "Postgres needs a URL"
    with pg_schema(f"bench_{name.replace('-', '_')}", pg_url) as url:
        yield url


def subsvc_env(database_url: str) -> dict[str, str]:
    return {**server_env(database_url), "STRIPE_WEBHOOK_TOLERANCE": str(TOLERANCE_SECONDS)}


def prepare_subsvc(database_url: str) -> None:
    """The operator's way: migrate, then map the default tiers' prices."""
    env = subsvc_env(database_url)
    run_flask(["db", "upgrade"], env)
    run_flask(["seed", "tiers", "--file", str(TIERS_FILE)], env)


def floor_env(database_url: str) -> dict[str, str]:
    env = subsvc_env(database_url)
    return {**env, "FLOOR_DATABASE_URL": database_url, "DATABASE_URL": ""}


@contextmanager
def gunicorn(app: str, env: dict[str, str], workers: int, workdir: Path,
             threads: int | None) -> Iterator[Server]:
    """Serve `app` ("wsgi:app" or "bench.floor:app") until the block ends."""
    port = free_port()
    env = {**env, "BIND": f"127.0.0.1:{port}", "WORKERS": str(workers)}
    if threads:
        env["THREADS"] = str(threads)
    log_path = workdir / f"{app.split(':')[0]}-{port}.log"
    # --no-control-socket: two gunicorns at once would otherwise share one socket in $HOME.
    command = [sys.executable, "-m", "gunicorn", "-c", str(gunicorn_conf()),
               "--no-control-socket", app]
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log_file,
                                stderr=subprocess.STDOUT)
    server = Server(proc, port, log_path, env.get("FLOOR_DATABASE_URL") or env["DATABASE_URL"])
    try:
        server.wait_until_healthy()
        server.wait_for_workers(workers)
        yield server
    finally:
        server.stop()


def peak_rss_mib(server: Server) -> dict[int, float]:
    """VmHWM (peak resident set) of each live worker, in MiB."""
    peaks = {}
    for pid in server.worker_pids():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks[pid] = int(line.split()[1]) / 1024
    return peaks


def inbox_counts(database_url: str) -> dict[str, int]:
    """subsvc's inbox rows by status."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT status, count(*) FROM inbox_events"
                                        " GROUP BY status"))
            return {str(status): int(n) for status, n in rows}
    finally:
        engine.dispose()


def scalar(database_url: str, sql: str) -> Any:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar()
    finally:
        engine.dispose()

