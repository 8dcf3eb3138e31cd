"""Two-tier mode: the edge verifies and forwards over real HTTP
to a core serving the internal endpoint.
"""
from __future__ import annotations

import socket
import threading
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from subsvc import simulate as sim
from subsvc.webhooks import forward as forward_module
from tests.builders import UNMAPPED, checkout, deliver, inbox_row, snapshot, subscription_event
from tests.conftest import INTERNAL_SECRET, own_app
from tests.server import free_port


@pytest.fixture
def core(app: Flask, database_url: str) -> Iterator[tuple[Flask, str]]:
    """The core as its own app and HTTP server on the same database as `app`."""
    with own_app(database_url) as core_app:
        server: BaseWSGIServer = make_server("127.0.0.1", 0, core_app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.server_port}/subscriptions/internal/stripe-webhook"
            yield core_app, url
        finally:
            server.shutdown()
            thread.join(timeout=10)


@pytest.fixture
def edge(database_url: str) -> Iterator[Callable[..., Flask]]:
    """Builds edge apps that forward to a URL; their connections are closed afterwards."""
    with ExitStack() as built:
        def build(url: str, **overrides: Any) -> Flask:
            return built.enter_context(own_app(database_url, INTERNAL_WEBHOOK_URL=url, **overrides))
        yield build


def test_forwarded_event_is_processed_once_by_the_core(
        core: tuple[Flask, str], edge: Callable[..., Flask], app: Flask,
        caplog: pytest.LogCaptureFixture) -> None:
    client = edge(core[1]).test_client()
    event = checkout(sim.Customer.make("fwd1"))

    first, second = deliver(client, event), deliver(client, event)

    assert (first.status_code, first.get_json()) == (200, {"status": "processed",
                                                           "event_id": event["id"]})
    assert (second.status_code, second.get_json()) == (200, {"status": "duplicate",
                                                             "event_id": event["id"]})
    assert inbox_row(app, event["id"]).attempts == 1
    assert f"Forwarding event {event['id']} (checkout.session.completed)" in caplog.text
    assert f"Successfully processed event {event['id']} (checkout.session.completed)" in caplog.text
    assert INTERNAL_SECRET not in caplog.text


def test_core_failure_is_a_502_so_stripe_retries(core: tuple[Flask, str],
                                                 edge: Callable[..., Flask],
                                                 app: Flask) -> None:
    client = edge(core[1]).test_client()
    event = subscription_event("customer.subscription.created", sim.Customer.make("fwd2"),
                               price_id=UNMAPPED)

    answer = deliver(client, event)

    assert (answer.status_code, answer.get_json()) == (502, {"error": "processing_failed",
                                                             "event_id": event["id"]})
    assert inbox_row(app, event["id"]).status == "failed"


def test_unreachable_core_is_a_503_and_changes_nothing(edge: Callable[..., Flask],
                                                       app: Flask) -> None:
    url = f"http://127.0.0.1:{free_port()}/subscriptions/internal/stripe-webhook"
    client = edge(url).test_client()
    event = checkout(sim.Customer.make("fwd3"))
    before = snapshot(app)

    answer = deliver(client, event)

    assert (answer.status_code, answer.get_json()) == (503, {"error": "processing_failed",
                                                             "event_id": event["id"]})
    assert snapshot(app) == before


def test_core_rejecting_the_shared_secret_is_a_502(core: tuple[Flask, str],
                                                   edge: Callable[..., Flask],
                                                   app: Flask) -> None:
    client = edge(core[1],
                  INTERNAL_WEBHOOK_SECRET="not-the-secret-the-core-expects-0123").test_client()
    event = checkout(sim.Customer.make("fwd4"))
    before = snapshot(app)

    answer = deliver(client, event)

    assert (answer.status_code, answer.get_json()) == (502, {"error": "processing_failed",
                                                             "event_id": event["id"]})
    assert snapshot(app) == before


def test_forwarding_without_a_shared_secret_is_not_configured(edge: Callable[..., Flask],
                                                              app: Flask) -> None:
    client = edge("http://127.0.0.1:9/x", INTERNAL_WEBHOOK_SECRET=None).test_client()

    answer = deliver(client, checkout(sim.Customer.make("fwd5")))

    assert (answer.status_code, answer.get_json()) == (503, {"error": "not_configured"})


# --- where the secret may go: no redirects, no proxies, http(s) only, bounded waits -------

