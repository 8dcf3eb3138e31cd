"""Real gunicorn over real HTTP for the server tests:
prepare a database, start, talk, inspect, stop.

The database is prepared the operator's way (`flask db upgrade`, `flask seed tiers --file`),
so these tests also prove the migrations and the CLI against a live server.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from subsvc import simulate as sim
from subsvc.config import SETTINGS
from tests.builders import internal_headers, iso
from tests.conftest import (
    ADMIN_TOKEN,
    BUSINESS,
    INTERNAL_SECRET,
    PRO,
    TEST_TIERS,
    WEBHOOK_SECRET,
    pg_schema,
)
from tests.lifecycles import Expected, lifecycle

Json = dict[str, Any]
Post = Callable[[Json], "Reply"]

REPO_ROOT = Path(__file__).resolve().parents[1]
TIER_OF_PRICE = {price: tier["name"] for tier in TEST_TIERS for price in tier["prices"]}
ENTITLED = {"active", "trialing", "past_due"}  # with PAST_DUE_KEEPS_TIER at its default
BOOT_DEADLINE = 30.0
REQUEST_TIMEOUT = 30.0
WHOLE_RUN_SECONDS = 90.0
STOP_DEADLINE = 10.0
# What a server log must never contain after a run that was meant to go well.
LOG_ALARMS = ("database is locked", "deadlock", "Traceback")
# What a client may see when the worker serving it dies mid-request.
CONNECTION_ERRORS = (ConnectionError, http.client.HTTPException, urllib.error.URLError,
                     TimeoutError)


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]


def new_customer() -> sim.Customer:
    return sim.Customer.make(uuid.uuid4().hex[:10])


def journey(name: str, api: str, start: int) -> tuple[sim.Customer, list[Json], Expected]:
    """A new customer's lifecycle (tests.lifecycles names) on the prices of TEST_TIERS."""
    c = new_customer()
    events, expected = lifecycle(name, c, pro_price=PRO, business_price=BUSINESS, start=start,
                                 api_version=api)
    return c, events, expected


def expected_status(expected: Expected) -> dict[str, Any]:
    """The part of the status JSON a lifecycle's expected final values pin down."""
    entitled = expected["status"] in ENTITLED
    return {
        "tier": TIER_OF_PRICE[expected["price_id"]] if entitled else "free",
        "entitled": entitled,
        "subscription": {
            "id": expected["subscription_id"], "status": expected["status"],
            "price_id": expected["price_id"],
            "current_period_end": iso(expected["current_period_end"]),
            "cancel_at_period_end": expected["cancel_at_period_end"],
            "cancel_at": (None if expected["cancel_at"] is None else iso(expected["cancel_at"])),
        },
    }


def query(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of `sql` on the server's database, read beside it as an operator would."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(database_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    # Every setting is given (empty = unset) so that a developer's .env can never leak in:
    # python-dotenv does not override variables that are already present.
    env = {**os.environ, **{setting.name: "" for setting in SETTINGS}}
    env.update(DATABASE_URL=database_url, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
               INTERNAL_WEBHOOK_SECRET=INTERNAL_SECRET, STATUS_ADMIN_TOKEN=ADMIN_TOKEN,
               LOG_FORMAT="text", FLASK_APP="subsvc", PYTHONUNBUFFERED="1")
    env.update(extra or {})
    return env


def gunicorn_env(port: int, workers: int) -> dict[str, str]:
    """gunicorn.conf.py's variables: this port and worker count, the default thread count."""
    return {"BIND": f"127.0.0.1:{port}", "WORKERS": str(workers), "THREADS": "", "PORT": ""}


def run_flask(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "flask", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def prepare_database(database_url: str, workdir: Path) -> None:
    env = server_env(database_url)
    tiers = workdir / "tiers.json"
    tiers.write_text(json.dumps({"tiers": TEST_TIERS}))
    run_flask(["db", "upgrade"], env)
    run_flask(["seed", "tiers", "--file", str(tiers)], env)


@contextmanager
def fresh_database(backend: str, workdir: Path) -> Iterator[str]:
    """A database URL of this test's own: a temp SQLite file,
    or a Postgres schema dropped afterwards.
    """
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'server.db'}"
        return
    with pg_schema() as url:
        yield url


class Client:
    """Talks HTTP to a subsvc at `url`: a gunicorn of the tests' own, or a container."""

    def __init__(self, url: str) -> None:
        self.url = url

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, timeout: float = REQUEST_TIMEOUT) -> Reply:
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return Reply(resp.status, _json(resp.read()))
        except urllib.error.HTTPError as exc:
            with exc:
                return Reply(exc.code, _json(exc.read()))

    def post_event(self, event: Json, timeout: float = REQUEST_TIMEOUT) -> Reply:
        body, headers = sim.signed_request(event, WEBHOOK_SECRET)
        return self.request("POST", "/api/webhooks/stripe", body, headers, timeout)

    def post_internal(self, event: Json, timeout: float = REQUEST_TIMEOUT) -> Reply:
        return self.request("POST", "/subscriptions/internal/stripe-webhook", sim.dumps(event),
                            internal_headers(), timeout)

    def user_status(self, email: str) -> Reply:
        query = urllib.parse.urlencode({"email": email})
        return self.request("GET", f"/status/api/users?{query}",
                            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})


