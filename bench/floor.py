"""The floor: the least a durable Stripe receiver must do, to measure subsvc against.

POST /api/webhooks/stripe verifies the signature with the stripe library, inserts the
raw event under its unique id (INSERT … ON CONFLICT DO NOTHING) and commits; GET /lookup
is one indexed SELECT by API-key hash. It runs under the same gunicorn.conf.py as subsvc,
with subsvc's SQLite durability (WAL, synchronous=FULL, busy timeout, BEGIN IMMEDIATE) and
its Postgres driver (psycopg 3), one connection per worker thread and no ORM: a hand-written
receiver at its best. Settings: FLOOR_DATABASE_URL (a SQLAlchemy-style URL),
STRIPE_WEBHOOK_SECRET, STRIPE_WEBHOOK_TOLERANCE.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterable
from typing import Any

from flask import Flask, Response, jsonify, request
from stripe import SignatureVerificationError, WebhookSignature

BUSY_TIMEOUT_MS = 30_000  # as subsvc.extensions
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS floor_events (event_id VARCHAR(255) PRIMARY KEY,"
    " type VARCHAR(128) NOT NULL, payload TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS floor_users (id INTEGER PRIMARY KEY,"
    " key_hash VARCHAR(64) NOT NULL UNIQUE, email VARCHAR(320), tier VARCHAR(64),"
    " entitled BOOLEAN NOT NULL, status VARCHAR(32), current_period_end VARCHAR(32))",
)
INSERT_EVENT = ("INSERT INTO floor_events (event_id, type, payload) VALUES ({p}, {p}, {p})"
                " ON CONFLICT (event_id) DO NOTHING")
SELECT_USER = ("SELECT email, tier, entitled, status, current_period_end FROM floor_users"
               " WHERE key_hash = {p}")


class Database:
    """One connection per thread, opened on first use; SQLite or Postgres by URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.param = "?" if self.is_sqlite else "%s"
        self.local = threading.local()

    def connection(self) -> Any:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = connect(self.url)
        return conn

    def sql(self, template: str) -> str:
        return template.format(p=self.param)

    def begin(self) -> Any:
        """A cursor in an open write transaction (BEGIN IMMEDIATE on SQLite, as subsvc)."""
        cur = self.connection().cursor()
        if self.is_sqlite:
            cur.execute("BEGIN IMMEDIATE")
        return cur

    def commit(self) -> None:
        if self.is_sqlite:
            self.connection().execute("COMMIT")
        else:
            self.connection().commit()

    def rollback(self) -> None:
        conn = self.connection()
        if not self.is_sqlite:
            conn.rollback()
        elif conn.in_transaction:
            conn.execute("ROLLBACK")

    def close(self) -> None:
        conn = getattr(self.local, "conn", None)
        if conn is not None:
            conn.close()
            self.local.conn = None


def connect(url: str) -> Any:
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split("///", 1)[1], timeout=BUSY_TIMEOUT_MS / 1000,
                               isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        return conn
    import psycopg

    return psycopg.connect(libpq_url(url))


def libpq_url(url: str) -> str:
    """postgresql+psycopg://… (SQLAlchemy) as libpq wants it: postgresql://…"""
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


def create_schema(url: str) -> None:
    db = Database(url)
    cur = db.begin()
    for stmt in SCHEMA:
        cur.execute(stmt)
    db.commit()
    db.close()


def seed_users(url: str, rows: Iterable[tuple[int, str, str, str, bool, str, str]]) -> None:
    """(id, key_hash, email, tier, entitled, status, current_period_end) rows, in one
    transaction."""
    db = Database(url)
    sql = db.sql("INSERT INTO floor_users (id, key_hash, email, tier, entitled, status,"
                 " current_period_end) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p})")
    db.begin().executemany(sql, list(rows))
    db.commit()
    db.close()


def count_events(url: str) -> int:
    conn = connect(url)
    try:
        return int(conn.execute("SELECT count(*) FROM floor_events").fetchone()[0])
    finally:
        conn.close()


def create_app(environ: dict[str, str]) -> Flask:
    app = Flask("floor")
    db = Database(environ["FLOOR_DATABASE_URL"])
    secret = environ["STRIPE_WEBHOOK_SECRET"].split(",")[0].strip()
    tolerance = int(environ.get("STRIPE_WEBHOOK_TOLERANCE") or 300)
    insert_event, select_user = db.sql(INSERT_EVENT), db.sql(SELECT_USER)

    @app.post("/api/webhooks/stripe")
    def webhook() -> Any:
        raw = request.get_data(cache=False)
        try:
            WebhookSignature.verify_header(raw, request.headers.get("Stripe-Signature", ""),
                                           secret, tolerance)
            event = json.loads(raw)
        except (SignatureVerificationError, ValueError):
            return jsonify({"error": "invalid_signature"}), 400
        cur = db.begin()
        try:
            cur.execute(insert_event, (event["id"], event["type"], raw.decode()))
            inserted = cur.rowcount == 1
            db.commit()
        except BaseException:
            db.rollback()
            raise
        return jsonify({"status": "processed" if inserted else "duplicate",
                        "event_id": event["id"]})

    @app.get("/lookup")
    def lookup() -> Any:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key:
            return jsonify({"error": "unauthorized"}), 401
        key_hash = hashlib.sha256(key.strip().encode()).hexdigest()
        conn = db.connection()
        row = conn.execute(select_user, (key_hash,)).fetchone()
        if not db.is_sqlite:
            conn.rollback()  # end the read transaction psycopg opened
        if row is None:
            return jsonify({"error": "unauthorized"}), 401
        email, tier, entitled, status, period_end = row
        answer: Response = jsonify({"email": email, "tier": tier, "entitled": bool(entitled),
                                    "subscription": {"status": status,
                                                     "current_period_end": period_end}})
        answer.headers["Cache-Control"] = "no-store"
        return answer

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify({"status": "ok"})

    return app


if __name__ != "__main__" and "FLOOR_DATABASE_URL" in os.environ:
    app = create_app(dict(os.environ))  # gunicorn bench.floor:app