@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@pytest.fixture
def listener() -> Iterator[Callable[..., tuple[str, list[Seen]]]]:
    """Starts small HTTP servers: `start(status, headers, body)` -> (base URL, requests seen)."""
    servers: list[ThreadingHTTPServer] = []

    def start(status: int = 200, headers: dict[str, str] | None = None,
              body: bytes = b"{}") -> tuple[str, list[Seen]]:
        seen: list[Seen] = []

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                seen.append(Seen(self.command, self.path, dict(self.headers)))
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_CONNECT = answer

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.server_port}", seen

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirecting_core_is_a_502_and_the_secret_never_follows(
        edge: Callable[..., Flask], app: Flask, listener: Callable[..., tuple[str, list[Seen]]],
        caplog: pytest.LogCaptureFixture, code: int) -> None:
    target, reached = listener(200, body=b'{"status": "processed"}')
    core_url, asked = listener(code, {"Location": f"{target}/stolen"})
    client = edge(f"{core_url}/subscriptions/internal/stripe-webhook").test_client()
    event = checkout(sim.Customer.make(f"fwd-redirect-{code}"))
    before = snapshot(app)

    answer = deliver(client, event)

    assert (answer.status_code, answer.get_json()) == (502, {"error": "processing_failed",
                                                             "event_id": event["id"]})
    assert [s.headers.get("X-Internal-Secret") for s in asked] == [INTERNAL_SECRET]
    assert reached == []
    assert snapshot(app) == before
    assert f"Core answered {code} for event {event['id']}" in caplog.text
    assert INTERNAL_SECRET not in caplog.text


@pytest.mark.parametrize("body", [b'{"status": "processed"}', b"<html>ok</html>", b""],
                         ids=["no-event-id", "html", "empty"])
def test_a_200_that_is_not_the_cores_answer_is_a_502(
        edge: Callable[..., Flask], listener: Callable[..., tuple[str, list[Seen]]],
        body: bytes) -> None:
    url, _ = listener(200, body=body)
    event = checkout(sim.Customer.make("fwd-not-core"))

    answer = deliver(edge(f"{url}/x").test_client(), event)

    assert (answer.status_code, answer.get_json()) == (502, {"error": "processing_failed",
                                                             "event_id": event["id"]})


def test_proxy_variables_are_ignored(core: tuple[Flask, str], edge: Callable[..., Flask],
                                     listener: Callable[..., tuple[str, list[Seen]]],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    proxy, proxied = listener(200, body=b'{"status": "processed", "event_id": "evt_proxy"}')
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY",
                 "all_proxy"):
        monkeypatch.setenv(name, proxy)
    for name in ("NO_PROXY", "no_proxy"):  # else urllib may bypass the proxy for 127.0.0.1
        monkeypatch.delenv(name, raising=False)
    # urlopen caches its default opener (and the proxies it read) on first use: drop it, so
    # code that used the default opener would read the variables set above.
    monkeypatch.setattr(urllib.request, "_opener", None)
    event = checkout(sim.Customer.make("fwd-proxy"))

    answer = deliver(edge(core[1]).test_client(), event)

    assert (answer.status_code, answer.get_json()) == (200, {"status": "processed",
                                                             "event_id": event["id"]})
    assert proxied == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1:9/x",
                                 "data:application/json,{}"])
def test_a_non_http_url_is_never_opened(edge: Callable[..., Flask], app: Flask, url: str) -> None:
    # Settings refuse such a URL at start-up (test_config.py); test configs bypass that check.
    event = checkout(sim.Customer.make("fwd-scheme"))
    before = snapshot(app)

    answer = deliver(edge(url).test_client(), event)

    assert (answer.status_code, answer.get_json()) == (503, {"error": "processing_failed",
                                                             "event_id": event["id"]})
    assert snapshot(app) == before


def test_a_silent_core_is_a_503_after_the_timeout(edge: Callable[..., Flask],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert forward_module.TIMEOUT_SECONDS < 30  # below gunicorn's worker timeout
    monkeypatch.setattr(forward_module, "TIMEOUT_SECONDS", 1)
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        client = edge(f"http://127.0.0.1:{silent.getsockname()[1]}/x").test_client()
        event = checkout(sim.Customer.make("fwd-silent"))

        with ThreadPoolExecutor(max_workers=1) as pool:
            answer = pool.submit(deliver, client, event).result(timeout=10)

    assert (answer.status_code, answer.get_json()) == (503, {"error": "processing_failed",
                                                             "event_id": event["id"]})
