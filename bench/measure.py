"""The measurements: webhook, duplicate, lookup and history runs, with their checks.

Every run is refused unless all its answers were 2xx with the expected body, and the
database is checked afterwards: the rows written must match the events answered as new
(allowing for the requests still in flight when wrk stopped), so neither app can look fast
by doing less.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import floor
from bench.events import EventFile
from bench.servers import inbox_counts, peak_rss_mib, scalar
from bench.wrk import BenchError, Load, run_wrk
from tests.server import Server

WEBHOOKS, LOOKUP = "webhooks.lua", "lookup.lua"


@dataclass
class Target:
    """One running app under test, and the ledger of what it answered."""

    name: str  # "floor" or "subsvc" (or a history level)
    server: Server
    lookup_path: str
    rows_before: int = 0
    new_answers: int = 0  # processed or ignored: events it says it stored now
    webhook_runs: int = 0
    rss: dict[int, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def stored_rows(self) -> int:
        if self.name == "floor":
            return floor.count_events(self.server.database_url)
        counts = inbox_counts(self.server.database_url)
        if counts.get("failed"):
            self.problems.append(f"{self.name}: {counts['failed']} events failed in the inbox")
        return sum(counts.values())

    def sample_rss(self) -> None:
        for pid, mib in peak_rss_mib(self.server).items():
            self.rss[pid] = max(mib, self.rss.get(pid, 0.0))


@dataclass(frozen=True)
class Range:
    first: int
    count: int


def webhook_run(target: Target, events: EventFile, span: Range, repeats: int,
                load: Load) -> dict[str, Any]:
    args = [str(events.path), str(repeats), *events.slices(span.first, span.count, load.threads)]
    result = run_wrk(target.server.url, WEBHOOKS, args, load)
    target.sample_rss()
    target.webhook_runs += 1
    target.new_answers += result["processed"] + result["ignored"]
    if result["exhausted"] and not load.fixed_count:
        raise BenchError(f"{target.name}: the events file ran out after {result['requests']}"
                         " answers; rerun with a higher --max-rate (more events per run)")
    check_answers(target, result, "webhook")
    if repeats == 1 and result["duplicate"]:
        target.problems.append(f"{target.name}: {result['duplicate']} duplicate answers in a"
                               " run of unique events")
    if repeats > 1 and not result["duplicate"]:
        target.problems.append(f"{target.name}: no duplicate answers in a duplicate run")
    return result


def lookup_run(target: Target, keys_file: Path, load: Load) -> dict[str, Any]:
    result = run_wrk(target.server.url, LOOKUP, [target.lookup_path, str(keys_file)], load)
    target.sample_rss()
    check_answers(target, result, "lookup")
    return result


def check_answers(target: Target, result: dict[str, Any], what: str) -> None:
    if not result["requests"]:
        target.problems.append(f"{target.name}: no answer at all in a {what} run")
    for counter in ("non2xx", "unexpected", "socket_errors"):
        if result[counter]:
            extra = f" (first status {result['first_bad_status']})" if counter == "non2xx" else ""
            target.problems.append(f"{target.name}: {result[counter]} {counter} answers in a"
                                   f" {what} run{extra}")


def check_rows(target: Target, connections: int) -> dict[str, int]:
    """Rows written vs. events answered as new: at most `connections` per run may have been
    stored without wrk seeing the answer (in flight when it stopped)."""
    written = target.stored_rows() - target.rows_before
    slack = connections * target.webhook_runs
    if not target.new_answers <= written <= target.new_answers + slack:
        target.problems.append(f"{target.name}: {written} rows written for {target.new_answers}"
                               f" events answered as new (allowed in flight: {slack})")
    return {"answered_new": target.new_answers, "rows_written": written, "in_flight_allowed": slack}


def subsvc_keys(database_url: str, count: int) -> list[str]:
    """API keys of `count` users made by the webhook runs, issued by `flask keys rotate`
    itself (in process), so subsvc keeps whatever it derives from a key."""
    from subsvc import create_app
    from subsvc.extensions import db

    app = create_app({"DATABASE_URL": database_url, "LOG_FORMAT": "text"})
    emails = user_emails(database_url, count)
    runner = app.test_cli_runner()
    keys = []
    for email in emails:
        result = runner.invoke(args=["keys", "rotate", email])
        if result.exit_code != 0:
            raise BenchError(f"flask keys rotate failed: {result.output[-300:]}")
        keys.append(result.stdout.strip().splitlines()[-1])
    with app.app_context():
        db.engine.dispose()
    return keys


def user_emails(database_url: str, count: int) -> list[str]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text("SELECT email FROM users WHERE email IS NOT NULL"
                                             " ORDER BY id LIMIT :n"), {"n": count}).scalars())
    finally:
        engine.dispose()


def seed_floor_users(floor_url: str, keys: list[str], total: int) -> None:
    """The same keys, and as many users in all as subsvc has (the rest with unknown keys)."""
    def row(key: str, n: int) -> tuple[int, str, str, str, bool, str, str]:
        return (n + 1, hashlib.sha256(key.encode()).hexdigest(), f"user{n}@example.com", "pro",
                True, "active", "2026-12-27T10:00:00Z")
    fillers = [secrets.token_urlsafe(32) for _ in range(max(0, total - len(keys)))]
    floor.seed_users(floor_url, [row(key, n) for n, key in enumerate(keys + fillers)])


def user_count(database_url: str) -> int:
    return int(scalar(database_url, "SELECT count(*) FROM users"))
