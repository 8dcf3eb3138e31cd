"""gunicorn.conf.py over real HTTP: slow and idle clients cannot stall it; its logs keep no query.

A connection that trickles its headers holds a gthread thread for as long as it trickles
(gunicorn.conf.py explains why); the thread count is sized so that 4 x workers of them, however
the kernel spreads them over the workers, leave threads for real requests.
"""
from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path

import pytest

from subsvc import simulate as sim
from tests.builders import checkout
from tests.conftest import ADMIN_TOKEN, BACKENDS
from tests.faults import until
from tests.server import Reply, Server, fresh_database, gunicorn, journey, new_customer

pytestmark = pytest.mark.server

WORKERS = 2
SLOW_CLIENTS = 4 * WORKERS
ANSWER_WITHIN = 2.0
TRICKLE_EVERY = 0.2
# A silent connection waits 5 s for its first byte in a thread, then keepalive (5 s) in the
# worker's loop; a kept-alive one keepalive alone. Generous, as it bounds a wait only.
IDLE_CLOSED_WITHIN = 30.0
START = int(time.time()) - 30 * sim.DAY


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    with fresh_database(request.param, tmp_path) as url, \
            gunicorn(url, tmp_path, workers=WORKERS) as srv:
        yield srv


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[Server]:
    with fresh_database("sqlite", tmp_path) as url, gunicorn(url, tmp_path, workers=WORKERS) as srv:
        yield srv


def accept_queue(port: int) -> int:
    """Connections waiting in the listening socket's accept queue (its rx_queue in /proc)."""
    local = f"0100007F:{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[3] == "0A":  # 0A: LISTEN
            return int(fields[4].split(":")[1], 16)
    raise AssertionError(f"no socket listening on port {port}")


def is_open(sock: socket.socket) -> bool:
    """Still connected: nothing to read yet, and no end of file or reset from the server."""
    try:
        return sock.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


@contextmanager
def slowloris(server: Server, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections that send a request line and a header, then trickle one more header.

    Yields once the workers have accepted them all, so each one has gone to a thread before
    anything else arrives; the trickling goes on until the block ends.
    """
    stop = threading.Event()
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.create_connection(("127.0.0.1", server.port)))
                 for _ in range(count)]
        for sock in socks:
            sock.sendall(b"POST /api/webhooks/stripe HTTP/1.1\r\nHost: subsvc\r\nX-Slow: ")

        def trickle() -> None:
            while not stop.wait(TRICKLE_EVERY):
                for sock in socks:
                    try:
                        sock.send(b"a")
                    except OSError:
                        pass  # closed by the server: the test's is_open check reports it

        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        try:
            assert until(lambda: accept_queue(server.port) == 0), "slow connections not accepted"
            yield socks
        finally:
            stop.set()
            sender.join()


def answered_within(seconds: float, call: Callable[[], Reply]) -> Reply:
    started = time.monotonic()
    reply = call()  # each call passes `seconds` as its socket timeout too
    assert time.monotonic() - started < seconds
    return reply


def test_healthz_and_a_webhook_answer_while_4x_workers_slow_clients_trickle(server: Server) -> None:
    _, events, _ = journey("full", sim.API_NEW, START)
    server.request("GET", "/readyz")  # the workers' first database connection, before the clock
    with slowloris(server, SLOW_CLIENTS) as socks:
        health = answered_within(ANSWER_WITHIN, lambda: server.request(
            "GET", "/healthz", timeout=ANSWER_WITHIN))
        webhook = answered_within(ANSWER_WITHIN, lambda: server.post_event(
            events[0], timeout=ANSWER_WITHIN))
        # The slow clients were still holding their threads all along.
        assert [is_open(sock) for sock in socks] == [True] * SLOW_CLIENTS
    assert health.status == 200
    assert (webhook.status, webhook.body) == (
        200, {"status": "processed", "event_id": events[0]["id"]})


def test_idle_connections_are_closed_by_the_server(sqlite_server: Server) -> None:
    server = sqlite_server
    kept = http.client.HTTPConnection("127.0.0.1", server.port, timeout=IDLE_CLOSED_WITHIN)
    with socket.create_connection(("127.0.0.1", server.port)) as silent, closing(kept):
        kept.request("GET", "/healthz")
        reply = kept.getresponse()
        assert (reply.status, reply.read(), reply.getheader("Connection")) == (
            200, b'{"status":"ok"}\n', "keep-alive")  # answered in full, kept open
        assert kept.sock is not None
        for sock in (silent, kept.sock):
            sock.settimeout(IDLE_CLOSED_WITHIN)
            assert sock.recv(65536) == b""  # end of file: the server closed it


def test_logs_hold_no_session_id_and_no_email(sqlite_server: Server) -> None:
    server = sqlite_server
    session_id = f"cs_test_{uuid.uuid4().hex}"
    local_part = f"ada{uuid.uuid4().hex[:12]}"
    email = urllib.parse.quote(f"{local_part}@example.com")
    basic = base64.b64encode(f"operator:{ADMIN_TOKEN}".encode()).decode()
    server.request("GET", f"/status/welcome?session_id={session_id}")
    server.request("GET", f"/status/users?email={email}",
                   headers={"Authorization": f"Basic {basic}"})
    server.request("GET", f"/status/api/users?email={email}",
                   headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    server.request("GET", "/healthz", headers={
        "Referer": f"{server.url}/status/welcome?session_id={session_id}"})
    # A control character in the target: gunicorn's error log quotes the whole request line.
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(f"GET /status/welcome?session_id={session_id}\tx HTTP/1.1\r\n\r\n".encode())
        sock.settimeout(10)
        assert sock.recv(65536).startswith(b"HTTP/1.1 400")
    server.stop()  # flushes every worker's log

    log = server.log()
    for secret in (session_id.removeprefix("cs_test_"), local_part, ADMIN_TOKEN, basic):
        assert secret not in log
    # ...and not because the lines were missing:
    assert "/status/welcome?<redacted>" in log and "/status/users?<redacted>" in log
    assert "Invalid HTTP request line: 'GET /status/welcome?<redacted>" in log


def test_log_format_json_makes_every_server_line_json(tmp_path: Path) -> None:
    """gunicorn's own lines (arbiter, workers, access log) and the app's: one JSON object each."""
    with fresh_database("sqlite", tmp_path) as url, \
            gunicorn(url, tmp_path, workers=2, env={"LOG_FORMAT": "json"}) as server:
        event = checkout(new_customer())
        assert server.post_event(event).body["status"] == "processed"
        assert server.request("GET", "/healthz").status == 200
        server.stop()
        lines = [line for line in server.log().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # raises on any line that is not JSON
    loggers = {record["logger"] for record in records}
    assert {"gunicorn.error", "gunicorn.access", "subsvc.inbox"} <= loggers, loggers
    (done,) = [r for r in records if r["message"].startswith("Successfully processed")]
    assert (done["event_id"], done["outcome"]) == (event["id"], "processed")
    assert any("GET /healthz" in r["message"] for r in records if r["logger"] == "gunicorn.access")
