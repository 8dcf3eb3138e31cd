"""Two-tier mode: the edge verifies and forwards over real HTTP to a core serving the internal endpoint."""
from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from subsvc import create_app
from subsvc import simulate as sim
from subsvc.extensions import db
from tests.builders import UNMAPPED, checkout, deliver, inbox_row, snapshot, subscription_event
from tests.conftest import INTERNAL_SECRET, base_config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def core(app: Flask, database_url: str) -> Iterator[tuple[Flask, str]]:
    """The core as its own app and HTTP server on the same database as `app`."""
    core_app = create_app(base_config(database_url))
    server: BaseWSGIServer = make_server("127.0.0.1", 0, core_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield core_app, f"http://127.0.0.1:{server.server_port}/subscriptions/internal/stripe-webhook"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        dispose(core_app)


def dispose(app: Flask) -> None:
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def edge(database_url: str) -> Iterator[Callable[..., Flask]]:
    """Builds edge apps that forward to a URL; their connections are closed afterwards."""
    built: list[Flask] = []

    def build(url: str, **overrides: Any) -> Flask:
        built.append(create_app({**base_config(database_url), "INTERNAL_WEBHOOK_URL": url,
                                 **overrides}))
        return built[-1]
    yield build
    for app in built:
        dispose(app)


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


def test_core_failure_is_a_502_so_stripe_retries(core: tuple[Flask, str], edge: Callable[..., Flask],
                                                 app: Flask) -> None:
    client = edge(core[1]).test_client()
    event = subscription_event("customer.subscription.created", sim.Customer.make("fwd2"),
                               price_id=UNMAPPED)

    answer = deliver(client, event)

    assert (answer.status_code, answer.get_json()) == (502, {"error": "processing_failed",
                                                             "event_id": event["id"]})
    assert inbox_row(app, event["id"]).status == "failed"


def test_unreachable_core_is_a_503_and_changes_nothing(edge: Callable[..., Flask], app: Flask) -> None:
    url = f"http://127.0.0.1:{free_port()}/subscriptions/internal/stripe-webhook"
    client = edge(url).test_client()
    event = checkout(sim.Customer.make("fwd3"))
    before = snapshot(app)

    answer = deliver(client, event)

    assert (answer.status_code, answer.get_json()) == (503, {"error": "processing_failed",
                                                             "event_id": event["id"]})
    assert snapshot(app) == before


def test_core_rejecting_the_shared_secret_is_a_502(core: tuple[Flask, str], edge: Callable[..., Flask],
                                                   app: Flask) -> None:
    client = edge(core[1],
                  INTERNAL_WEBHOOK_SECRET="not-the-secret-the-core-expects-0123").test_client()
    event = checkout(sim.Customer.make("fwd4"))
    before = snapshot(app)

    answer = deliver(client, event)

    assert (answer.status_code, answer.get_json()) == (502, {"error": "processing_failed",
                                                             "event_id": event["id"]})
    assert snapshot(app) == before


def test_forwarding_without_a_shared_secret_is_not_configured(edge: Callable[..., Flask], app: Flask) -> None:
    client = edge("http://127.0.0.1:9/x", INTERNAL_WEBHOOK_SECRET=None).test_client()

    answer = deliver(client, checkout(sim.Customer.make("fwd5")))

    assert (answer.status_code, answer.get_json()) == (503, {"error": "not_configured"})