class Server(Client):
    """A running gunicorn: its address, its log, its processes."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log_path: Path,
                 database_url: str) -> None:
        super().__init__(f"http://127.0.0.1:{port}")
        self.proc, self.port, self.log_path = proc, port, log_path
        self.database_url = database_url

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alarms(self) -> list[str]:
        return [line for line in self.log().splitlines() if any(a in line for a in LOG_ALARMS)]

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        with suppress(OSError):
            return [int(pid) for pid in children.read_text().split()]
        return []

    def wait_for_workers(self, count: int, *, excluding: Collection[int] = (),
                         deadline: float = BOOT_DEADLINE) -> list[int]:
        """The pids of `count` workers, none of them in `excluding` (killed ones not yet reaped)."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            pids = [pid for pid in self.worker_pids() if pid not in excluding]
            if len(pids) == count:
                return pids
            time.sleep(0.05)
        raise AssertionError(f"expected {count} workers, have {self.worker_pids()}\n{self.log()}")

    def wait_until_healthy(self, deadline: float = BOOT_DEADLINE) -> None:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"gunicorn exited with {self.proc.returncode}:\n{self.log()}")
            with suppress(*CONNECTION_ERRORS):
                if self.request("GET", "/healthz").status == 200:
                    return
            time.sleep(0.1)
        raise AssertionError(f"gunicorn not healthy after {deadline}s:\n{self.log()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_DEADLINE)


@contextmanager
def gunicorn(database_url: str, workdir: Path, *, workers: int = 4,
             env: dict[str, str] | None = None) -> Iterator[Server]:
    """Migrate and seed `database_url`, then serve it with gunicorn until the block ends.

    `env` adds to (or overrides) the server's environment, e.g. LOG_FORMAT or LOG_LEVEL.
    """
    prepare_database(database_url, workdir)
    port = free_port()
    log_path = workdir / f"gunicorn-{port}.log"
    # The production configuration (gunicorn.conf.py), through its own environment interface.
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    proc_env = {**server_env(database_url), **gunicorn_env(port, workers), **(env or {})}
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(command, cwd=REPO_ROOT, env=proc_env, stdout=log_file,
                                stderr=subprocess.STDOUT)
    server = Server(proc, port, log_path, database_url)
    try:
        server.wait_until_healthy()
        server.wait_for_workers(workers)
        yield server
    finally:
        server.stop()


def deliver_all(deliveries: list[tuple[Post, Json]], *, threads: int,
                deadline: float = WHOLE_RUN_SECONDS) -> list[tuple[str, Reply | Exception]]:
    """Make every (post, event) call from a pool of client threads; (event id, reply or error) each.

    Bounded as a whole by `deadline`; a connection cut by a dying worker is returned, not raised.
    """
    def send(post: Post, event: Json) -> tuple[str, Reply | Exception]:
        try:
            return event["id"], post(event)
        except CONNECTION_ERRORS as exc:
            return event["id"], exc

    pool = ThreadPoolExecutor(max_workers=threads)
    try:
        futures = [pool.submit(send, post, event) for post, event in deliveries]
        done, pending = wait(futures, timeout=deadline)
        assert not pending, f"{len(pending)} deliveries still pending after {deadline}s"
        return [future.result() for future in done]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        return {"_raw": raw.decode(errors="replace")}
    return body if isinstance(body, dict) else {"_raw": body}
