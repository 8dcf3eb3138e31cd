"""subsvc against the floor in one process, request by request through each app's WSGI callable.

python -m bench.wsgi [--postgres URL] [--events N] [--rounds R] [--window W]
                     [--profile subsvc|floor]

What each app spends on one request in one thread, without the server and the network: both
apps in their production configuration (INFO logs, here to /dev/null), on databases made the
operator's way (migrations, the bench's tier file), fed the same signed events of the bench mix
in alternating rounds. --window shuffles each run of that many events: the order in which 16
concurrent connections deliver a lifecycle (8 is what make bench's runs see), which sends
more events down the paths for a customer's first event.

A tool for comparing code changes on one machine, before and after; not a result, and not a
predictor of the loaded rate: under gunicorn and wrk a worker spends about twice this CPU per
event (docs/performance.md) and on SQLite the rate is bound by the write lock, not the CPUs.

--profile writes a py-spy speedscope file of that app's event loop (py-spy comes with
`pip install -e .[profile]`, beside this Python).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any

from bench import floor
from bench.events import Prices, stream
from bench.servers import TIERS_FILE
from subsvc import simulate as sim
from tests.conftest import WEBHOOK_SECRET, pg_schema

Environ = dict[str, Any]


def webhook_environ(body: bytes, signature: str) -> Environ:
    return {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/api/webhooks/stripe", "SCRIPT_NAME": "",
        "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json; charset=utf-8", "CONTENT_LENGTH": str(len(body)),
        "HTTP_STRIPE_SIGNATURE": signature, "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0), "wsgi.multithread": False, "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def lookup_environ(path: str, key: str) -> Environ:
    environ = webhook_environ(b"", "")
    environ.update(REQUEST_METHOD="GET", PATH_INFO=path, CONTENT_TYPE="", CONTENT_LENGTH="",
                   HTTP_AUTHORIZATION=f"Bearer {key}")
    return environ


def call(app: Callable[..., Any], environ: Environ) -> str:
    status: list[str] = []
    body = app(environ, lambda s, headers, exc_info=None: status.append(s))
    try:
        for _ in body:
            pass
    finally:
        if hasattr(body, "close"):
            body.close()
    return status[0]


def timed(app: Callable[..., Any], environs: list[Environ], expect: str) -> list[float]:
    costs = []
    for environ in environs:
        started = time.perf_counter()
        status = call(app, environ)
        costs.append(time.perf_counter() - started)
        if not status.startswith(expect):
            raise SystemExit(f"{environ['PATH_INFO']} answered {status}")
    return costs


def family(body: bytes) -> str:
    kind = json.loads(body)["type"].split(".")[0]
    return "subscription" if kind == "customer" else kind


def signed(bodies: list[bytes]) -> list[tuple[bytes, str]]:
    now = int(time.time())
    return [(body, sim.sign(body, WEBHOOK_SECRET, now)) for body in bodies]


@contextmanager
def databases(pg_url: str | None) -> Iterator[tuple[str, str]]:
    if pg_url:
        import tests.conftest as conftest
        conftest.PG_URL = pg_url
        with pg_schema("wsgi_subsvc") as a, pg_schema("wsgi_floor") as b:
            yield a, b
        return
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{Path(tmp) / 'subsvc.db'}", f"sqlite:///{Path(tmp) / 'floor.db'}"


def subsvc_app(url: str) -> Any:
    env = {"DATABASE_URL": url, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
           "STRIPE_WEBHOOK_TOLERANCE": "3600"}
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
                   env={**os.environ, **env}, check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "seed", "tiers", "--file",
                    str(TIERS_FILE)], env={**os.environ, **env}, check=True, capture_output=True)
    os.environ.update(env)
    from subsvc import create_app
    return create_app()


def floor_app(url: str) -> Any:
    floor.create_schema(url)
    return floor.create_app({"FLOOR_DATABASE_URL": url, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
                             "STRIPE_WEBHOOK_TOLERANCE": "3600"})


def subsvc_lookup_keys(app: Any, count: int) -> list[str]:
    from subsvc.accounts.api_keys import issue_key
    from subsvc.extensions import db
    from subsvc.models import User
    with app.app_context():
        users = list(db.session.scalars(db.select(User).where(User.api_key_hash.is_not(None))
                                        .order_by(User.id).limit(count)))
        keys = [issue_key(user) for user in users]
        db.session.commit()
    return keys


def run(pg_url: str | None, events: int, rounds: int, lookups: int,
        profile: str | None, window: int = 1) -> dict[str, object]:
    bodies = [sim.dumps(e, pretty=True) for e in islice(stream(Prices()), events * rounds)]
    # Under load, the events in flight at once reach the database in any order: each window
    # of `window` consecutive events is shuffled, as 8 connections of one wrk thread would.
    shuffler = random.Random(7)
    for start in range(0, len(bodies), window):
        part = bodies[start:start + window]
        shuffler.shuffle(part)
        bodies[start:start + window] = part
    with databases(pg_url) as (subsvc_url, floor_url):
        apps = {"floor": floor_app(floor_url), "subsvc": subsvc_app(subsvc_url)}
        costs: dict[str, list[float]] = {"floor": [], "subsvc": []}
        by_family: dict[str, list[float]] = defaultdict(list)
        # Each round feeds both apps the same next slice of the stream: same mix, fresh ids.
        for r in range(rounds):
            chunk = signed(bodies[r * events:(r + 1) * events])
            for name, app in apps.items():
                environs = [webhook_environ(body, sig) for body, sig in chunk]
                with _profiling(profile == name and r == rounds - 1, name):
                    spent = timed(app, environs, "200")
                costs[name].extend(spent)
                if name == "subsvc":
                    for (body, _), cost in zip(chunk, spent, strict=True):
                        by_family[family(body)].append(cost)
        keys = subsvc_lookup_keys(apps["subsvc"], 50)
        floor.seed_users(floor_url, [(n + 1, hashlib.sha256(k.encode()).hexdigest(),
                                      f"user{n}@example.com", "pro", True, "active",
                                      "2026-12-27T10:00:00Z") for n, k in enumerate(keys)])
        paths = {"floor": "/lookup", "subsvc": "/status/api/me"}
        lookup_costs: dict[str, list[float]] = {"floor": [], "subsvc": []}
        for _ in range(rounds):
            for name, app in apps.items():
                environs = [lookup_environ(paths[name], keys[i % len(keys)])
                            for i in range(lookups)]
                lookup_costs[name].extend(timed(app, environs, "200"))
    result: dict[str, object] = {f"subsvc {name} ms (share of time)":
              f"{statistics.mean(values) * 1000:.3f} ({sum(values) / sum(costs['subsvc']):.0%})"
              for name, values in sorted(by_family.items())}
    for what, table in (("webhook", costs), ("lookup", lookup_costs)):
        for name, values in table.items():
            result[f"{what} {name} ms"] = round(statistics.mean(values) * 1000, 3)
        result[f"{what} subsvc/floor throughput"] = round(
            statistics.mean(table["floor"]) / statistics.mean(table["subsvc"]), 3)
    return result


@contextmanager
def _profiling(active: bool, name: str) -> Iterator[None]:
    if not active:
        yield
        return
    out = Path(f"/tmp/wsgi-{name}.speedscope.json")
    spy_bin = Path(sys.executable).with_name("py-spy")
    command = [str(spy_bin), "record", "--nonblocking", "-r", "1000", "-f", "speedscope",
               "-o", str(out), "-p", str(os.getpid())]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        spy.wait()
        print(f"profile: {out}", file=sys.__stdout__)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.wsgi", description=__doc__.splitlines()[0])
    p.add_argument("--postgres", help="a Postgres URL (fresh schemas are used); default SQLite")
    p.add_argument("--events", type=int, default=1000, help="events per app per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--lookups", type=int, default=2000, help="lookups per app per round")
    p.add_argument("--profile", choices=("subsvc", "floor"))
    p.add_argument("--window", type=int, default=1,
                   help="shuffle each run of this many events (8: what 16 connections see)")
    args = p.parse_args()
    logging.raiseExceptions = False
    # The apps' INFO lines: formatted and written, then dropped.
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (open until exit)
    try:
        figures = run(args.postgres, args.events, args.rounds, args.lookups, args.profile,
                      args.window)
    except BaseException:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__  # the failure is seen
        raise
    print(figures, file=sys.__stdout__)


if __name__ == "__main__":
    main()
