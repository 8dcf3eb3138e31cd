"""The takeover attacks of issue 6 against real gunicorn over HTTP, on SQLite and Postgres.

The database is migrated by `flask db upgrade` (tests/server.py), so this also proves the
migration that records who a user first appeared as and when a checkout completed.
"""
from __future__ import annotations

import dataclasses
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from subsvc import simulate as sim
from tests.builders import FULL_KEY
from tests.conftest import BACKENDS, PRO
from tests.server import Json, Server, fresh_database, gunicorn

pytestmark = pytest.mark.server

VICTIM_EMAIL = "kate@example.com"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    with fresh_database(request.param, tmp_path) as url, gunicorn(url, tmp_path, workers=2) as srv:
        yield srv


def checkout_events(c: sim.Customer, at: int, **session: Any) -> list[Json]:
    fields: Json = {"customer": c.customer, "subscription": c.subscription, "email": c.email,
                    "client_reference_id": c.external_id, "tier": "pro", "session_id": c.session,
                    "created": at - 60} | session
    sub = sim.subscription(customer=c.customer, sub_id=c.subscription, price_id=PRO,
                           period_start=at, period_end=sim.add_interval(at))
    return [sim.event("checkout.session.completed", sim.checkout_session(**fields), created=at),
            sim.event("customer.subscription.created", sub, created=at + 1)]


def subscribe(server: Server, c: sim.Customer, at: int, **session: Any) -> None:
    for event in checkout_events(c, at, **session):
        reply = server.post_event(event)
        assert (reply.status, reply.body["status"]) == (200, "processed"), reply


def page(server: Server, method: str, session_id: str,
         headers: dict[str, str] | None = None) -> tuple[int, str]:
    query = urllib.parse.urlencode({"session_id": session_id})
    if method == "GET":
        reply = server.request("GET", f"/status/welcome?{query}", headers=headers)
    else:
        reply = server.request("POST", "/status/welcome", query.encode(),
                               {**FORM, **(headers or {})})
    return reply.status, str(reply.body.get("_raw", reply.body))


def open_welcome(server: Server, session_id: str) -> str:
    """The link opened, then its button pressed (as a same-site browser form post would)."""
    status, body = page(server, "GET", session_id)
    assert status == 200
    assert not FULL_KEY.search(body), "a plain GET showed a key"
    if '<form method="post"' not in body:
        return body
    status, revealed = page(server, "POST", session_id, {"Sec-Fetch-Site": "same-origin"})
    assert status == 200
    return body + revealed


def owner_email(server: Server, key: str) -> str | None:
    reply = server.request("GET", "/status/api/me", headers={"Authorization": f"Bearer {key}"})
    return reply.body["email"] if reply.status == 200 else None


def test_takeover_attacks_fail_against_gunicorn(server: Server) -> None:
    at = int(time.time()) - 60
    victim = dataclasses.replace(sim.Customer.make("kate"), email=VICTIM_EMAIL)
    subscribe(server, victim, at)
    attackers = [  # look-alike email; upper-cased email, unpaid; the victim's client_reference_id
        (dataclasses.replace(sim.Customer.make("m1"), email="\u212aate@example.com"),
         {"client_reference_id": None}),
        (dataclasses.replace(sim.Customer.make("m2"), email=VICTIM_EMAIL.upper()),
         {"client_reference_id": None, "payment_status": "unpaid"}),
        (sim.Customer.make("m3"), {"client_reference_id": victim.external_id}),
    ]
    for attacker, session in attackers:
        subscribe(server, attacker, at + 5, **session)
        body = open_welcome(server, attacker.session)
        assert VICTIM_EMAIL not in body and victim.external_id not in body
        assert all(owner_email(server, key) != VICTIM_EMAIL for key in FULL_KEY.findall(body))

    # A third-party page cannot spend the victim's reveal with a cross-site form post.
    assert page(server, "POST", victim.session, {"Sec-Fetch-Site": "cross-site"})[0] == 403
    [key] = FULL_KEY.findall(open_welcome(server, victim.session))
    assert owner_email(server, key) == VICTIM_EMAIL
    assert server.user_status(VICTIM_EMAIL).body["tier"] == "pro"

    old = sim.Customer.make("old")
    subscribe(server, old, int(time.time()) - 25 * 3600)
    assert not FULL_KEY.search(open_welcome(server, old.session))
    assert server.alarms() == []
