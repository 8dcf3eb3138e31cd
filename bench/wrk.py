"""Running wrk with the bench's Lua scripts and reading the JSON line their done() prints."""
from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LUA_DIR = Path(__file__).resolve().parent / "lua"
THREADS = 2
TIMEOUT = "10s"  # a request slower than this counts as a timeout error in the results


class BenchError(RuntimeError):
    """A run that cannot be trusted: refused, not reported as a figure."""


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise BenchError("wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu) "
                         "or see https://github.com/wg/wrk")
    return path


def wrk_version() -> str:
    done = subprocess.run([wrk_path(), "-v"], capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).splitlines()[0].split(" [")[0]


@dataclass(frozen=True)
class Load:
    connections: int
    duration: float
    threads: int = THREADS
    # A run whose events run out ends there instead of failing: the count of events, not
    # the clock, bounds it. For smoke tests, whose point is the answers, not the rate.
    fixed_count: bool = False


def run_wrk(url: str, script: str, args: list[str], load: Load) -> dict[str, Any]:
    """One wrk run; the counters of lua/common.lua plus latency percentiles (µs)."""
    command = [wrk_path(), "-t", str(load.threads), "-c", str(load.connections),
               "-d", f"{load.duration:g}s", "--timeout", TIMEOUT, "-s", script, url, "--", *args]
    # cwd: the scripts `require("common")` from their own directory.
    done = subprocess.run(command, cwd=LUA_DIR, capture_output=True, text=True,
                          timeout=load.duration + 300, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH_JSON ")]
    if done.returncode != 0 or not lines:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("BENCH_JSON "))
    result["rate"] = result["requests"] / (result["duration_us"] / 1e6)
    result["socket_errors"] = sum(result[f"errors_{kind}"]
                                  for kind in ("connect", "read", "write", "timeout"))
    return result
