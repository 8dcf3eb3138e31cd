"""docs/performance.md from the results: the machine, the command, the tables, the checks."""
from __future__ import annotations

import os
import platform
import re
import sqlite3
import statistics
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.servers import gunicorn_conf, scalar
from bench.wrk import wrk_version
from tests.server import REPO_ROOT

if TYPE_CHECKING:
    from bench.run import Plan

README = REPO_ROOT / "README.md"
README_MARKS = ("<!-- bench:headline -->", "<!-- /bench:headline -->")
Runs = dict[str, list[dict[str, Any]]]


def machine(plan: Plan) -> list[str]:
    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    mem = next((int(line.split()[1]) / 1024 / 1024 for line in
                _read("/proc/meminfo").splitlines() if line.startswith("MemTotal")), 0.0)
    pg = scalar(plan.pg_url, "SHOW server_version") if "postgres" in plan.kinds else "not run"
    git = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO_ROOT,
                         capture_output=True, text=True, check=False).stdout.strip()
    conf = gunicorn_conf()
    return [f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; commit {git or '?'}",
            f"- machine: {os.cpu_count()} CPUs ({cpu}), {mem:.1f} GiB RAM, "
            f"load average at the end {os.getloadavg()[0]:.1f}",
            f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
            f"PostgreSQL {pg}, {wrk_version()}",
            f"- gunicorn settings: {conf.relative_to(REPO_ROOT)}"
            f"{', THREADS=' + str(plan.threads) if plan.threads else ''}; "
            f"wrk {plan.load.threads} threads, {plan.load.connections} connections, "
            f"{plan.load.duration:g} s per measurement, {plan.reps} per app, alternating"]


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def rate(runs: list[dict[str, Any]]) -> float:
    return statistics.mean(run["rate"] for run in runs)


def mean_ratio(runs: Runs, a: str, b: str) -> float:
    return rate(runs[b]) / rate(runs[a])


def ratio(runs: Runs, a: str, b: str) -> str:
    """Mean rate of b over a, and the range of the pairwise ratios (rep i of a with rep i of b).

    Both have plan.reps runs (scenarios.alternate), so the pairing is strict."""
    pairs = [rb["rate"] / ra["rate"] for ra, rb in zip(runs[a], runs[b], strict=True)]
    spread = f" ({min(pairs):.2f}-{max(pairs):.2f})" if len(pairs) > 1 else ""
    return f"**{mean_ratio(runs, a, b):.2f}x**{spread}"


def latency(runs: list[dict[str, Any]]) -> str:
    """p50 / p95 / p99 in ms, the worst of the runs."""
    return " / ".join(f"{max(run[f'p{p}_us'] for run in runs) / 1000:.1f}" for p in (50, 95, 99))


def rss(peaks: dict[int, float]) -> str:
    return f"{max(peaks.values()):.0f}" if peaks else "?"


def pair_table(pairs: list[dict[str, Any]], part: str, names: tuple[str, str],
               labels: tuple[str, str]) -> list[str]:
    a, b = names
    head = (f"| database | workers | {labels[0]} req/s | {labels[1]} req/s | ratio |"
            f" {labels[0]} p50 / p95 / p99 ms | {labels[1]} p50 / p95 / p99 ms |"
            f" peak RSS per worker MiB ({a} / {b}) |")
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for pair in pairs:
        runs = pair[part]
        lines.append(f"| {pair['kind']} | {pair['workers']} | {rate(runs[a]):,.0f} |"
                     f" {rate(runs[b]):,.0f} | {ratio(runs, a, b)} | {latency(runs[a])} |"
                     f" {latency(runs[b])} | {rss(pair['rss_mib'][a])} /"
                     f" {rss(pair['rss_mib'][b])} |")
    return lines


def history_table(history: list[dict[str, Any]]) -> list[str]:
    lines = ["| database | workers | stored before | req/s | ratio to the smaller history |"
             " p50 / p95 / p99 ms | peak RSS per worker MiB | seeding took |",
             "|---|---|---|---|---|---|---|---|"]
    for hist in history:
        small, big = (str(level) for level in hist["levels"])
        for level in (small, big):
            share = "1.00x" if level == small else ratio(hist["unique"], small, big)
            lines.append(f"| {hist['kind']} | {hist['workers']} | {int(level):,} events, "
                         f"{max(1, int(level) // 10):,} users |"
                         f" {rate(hist['unique'][level]):,.0f} | {share} |"
                         f" {latency(hist['unique'][level])} | {rss(hist['rss_mib'][level])} |"
                         f" {hist['seed_seconds'].get(level, 0):.0f} s |")
    return lines


def checks_table(results: dict[str, Any]) -> list[str]:
    lines = ["| configuration | app | webhook answers (warm-up included) | processed / duplicate"
             " | non-2xx | socket errors | rows written / events answered new |",
             "|---|---|---|---|---|---|---|"]
    for config in results["pairs"] + results["history"]:
        for name, rows in config["rows"].items():
            runs = [run for part in ("warm", "unique", "dup")
                    for run in config.get(part, {}).get(name, [])]
            total = lambda key, runs=runs: sum(run[key] for run in runs)  # noqa: E731
            app = f"subsvc, {int(name):,} stored" if name.isdigit() else name
            lines.append(f"| {config['kind']}, {config['workers']} workers | {app} |"
                         f" {total('requests'):,} | {total('processed'):,} /"
                         f" {total('duplicate'):,} | {total('non2xx')} | {total('socket_errors')}"
                         f" | {rows['rows_written']:,} / {rows['answered_new']:,} |")
    return lines


