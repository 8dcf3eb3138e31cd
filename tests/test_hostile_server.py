"""Hostile input over real HTTP against gunicorn: chunked bodies past the limit, raw header bytes.

The in-process client always sends a Content-Length; only a real server shows what a
chunked body (Transfer-Encoding: chunked, no Content-Length) does to the size limit.
"""
from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest

from subsvc import simulate as sim
from tests.builders import LEAKS, deep_json, internal_headers, signed_headers, subscription_event
from tests.conftest import BACKENDS
from tests.server import (
    CONNECTION_ERRORS,
    REQUEST_TIMEOUT,
    Reply,
    Server,
    fresh_database,
    gunicorn,
    new_customer,
    query,
)

pytestmark = pytest.mark.server

MIB = 1024 * 1024
PUBLIC, INTERNAL = "/api/webhooks/stripe", "/subscriptions/internal/stripe-webhook"
CHUNK = 64 * 1024


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("hostile")
    with fresh_database(request.param, workdir) as url, gunicorn(url, workdir, workers=2) as srv:
        yield srv


def send(server: Server, path: str, body: bytes, headers: dict[str, Any], *,
         chunked: bool) -> Reply:
    """POST `body` by hand: chunk framing of our own, or a plain Content-Length."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=REQUEST_TIMEOUT)
    try:
        conn.putrequest("POST", path)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.putheader("Transfer-Encoding" if chunked else "Content-Length",
                       "chunked" if chunked else str(len(body)))
        conn.endheaders()
        if chunked:
            for start in range(0, len(body), CHUNK):
                piece = body[start:start + CHUNK]
                conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            conn.send(b"0\r\n\r\n")
        else:
            conn.send(body)
        response = conn.getresponse()
        raw = response.read()
        return Reply(response.status, json.loads(raw) if raw else {})
    finally:
        conn.close()


def padded_event(size: int) -> tuple[dict[str, Any], bytes]:
    """A valid event followed by whitespace (still valid JSON) to exactly `size` bytes."""
    event = subscription_event("customer.subscription.created", new_customer())
    body = sim.dumps(event)
    return event, body + b" " * (size - len(body))


INTERNAL_HEADERS = internal_headers()


def inbox_ids(server: Server) -> set[str]:
    return {row[0] for row in query(server.database_url, "SELECT event_id FROM inbox_events")}


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
@pytest.mark.parametrize("path", [PUBLIC, INTERNAL], ids=["public", "internal"])
def test_body_one_byte_over_the_limit_is_413(server: Server, path: str, chunked: bool) -> None:
    event, body = padded_event(MIB + 1)
    headers = signed_headers(body) if path == PUBLIC else INTERNAL_HEADERS

    reply = send(server, path, body, headers, chunked=chunked)

    assert (reply.status, reply.body) == (413, {"error": "payload_too_large"})
    assert event["id"] not in inbox_ids(server)


@pytest.mark.parametrize("path", [PUBLIC, INTERNAL], ids=["public", "internal"])
def test_chunked_body_of_exactly_the_limit_is_processed(server: Server, path: str) -> None:
    event, body = padded_event(MIB)
    headers = signed_headers(body) if path == PUBLIC else INTERNAL_HEADERS

    reply = send(server, path, body, headers, chunked=True)

    assert (reply.status, reply.body) == (200, {"status": "processed", "event_id": event["id"]})


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_far_over_the_limit_is_refused_not_cut(server: Server, chunked: bool) -> None:
    """Past what the server drains, the sender may see a reset instead of the 413; never a 200."""
    event, body = padded_event(3 * MIB)

    try:
        reply: Reply | Exception = send(server, INTERNAL, body, INTERNAL_HEADERS, chunked=chunked)
    except CONNECTION_ERRORS as exc:
        reply = exc

    if isinstance(reply, Reply):
        assert (reply.status, reply.body) == (413, {"error": "payload_too_large"})
    assert event["id"] not in inbox_ids(server)
    assert server.request("GET", "/healthz").status == 200


@pytest.mark.parametrize("header", [b"t=1700000000,v1=\xc3\xa9", b"\xff\xfe", b"t=\xd9\xa1,v1=ab"],
                         ids=["utf8", "invalid-utf8", "arabic-digit"])
def test_non_ascii_signature_bytes_are_invalid_signature_without_a_traceback(
        server: Server, header: bytes) -> None:
    event, body = padded_event(2_000)
    headers = {"Content-Type": "application/json", "Stripe-Signature": header}

    reply = send(server, PUBLIC, body, headers, chunked=False)

    assert (reply.status, reply.body) == (400, {"error": "invalid_signature"})
    assert event["id"] not in inbox_ids(server)
    assert "Traceback" not in server.log()


@pytest.mark.parametrize("path", [PUBLIC, INTERNAL], ids=["public", "internal"])
def test_deep_json_over_http_is_invalid_payload_without_a_traceback(server: Server,
                                                                    path: str) -> None:
    body = deep_json(1_000)
    headers = signed_headers(body) if path == PUBLIC else INTERNAL_HEADERS

    reply = send(server, path, body, headers, chunked=True)

    assert (reply.status, reply.body) == (400, {"error": "invalid_payload"})
    assert not LEAKS.search(json.dumps(reply.body))
    assert "Traceback" not in server.log()


def test_log_holds_no_traceback_at_the_end(server: Server) -> None:
    assert server.alarms() == []
