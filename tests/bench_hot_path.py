"""Benchmark: subsvc's hot path against a minimal receiver (verify the signature, insert one row).

Not a test (pytest does not collect it). Run: `make bench` or
`python tests/bench_hot_path.py [--customers N] [--postgres URL] [--http]`.
Both receivers get the same signed bodies, one request at a time, on a fresh
database each: in-process through the WSGI stack (the work alone), or with
--http over real HTTP to gunicorn (gunicorn.conf.py with 1 worker, its access
log and subsvc logging as in production). The figures are events/second and
latency percentiles.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, jsonify, request
from stripe import WebhookSignature

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from subsvc import create_app, simulate as sim  # noqa: E402
from subsvc.accounts.tiers import seed_tiers  # noqa: E402
from subsvc.extensions import db  # noqa: E402
from tests.conftest import TEST_TIERS, WEBHOOK_SECRET, base_config, with_search_path  # noqa: E402
from tests.server import gunicorn_env  # noqa: E402

PRO, BUSINESS = "price_pro_monthly", "price_business_monthly"


def workload(customers: int) -> list[bytes]:
    start = int(time.time()) - 120 * sim.DAY
    bodies = []
    for n in range(customers):
        c = sim.Customer.make(f"bench{n}")
        api = sim.API_NEW if n % 2 else sim.API_OLD
        events, _ = sim.lifecycle_full(c, pro_price=PRO, business_price=BUSINESS, start=start,
                                       api_version=api)
        bodies += [json.dumps(event).encode() for event in events]
    return bodies


def minimal_receiver(database_url: str) -> Flask:
    """What a hand-written handler does at best: verify, insert one row, commit."""
    app = Flask("minimal")
    engine = sa.create_engine(database_url)
    table = sa.Table("received", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("event_id", sa.String(255), unique=True), sa.Column("payload", sa.Text))
    table.metadata.create_all(engine)

    @app.post("/api/webhooks/stripe")
    def receive() -> Any:
        raw = request.get_data()
        WebhookSignature.verify_header(raw, request.headers["Stripe-Signature"], WEBHOOK_SECRET, 300)
        event = json.loads(raw)
        with engine.begin() as conn:
            conn.execute(table.insert().values(event_id=event["id"], payload=raw.decode()))
        return jsonify({"status": "processed", "event_id": event["id"]})

    return app


def subsvc_receiver(database_url: str) -> Flask:
    app = create_app({**base_config(database_url), "LOG_FORMAT": "text"})
    with app.app_context():
        db.create_all()
        seed_tiers(db.session, TEST_TIERS, overwrite=True)
        db.session.commit()
    return app


def serve(name: str, database_url: str) -> Flask:
    """gunicorn's entry point in --http mode: `tests.bench_hot_path:serve('subsvc', url)`."""
    if name == "minimal":
        return minimal_receiver(database_url)
    return create_app(base_config(database_url))


Post = Callable[[bytes, dict[str, str]], int]


def measure(post: Post, bodies: list[bytes]) -> dict[str, float]:
    latencies = []
    began = time.perf_counter()
    for body in bodies:
        headers = {"Stripe-Signature": sim.sign(body, WEBHOOK_SECRET),
                   "Content-Type": "application/json"}
        t0 = time.perf_counter()
        status = post(body, headers)
        latencies.append(time.perf_counter() - t0)
        assert status == 200, status
    elapsed = time.perf_counter() - began
    quantiles = statistics.quantiles(latencies, n=100)
    return {"events_per_s": len(bodies) / elapsed, "p50_ms": quantiles[49] * 1000,
            "p95_ms": quantiles[94] * 1000}


def fresh_database(kind: str, pg_url: str | None, workdir: Path) -> tuple[str, Any]:
    if kind == "sqlite":
        return f"sqlite:///{workdir / f'{uuid.uuid4().hex}.db'}", lambda: None
    assert pg_url
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    return with_search_path(pg_url, schema), drop


def in_process(app: Flask) -> Post:
    client = app.test_client()
    return lambda body, headers: client.post("/api/webhooks/stripe", data=body,
                                             headers=headers).status_code


@contextmanager
def over_http(name: str, database_url: str, workdir: Path) -> Iterator[Post]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (workdir / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
         f"tests.bench_hot_path:serve({name!r}, {database_url!r})"],
        cwd=ROOT, env={**os.environ, **gunicorn_env(port, workers=1)}, stdout=log,
        stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.1)

        def post(body: bytes, headers: dict[str, str]) -> int:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request("POST", "/api/webhooks/stripe", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                return response.status
            finally:
                conn.close()
        yield post
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def run_one(kind: str, name: str, args: argparse.Namespace, workdir: Path,
            bodies: list[bytes]) -> dict[str, float]:
    url, drop = fresh_database(kind, args.postgres, workdir)
    app = (minimal_receiver if name == "minimal" else subsvc_receiver)(url)  # creates the tables
    try:
        if args.http:
            with over_http(name, url, workdir) as post:
                return measure(post, bodies)
        return measure(in_process(app), bodies)
    finally:
        if name == "subsvc":
            with app.app_context():
                db.engine.dispose()
        drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--postgres", help="Postgres URL (e.g. TEST_DATABASE_URL)")
    parser.add_argument("--http", action="store_true", help="over HTTP to gunicorn")
    args = parser.parse_args()
    import logging
    logging.disable(logging.INFO)  # measure the work, not the log handler
    bodies = workload(args.customers)
    print(f"{len(bodies)} events ({args.customers} full lifecycles, both API versions)")
    kinds = ["sqlite"] + (["postgres"] if args.postgres else [])
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            for name in ("minimal", "subsvc"):
                result = run_one(kind, name, args, Path(tmp), bodies)
                print(f"{kind:8} {name:8} {result['events_per_s']:8.0f} events/s   "
                      f"p50 {result['p50_ms']:6.2f} ms   p95 {result['p95_ms']:6.2f} ms")


if __name__ == "__main__":
    main()