INTRO = """\
`make bench` (`python -m bench.run`) drives subsvc and a *floor* over HTTP with wrk:
gunicorn in its production configuration, loopback only, a fresh database per app and
configuration. The floor (`bench/floor.py`) is the least a durable receiver must do: verify
the signature with the stripe library, insert the raw event under its unique id and commit,
with subsvc's durability (SQLite WAL, synchronous=FULL, busy timeout, BEGIN IMMEDIATE;
psycopg 3 on Postgres); its `GET /lookup` is one indexed SELECT by key hash, against
subsvc's `GET /status/api/me`. The events are whole lifecycles (`tests/lifecycles.py`, built
with `subsvc.simulate`: checkout, subscription created / updated / deleted, paid and failed
invoices, trials; API 2024-06-20 and 2025-03-31.basil), pretty-printed like Stripe's (about
5 KB), signed, on prices the default tiers map. Each wrk thread sends its own slice of the
events file, so no event id repeats (a run that runs out of events is refused); the
duplicate run sends each event three times at once. Both apps run side by side and are
measured in turn (A/B/A/B). A ratio is subsvc's mean rate over the floor's, with the range
of the pairwise ratios in brackets; latencies are the worst of the runs; peak RSS is the
highest VmHWM among the workers.
Every run is checked: all answers 2xx with the expected status, no duplicate answered in a
unique run, and the rows in the database match the events answered as new."""


def document(results: dict[str, Any], plan: Plan, command: str, note: str | None) -> str:
    pairs = results["pairs"]
    parts = ["# Performance", "", *([note, ""] if note else []), INTRO, "",
             "## Machine and command", "", *machine(plan),
             f"- command: `{command}`; the whole run took {results['elapsed_s'] / 60:.1f} min", "",
             "## Webhooks: unique events", "",
             *pair_table(pairs, "unique", ("floor", "subsvc"), ("floor", "subsvc")), "",
             "## Webhooks: every event three times, concurrently", "",
             *pair_table(pairs, "dup", ("floor", "subsvc"), ("floor", "subsvc")), "",
             "## Tier lookup: `GET /status/api/me` against one indexed SELECT", "",
             *pair_table(pairs, "lookup", ("floor", "subsvc"),
                         ("one-SELECT lookup", "/status/api/me")), ""]
    if results["history"]:
        parts += ["## Webhooks with history already stored", "",
                  *history_table(results["history"]), ""]
    parts += ["## Checks", "", *checks_table(results), ""]
    problems = results["problems"]
    parts += ["**Checks failed:**", "", *[f"- {p}" for p in problems], ""] if problems else \
        ["All checks passed.", ""]
    return "\n".join(parts)


def headline(results: dict[str, Any]) -> list[str]:
    """The README's table: subsvc over the floor per database, and big over small history."""
    kinds = ("sqlite", "postgres")
    lines = ["| | SQLite | Postgres |", "|---|---|---|"]
    for part, label in (("unique", "webhooks, subsvc / floor"), ("dup", "webhooks, each sent 3x"),
                        ("lookup", "`GET /status/api/me` / one-SELECT lookup")):
        cells = [", ".join(headline_figure(p, part) for p in results["pairs"] if p["kind"] == kind)
                 or "not run" for kind in kinds]
        lines.append(f"| {label} | {' | '.join(cells)} |")
    history: dict[str, dict[str, str]] = {}
    for hist in results["history"]:
        small, big = (str(level) for level in hist["levels"])
        label = f"webhooks, {int(big):,} stored / {int(small):,} stored"
        history.setdefault(label, {})[hist["kind"]] = \
            f"{mean_ratio(hist['unique'], small, big):.2f}x"
    for label, figures in history.items():
        lines.append(f"| {label} | {' | '.join(figures.get(kind, 'not run') for kind in kinds)} |")
    return lines


def headline_figure(pair: dict[str, Any], part: str) -> str:
    p99 = max(run["p99_us"] for run in pair[part]["subsvc"]) / 1000
    return (f"{mean_ratio(pair[part], 'floor', 'subsvc'):.2f}x ({pair['workers']} workers,"
            f" p99 {p99:.0f} ms)")


def write_outputs(results: dict[str, Any], plan: Plan, command: str, output: Path,
                  update_readme: bool, note: str | None = None) -> str:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(document(results, plan, command, note))
    table = "\n".join(headline(results))
    if update_readme:
        update_readme_block(table)
    return f"bench: wrote {output}\n{table}"


def update_readme_block(table: str) -> None:
    """Replace the README's headline block (between the bench markers), if it has one."""
    text = README.read_text()
    start, end = README_MARKS
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if pattern.search(text):
        README.write_text(pattern.sub(lambda _: f"{start}\n{table}\n{end}", text))
