"""gunicorn settings for subsvc: `gunicorn -c gunicorn.conf.py wsgi:app`.

Used by `make run`, the Dockerfile, the benchmark and the server tests, so all of them run
this one production configuration. Environment (an empty value counts as unset, as for
subsvc's own settings; `.env` is read too):

- `BIND`: address(es) to listen on, default `127.0.0.1:${PORT:-8000}`;
- `WORKERS`: worker processes, default from the CPU count (below);
- `THREADS`: threads per worker, default 4 x WORKERS + 4 (below).

Slow clients. gthread workers accept connections in a main loop and hand each to a thread.
A thread waits up to 5 s for a new connection's first byte, then parks it in the loop without a
thread; but once bytes arrive, the thread reads the request line and headers with a *blocking*
read and no deadline, so a client that trickles header bytes (slowloris) holds that thread for
as long as it keeps trickling. gunicorn's `timeout` does not help: it only watches the main
loop, which stays free. What bounds the damage is the thread count: a worker stalls only when
every one of its threads is held. The kernel may hand all slow connections to one worker, so
each worker gets 4 threads per worker process plus 4 spare: 4 x WORKERS slow connections, even
on one worker, leave it 4 threads for real requests. More slow clients than that need a
buffering proxy in front (README, "Serving").
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from dotenv import find_dotenv, load_dotenv

# The same .env the app reads; variables already in the environment win.
load_dotenv(find_dotenv(usecwd=True), override=False)

SLOW_CLIENTS_PER_WORKER = 4
SPARE_THREADS = 4
MAX_DEFAULT_WORKERS = 4


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def _count(name: str, default: int) -> int:
    raw = _env(name)
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"gunicorn.conf.py: {name} must be a whole number, at least 1")
    return int(raw)


def _cpus() -> int:
    # The CPUs this process may run on (a cpuset or taskset), not all the host has.
    # A container limited by CPU quota instead still sees every CPU: set WORKERS there.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


wsgi_app = "wsgi:app"
bind = _env("BIND") or f"127.0.0.1:{_env('PORT') or 8000}"

# Workers from the CPU count: one process per CPU does the CPU-bound part (JSON, HMAC) in
# parallel despite the GIL; threads cover the waits on the database. At least 2, so one can
# be restarted while the other serves; at most 4 by default, because a webhook receiver is
# I/O-bound and each worker adds up to THREADS database connections (4 x 20 = 80 stays under
# Postgres' default max_connections of 100). WORKERS overrides both bounds.
workers = _count("WORKERS", min(max(2, _cpus()), MAX_DEFAULT_WORKERS))
worker_class = "gthread"
threads = _count("THREADS", SLOW_CLIENTS_PER_WORKER * workers + SPARE_THREADS)

# A worker whose main loop is silent this long is killed and replaced (gthread: a wedged
# loop, not a slow request; requests never take this long, the database gives up sooner).
timeout = 30
# On SIGTERM, in-flight requests get this long to finish. Webhook requests take well under a
# second, and one cut off is retried by Stripe; 8 s ends before Docker's 10 s stop timeout
# turns into SIGKILL.
graceful_timeout = 8
# How long an idle kept-alive connection, or a new one that has sent nothing, may wait (in
# the main loop, holding no thread) before the server closes it.
keepalive = 5

# The longest legitimate request line is an operator look-up with a 320-character email,
# percent-encoded; headers are few. Smaller limits also bound what a slow client can send.
limit_request_line = 2048
limit_request_fields = 50
limit_request_field_size = 8190

# Access log to stdout, error log to stderr, both through subsvc's redacting logger: no query
# string (session ids, emails) and no credential header reaches either log, whatever the
# format. No Referer in the format: it is another page's URL.
accesslog = "-"
errorlog = "-"
logger_class = "subsvc.serverlog.RedactingLogger"
access_log_format = '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'

# gunicorn >= 25.1 opens a control socket ($XDG_RUNTIME_DIR or ~/.gunicorn) by default:
# nothing here uses it, and several instances on one host would share its path.
control_socket_disable = True

# The worker heartbeat file on tmpfs: on a container's overlay disk a stalled write can make
# the arbiter think a healthy worker hung.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# Metrics summed across workers (subsvc/metrics.py): prometheus-client's multiprocess mode
# keeps each worker's counters in a file of this directory, which every scrape adds up. A
# fresh directory per server start (tmpfs where there is one), emptied of a previous run's
# files if an operator names one; a worker that exits is marked dead, so its counts stay in
# the sums while its live gauges go.
_own_metrics_dir = not _env("PROMETHEUS_MULTIPROC_DIR")
if _own_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
        prefix="subsvc-metrics-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)


def on_starting(server: object) -> None:
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def child_exit(server: object, worker: object) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]


def on_exit(server: object) -> None:
    if _own_metrics_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
