"""The benchmark harness (bench/) measures what it claims: a short smoke run on SQLite.

Speed is never asserted; the answers and the rows behind them are. Skipped when wrk (the
load generator, Debian package `wrk`) is not installed; `.ci/run` installs it.
"""
from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.events import EventFile, Prices, write_events
from tests.conftest import WEBHOOK_SECRET
from tests.server import REPO_ROOT

needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None,
                               reason="wrk not installed (apt-get install -y wrk)")
SMOKE_DEADLINE = 300  # seconds for the whole harness run


def records(events: EventFile, spec: str) -> list[dict[str, Any]]:
    """The events of one thread's "<offset>:<count>" slice, read as lua/webhooks.lua does."""
    offset, count = (int(x) for x in spec.split(":"))
    out = []
    with events.path.open("rb") as f:
        f.seek(offset)
        for _ in range(count):
            signature, length = f.readline().split()
            out.append(json.loads(f.read(int(length))))
            assert f.read(1) == b"\n" and signature.startswith(b"t=")
    return out


def test_thread_slices_are_disjoint_and_cover_the_range(tmp_path: Path) -> None:
    events = write_events(tmp_path / "events.txt", 45, WEBHOOK_SECRET, Prices())
    slices = events.slices(7, 31, 3)
    ids = [event["id"] for spec in slices for event in records(events, spec)]
    everything = [event["id"] for event in records(events, f"0:{events.count}")]
    assert ids == everything[7:38] and len(set(ids)) == 31
    with pytest.raises(ValueError):
        events.slices(40, 10, 2)  # past the end: refused, never wrapped around


@pytest.mark.server
@needs_wrk
def test_smoke_run_answers_2xx_and_stores_what_it_answers(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    command = [sys.executable, "-m", "bench.run", "--quick", "--sqlite-only", "--duration", "1",
               "--history", "", "--lookup-users", "20", "--max-rate", "2000", "--fixed-count",
               "--json", str(out), "--output", str(tmp_path / "performance.md"),
               "--workdir", str(tmp_path)]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=SMOKE_DEADLINE, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(out.read_text())
    assert results["problems"] == []
    (pair,) = results["pairs"]
    for app in ("floor", "subsvc"):
        for run in pair["unique"][app] + pair["dup"][app] + pair["lookup"][app]:
            assert run["requests"] > 0
            assert run["non2xx"] == run["unexpected"] == run["socket_errors"] == 0
        for run in pair["unique"][app]:
            assert run["duplicate"] == 0
            assert run["processed"] + run["ignored"] == run["requests"]
        assert all(run["duplicate"] > 0 for run in pair["dup"][app])
        assert all(run["ok"] == run["requests"] for run in pair["lookup"][app])
        rows = pair["rows"][app]
        assert 0 < rows["answered_new"] <= rows["rows_written"]
        assert rows["rows_written"] <= rows["answered_new"] + rows["in_flight_allowed"]
        assert max(pair["rss_mib"][app].values()) > 0
    report = (tmp_path / "performance.md").read_text()
    assert "## Webhooks: unique events" in report and "All checks passed." in report


def test_the_in_process_comparison_runs_both_apps_to_200s() -> None:
    # bench/wsgi.py exits non-zero on any answer but 200, so a clean exit is the check.
    done = subprocess.run([sys.executable, "-m", "bench.wsgi", "--events", "30", "--rounds",
                           "1", "--lookups", "10", "--window", "8"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=SMOKE_DEADLINE, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    assert {"webhook subsvc ms", "webhook floor ms", "lookup subsvc ms",
            "lookup floor ms"} <= figures.keys()
