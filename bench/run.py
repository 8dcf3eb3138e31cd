"""`make bench`: subsvc against the floor under gunicorn and wrk; writes docs/performance.md.

python -m bench.run [--quick] [--postgres URL] [--duration S] [--workers 2,4] [--no-1m] …
Postgres runs when --postgres or TEST_DATABASE_URL is given. See docs/performance.md.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.events import Prices, write_events
from bench.measure import Range
from bench.report import write_outputs
from bench.scenarios import measure_history, measure_pair
from bench.wrk import BenchError, Load, wrk_path
from tests.conftest import WEBHOOK_SECRET
from tests.server import REPO_ROOT

DEFAULT_OUTPUT = REPO_ROOT / "docs" / "performance.md"


@dataclass(frozen=True)
class Plan:
    kinds: tuple[str, ...]
    pg_url: str | None
    workers: tuple[int, ...]
    load: Load
    warmup: float
    reps: int
    max_rate: int
    lookup_users: int
    history: tuple[int, ...]
    threads: int | None

    def per_run(self, seconds: float) -> int:
        return math.ceil(self.max_rate * seconds)


@dataclass(frozen=True)
class Ranges:
    """Disjoint ranges of the events file: one per measurement on a database."""

    warm: Range
    unique: tuple[Range, ...]
    dup: tuple[Range, ...]
    total: int

    @classmethod
    def of(cls, plan: Plan) -> Ranges:
        warm, per_run = plan.per_run(plan.warmup), plan.per_run(plan.load.duration)
        dup_run = per_run // 3 + 1  # each event three times
        unique = tuple(Range(warm + i * per_run, per_run) for i in range(plan.reps))
        first_dup = warm + plan.reps * per_run
        dup = tuple(Range(first_dup + i * dup_run, dup_run) for i in range(plan.reps))
        return cls(Range(0, warm), unique, dup, first_dup + plan.reps * dup_run)


def parse_args(argv: list[str]) -> argparse.Namespace:
    ints = lambda raw: tuple(int(x) for x in raw.split(",") if x)  # noqa: E731
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a smoke run of a few seconds per part")
    p.add_argument("--postgres", default=os.environ.get("TEST_DATABASE_URL") or None,
                   help="Postgres URL (default: TEST_DATABASE_URL); each run gets a fresh schema")
    p.add_argument("--sqlite-only", action="store_true", help="skip Postgres even if a URL is set")
    p.add_argument("--duration", type=float, help="seconds per measurement (10; quick: 2)")
    p.add_argument("--reps", type=int,
                   help="floor/subsvc pairs per figure, alternating (2; quick: 1)")
    p.add_argument("--workers", type=ints, help="gunicorn worker counts (2,4; quick: 2)")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--threads", type=int, help="gunicorn THREADS (default: gunicorn.conf.py's)")
    p.add_argument("--max-rate", type=int, default=3000,
                   help="events/s the events file is sized for (a faster run is refused)")
    p.add_argument("--fixed-count", action="store_true",
                   help="a run that sends all its events ends early instead of failing "
                        "(smoke tests: figures then say little about speed)")
    p.add_argument("--lookup-users", type=int, help="users with keys for the lookups (1000)")
    p.add_argument("--history", type=ints, help="stored events for the history runs "
                   "(1000,1000000; quick: 1000,10000; empty to skip)")
    p.add_argument("--no-1m", action="store_true", help="history: 1,000 vs 100,000 instead")
    p.add_argument("--output", type=Path, help=f"markdown report (default {DEFAULT_OUTPUT}; "
                   "quick: build/performance-quick.md)")
    p.add_argument("--json", type=Path, help="also write the raw results as JSON")
    p.add_argument("--workdir", type=Path, help="where databases and events go (a temp dir)")
    p.add_argument("--note", help="a line put at the top of the report (e.g. provisional)")
    return p.parse_args(argv)


def plan_of(args: argparse.Namespace) -> Plan:
    quick = args.quick
    history = args.history if args.history is not None else (
        (1000, 10_000) if quick else (1000, 100_000) if args.no_1m else (1000, 1_000_000))
    kinds = ("sqlite",) if args.sqlite_only or not args.postgres else ("sqlite", "postgres")
    duration = args.duration or (2.0 if quick else 10.0)
    workers = args.workers or ((2,) if quick else (2, 4))
    return Plan(kinds=kinds, pg_url=args.postgres, workers=workers,
                load=Load(args.connections, duration, fixed_count=args.fixed_count),
                warmup=1.0 if quick else 2.0,
                reps=args.reps or (1 if quick else 2), max_rate=args.max_rate,
                lookup_users=args.lookup_users or (200 if quick else 1000),
                history=history, threads=args.threads)


def run(plan: Plan, workdir: Path) -> dict:
    ranges, prices = Ranges.of(plan), Prices()
    began = time.monotonic()
    print(f"bench: writing {ranges.total:,} signed events", flush=True)
    events = write_events(workdir / "events.txt", ranges.total, WEBHOOK_SECRET, prices)
    results: dict = {"pairs": [], "history": [], "problems": []}
    for kind in plan.kinds:
        for workers in plan.workers:
            print(f"bench: {kind}, {workers} workers: floor and subsvc, alternating", flush=True)
            collect(results, "pairs", f"{kind}, {workers} workers",
                    lambda kind=kind, workers=workers:
                    measure_pair(plan, kind, workers, events, ranges, workdir))
    if len(plan.history) == 2:
        for kind in plan.kinds:
            print(f"bench: {kind}: history {plan.history[0]:,} vs {plan.history[1]:,}", flush=True)
            collect(results, "history", f"{kind} history",
                    lambda kind=kind: measure_history(plan, kind, events, ranges, prices, workdir))
    results["elapsed_s"] = time.monotonic() - began
    return results


def collect(results: dict, part: str, label: str, measure: Any) -> None:
    """One configuration's results; a failed one is reported, and the others still run."""
    try:
        config = measure()
    except Exception as exc:  # noqa: BLE001 - a long run should still report the rest
        results["problems"].append(f"{label}: {type(exc).__name__}: {str(exc)[:500]}")
        return
    results[part].append(config)
    results["problems"] += config["problems"]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    plan = plan_of(args)
    try:
        wrk_path()
        with tempfile.TemporaryDirectory(prefix="subsvc-bench-", dir=args.workdir) as tmp:
            results = run(plan, Path(tmp))
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    command = shlex.join(["python", "-m", "bench.run", *redact(argv)])
    if plan.pg_url and "--postgres" not in argv:
        command = f"TEST_DATABASE_URL={shlex.quote(redact([plan.pg_url])[0])} {command}"
    output = args.output or (REPO_ROOT / "build" / "performance-quick.md" if args.quick
                             else DEFAULT_OUTPUT)
    summary = write_outputs(results, plan, command, output,
                            update_readme=output == DEFAULT_OUTPUT and not args.quick,
                            note=args.note)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str))
    print(summary)
    for problem in results["problems"]:
        print(f"bench: CHECK FAILED: {problem}", file=sys.stderr)
    return 1 if results["problems"] else 0


def redact(argv: list[str]) -> list[str]:
    """The command as run, without a password a Postgres URL may carry."""
    from sqlalchemy.engine import make_url

    return [make_url(a).render_as_string(hide_password=True) if "://" in a else a for a in argv]


if __name__ == "__main__":
    sys.exit(main())
