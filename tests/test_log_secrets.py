"""A whole customer lifecycle on gunicorn with every logger at DEBUG: no secret in any log line.

The log is the server's real stdout and stderr (tests/server.py), in both LOG_FORMATs,
with LOG_LEVEL=DEBUG (root, SQLAlchemy and subsvc's loggers) and gunicorn at
--log-level debug with its access log on. What must never appear: the webhook and
internal secrets, the admin token, the API key (beyond its display prefix), a
Stripe-Signature value, the checkout session id, a raw event body.
"""
from __future__ import annotations

import json
import re
import time
import urllib.parse
from pathlib import Path

import pytest

from subsvc import simulate as sim
from subsvc.accounts.api_keys import DISPLAY_LENGTH
from tests.builders import UNMAPPED, basic, subscription_event
from tests.conftest import ADMIN_TOKEN, BACKENDS, BUSINESS, INTERNAL_SECRET, PRO, WEBHOOK_SECRET
from tests.lifecycles import lifecycle
from tests.server import Json, Server, fresh_database, gunicorn

DEBUG_ENV = {"LOG_LEVEL": "DEBUG", "GUNICORN_CMD_ARGS": "--log-level debug"}
KEY_ON_PAGE = re.compile(r'<code class="secret">([^<]+)</code>')


def reveal_key(server: Server, session_id: str) -> str:
    """The welcome page's one-time key reveal, as a visitor does it after Checkout:
    the link opened (a GET, which shows no key), then its button pressed (a same-site POST)."""
    query = urllib.parse.urlencode({"session_id": session_id})
    assert server.request("GET", f"/status/welcome?{query}").status == 200
    reply = server.request("POST", "/status/welcome", query.encode(),
                           {"Content-Type": "application/x-www-form-urlencoded",
                            "Sec-Fetch-Site": "same-origin"})
    match = KEY_ON_PAGE.search(reply.body.get("_raw", ""))
    assert reply.status == 200 and match, reply
    return match.group(1)


def deliver(server: Server, event: Json, n: int, secrets: list[str]) -> None:
    """Every third event through the internal endpoint (X-Internal-Secret), the rest signed."""
    body, headers = sim.signed_request(event, WEBHOOK_SECRET)
    signature = headers["Stripe-Signature"]
    secrets += [body.decode(), signature, signature.partition("v1=")[2]]
    idempotency_key = event["request"]["idempotency_key"]
    secrets += [idempotency_key] if idempotency_key else []  # appears only in the raw body
    reply = server.post_internal(event) if n % 3 == 2 else server.request(
        "POST", "/api/webhooks/stripe", body, headers)
    assert reply.status == 200, (event["type"], reply)


def run_lifecycle(server: Server) -> list[str]:
    """Checkout to cancellation, the reveal, key and admin look-ups, a few failures; the secrets."""
    c = sim.Customer.make(f"logs{time.monotonic_ns()}")
    events, _ = lifecycle("full", c, pro_price=PRO, business_price=BUSINESS,
                          start=int(time.time()) - 3600)
    secrets = [WEBHOOK_SECRET, INTERNAL_SECRET, ADMIN_TOKEN, c.session]
    for n, event in enumerate(events):
        deliver(server, event, n, secrets)
    key = reveal_key(server, c.session)
    secrets += [key, key[DISPLAY_LENGTH:]]
    me = server.request("GET", "/status/api/me", headers={"Authorization": f"Bearer {key}"})
    assert (me.status, me.body["email"]) == (200, c.email)
    assert server.user_status(c.email).status == 200
    page = server.request("GET", f"/status/users?{urllib.parse.urlencode({'email': c.email})}",
                          headers=basic("ops", ADMIN_TOKEN))
    assert page.status == 200
    secrets += wrong_credentials(server, key)
    # A new customer's subscription on a price of no tier fails loudly (a logged traceback).
    failing = subscription_event("customer.subscription.created",
                                 sim.Customer.make(f"logs-fail{time.monotonic_ns()}"),
                                 price_id=UNMAPPED)
    body, headers = sim.signed_request(failing, WEBHOOK_SECRET)
    secrets += [body.decode(), headers["Stripe-Signature"]]
    # Its redelivery reads the failed inbox row back, raw body and all (SQLAlchemy's row echo).
    for _ in range(2):
        assert server.request("POST", "/api/webhooks/stripe", body, headers).status == 500
    return secrets


def wrong_credentials(server: Server, key: str) -> list[str]:
    """Near-miss guesses of the key, the admin token and the signature; the guesses."""
    guesses = [key[:-1] + "x", ADMIN_TOKEN[:-1] + "x"]
    assert server.request("GET", "/status/api/me",
                          headers={"Authorization": f"Bearer {guesses[0]}"}).status == 401
    assert server.request("GET", "/status/api/users?email=a@example.com",
                          headers={"Authorization": f"Bearer {guesses[1]}"}).status == 401
    event = sim.event("customer.created", {"id": "cus_LogTest", "object": "customer"})
    body, headers = sim.signed_request(event, WEBHOOK_SECRET[:-1] + "x")
    assert server.request("POST", "/api/webhooks/stripe", body, headers).status == 400
    return [*guesses, body.decode(), headers["Stripe-Signature"]]


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_whole_lifecycle_at_debug_logs_no_secret(backend: str, log_format: str,
                                                   tmp_path: Path) -> None:
    env = {**DEBUG_ENV, "LOG_FORMAT": log_format}
    with fresh_database(backend, tmp_path) as url, gunicorn(url, tmp_path, workers=2,
                                                           env=env) as server:
        secrets = run_lifecycle(server)
        server.stop()  # flush and close the log before reading it
        lines = server.log().splitlines()

    leaks = [(secret[:12], line) for line in lines for secret in secrets if secret in line]
    assert leaks == []
    fragments = ['"object":"event"', '"object": "event"', '\\"object\\":', "whsec_test",
                 "Bearer sk_"]
    assert [line for line in lines if any(f in line for f in fragments)] == []
    assert_really_at_debug(lines, log_format)


def assert_really_at_debug(lines: list[str], log_format: str) -> None:
    """The test proves something only if the libraries did log, and in the chosen format."""
    ours = [json.loads(line) for line in lines if line.startswith("{")]
    if log_format == "json":
        records = [(r["level"], r["logger"], r["message"]) for r in ours]
    else:
        assert ours == []
        records = [tuple(m.groups()) for m in map(TEXT_LINE.match, lines) if m]
    assert any(level == "DEBUG" and logger.startswith("sqlalchemy") for level, logger, _ in records)
    assert any(logger == "sqlalchemy.engine.Engine" and message.startswith(("SELECT", "INSERT"))
               for _, logger, message in records)
    assert any(logger == "subsvc.inbox" and message.startswith("Successfully processed")
               for _, logger, message in records)
    # gunicorn.conf.py's logger drops every query string (subsvc/serverlog.py).
    assert any("GET /status/welcome?<redacted>" in line for line in lines)


TEXT_LINE = re.compile(r"^\S+ \S+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) ([\w.]+): (.*)$")
