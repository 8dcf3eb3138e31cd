"""One configuration at a time: floor and subsvc side by side, or subsvc on two histories.

Both servers of a configuration run at once and are measured in turn (A/B/A/B), so drift
of a shared machine falls on both; every measurement sends a range of the events file
that database has not seen.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import floor
from bench.events import EventFile, Prices, sample_payloads
from bench.history import seed_history
from bench.measure import (
    Target,
    check_rows,
    lookup_run,
    seed_floor_users,
    subsvc_keys,
    user_count,
    webhook_run,
)
from bench.servers import floor_env, fresh_database, gunicorn, prepare_subsvc, subsvc_env

if TYPE_CHECKING:
    from bench.run import Plan, Ranges


@contextmanager
def subsvc_target(plan: Plan, kind: str, workers: int, workdir: Path, name: str,
                  seed: Any = None) -> Iterator[Target]:
    with fresh_database(kind, plan.pg_url, workdir, name) as url:
        prepare_subsvc(url)
        if seed is not None:
            seed(url)
        with gunicorn("wsgi:app", subsvc_env(url), workers, workdir, plan.threads) as server:
            target = Target(name, server, "/status/api/me")
            target.rows_before = target.stored_rows()
            yield target


@contextmanager
def floor_target(plan: Plan, kind: str, workers: int, workdir: Path) -> Iterator[Target]:
    with fresh_database(kind, plan.pg_url, workdir, "floor") as url:
        floor.create_schema(url)
        with gunicorn("bench.floor:app", floor_env(url), workers, workdir, plan.threads) as server:
            yield Target("floor", server, "/lookup")


def alternate(targets: list[Target], reps: int, measure: Any) -> dict[str, list[dict]]:
    """measure(target, rep) for rep in reps, for each target in turn: A/B/A/B."""
    runs: dict[str, list[dict]] = {t.name: [] for t in targets}
    for rep in range(reps):
        for target in targets:
            runs[target.name].append(measure(target, rep))
    return runs


def measure_pair(plan: Plan, kind: str, workers: int, events: EventFile, ranges: Ranges,
                 workdir: Path) -> dict[str, Any]:
    load, warm = plan.load, replace(plan.load, duration=plan.warmup)
    with ExitStack() as stack:
        fl = stack.enter_context(floor_target(plan, kind, workers, workdir))
        sv = stack.enter_context(subsvc_target(plan, kind, workers, workdir, "subsvc"))
        targets = [fl, sv]
        # First requests per worker (imports, connections, caches): checked, not reported.
        warmup = {t.name: [webhook_run(t, events, ranges.warm, 1, warm)] for t in targets}
        unique = alternate(targets, plan.reps,
                           lambda t, rep: webhook_run(t, events, ranges.unique[rep], 1, load))
        dup = alternate(targets, plan.reps,
                        lambda t, rep: webhook_run(t, events, ranges.dup[rep], 3, load))
        rows = {t.name: check_rows(t, load.connections) for t in targets}
        keys_file = prepare_lookups(plan, fl, sv, workdir)
        for target in targets:
            lookup_run(target, keys_file, warm)
        lookup = alternate(targets, plan.reps, lambda t, rep: lookup_run(t, keys_file, load))
        return {"kind": kind, "workers": workers, "warm": warmup, "unique": unique, "dup": dup,
                "lookup": lookup, "rows": rows, "rss_mib": {t.name: t.rss for t in targets},
                "problems": [p for t in targets for p in t.problems]}


def prepare_lookups(plan: Plan, fl: Target, sv: Target, workdir: Path) -> Path:
    keys = subsvc_keys(sv.server.database_url, plan.lookup_users)
    seed_floor_users(fl.server.database_url, keys, user_count(sv.server.database_url))
    keys_file = workdir / f"keys-{sv.server.port}.txt"
    keys_file.write_text("".join(f"{key}\n" for key in keys))
    return keys_file


def measure_history(plan: Plan, kind: str, events: EventFile, ranges: Ranges, prices: Prices,
                    workdir: Path) -> dict[str, Any]:
    """subsvc with plan.history[0] vs plan.history[1] events already stored, alternating."""
    samples = sample_payloads(prices, 500)
    workers, load = plan.workers[0], plan.load
    seconds: dict[str, float] = {}

    def seeder(level: int) -> Any:
        def seed(url: str) -> None:
            began = time.monotonic()
            seed_history(url, level, samples, prices.pro)
            seconds[str(level)] = time.monotonic() - began
        return seed

    with ExitStack() as stack:
        targets = [stack.enter_context(subsvc_target(plan, kind, workers, workdir, str(level),
                                                     seeder(level)))
                   for level in plan.history]
        warmup = {t.name: [webhook_run(t, events, ranges.warm, 1,
                                       replace(load, duration=plan.warmup))] for t in targets}
        unique = alternate(targets, plan.reps,
                           lambda t, rep: webhook_run(t, events, ranges.unique[rep], 1, load))
        rows = {t.name: check_rows(t, load.connections) for t in targets}
        return {"kind": kind, "workers": workers, "levels": list(plan.history),
                "warm": warmup, "unique": unique, "rows": rows, "seed_seconds": seconds,
                "rss_mib": {t.name: t.rss for t in targets},
                "problems": [p for t in targets for p in t.problems]}
