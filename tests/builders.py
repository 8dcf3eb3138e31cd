"""The tests' helper module: delivery, single realistic events, and database read-outs.

Every mechanic a test module needs besides its fixtures lives here once (conftest.py keeps the
fixtures and the settings they use, server.py the gunicorn harness): signed delivery (through
subsvc.simulate's signing), the status and key look-ups, and read-outs taken inside a short-lived
app context. Expected states stay in the tests, written out by hand.
"""
from __future__ import annotations

import base64
import dataclasses
import re
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select
from werkzeug.test import TestResponse

from subsvc import simulate as sim
from subsvc.extensions import db
from subsvc.handlers.registry import registered_types
from subsvc.models import InboxEvent, Subscription, User
from tests.conftest import ADMIN_TOKEN, BUSINESS, INTERNAL_SECRET, PRO, WEBHOOK_SECRET  # noqa: F401  (the priced tiers, for tests of events)

Json = dict[str, Any]

PUBLIC_URL = "/api/webhooks/stripe"
INTERNAL_URL = "/subscriptions/internal/stripe-webhook"

UNMAPPED = "price_1UnmappedPriceForTest0"
APIS = list(sim.API_VERSIONS)  # every shape family: legacy, 2024-06-20, basil, endive

START = 1_767_268_800  # 2026-01-01T12:00:00Z
P1 = sim.add_interval(START)
P2 = sim.add_interval(START, n=2)

# The handled types whose events carry a subscription (not a bare customer object), read from
# the registry (its package imports every handler) so that a new handler gets a case; the tests
# keep their expected state per type written out by hand.
HANDLED_TYPES = [t for t in registered_types() if t.rsplit(".", 1)[0] != "customer"]


# --- delivery ------------------------------------------------------------------

def deliver(client: FlaskClient, event: Json, *, secret: str = WEBHOOK_SECRET,
            timestamp: int | None = None) -> TestResponse:
    body, headers = sim.signed_request(event, secret, timestamp=timestamp)
    return client.post(PUBLIC_URL, data=body, headers=headers)


def deliver_internal(client: FlaskClient, event: Json, *,
                     secret: str | None = INTERNAL_SECRET) -> TestResponse:
    return client.post(INTERNAL_URL, data=sim.dumps(event), headers=internal_headers(secret))


def signed_headers(body: bytes, secret: str = WEBHOOK_SECRET,
                   timestamp: int | None = None) -> dict[str, str]:
    """Stripe's headers for a body of any bytes, signed by sim.sign.

    sim.signed_request serialises an event itself; tests of odd bodies need the bytes as given.
    """
    return {"Content-Type": "application/json",
            "Stripe-Signature": sim.sign(body, secret, timestamp)}


def internal_headers(secret: str | None = INTERNAL_SECRET) -> dict[str, str]:
    """The internal endpoint's headers: its shared secret, or none at all for `None`."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Internal-Secret"] = secret
    return headers


def answer(event: Json, status: str = "processed") -> Json:
    return {"status": status, "event_id": event["id"]}


def deliver_ok(client: FlaskClient, event: Json, status: str = "processed") -> None:
    response = deliver(client, event)
    assert (response.status_code,
            response.get_json()) == (200, answer(event, status)), event["type"]


def deliver_in_order(client: FlaskClient, events: list[Json], order: list[int]) -> None:
    """Deliver `events[i]` for each i of `order`: the first of each processed,
    a repeat duplicate.
    """
    seen: set[int] = set()
    for index in order:
        answer = deliver(client, events[index])
        assert answer.status_code == 200, answer.json
        expected = "duplicate" if index in seen else "processed"
        assert answer.json["status"] == expected, (events[index]["type"], answer.json)
        seen.add(index)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def status_of(client: FlaskClient, email: str) -> Json:
    response = client.get("/status/api/users", query_string={"email": email},
                          headers=bearer(ADMIN_TOKEN))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def rotate_key(runner: FlaskCliRunner, email: str) -> str:
    """A new key for `email`, read from the last line of `flask keys rotate`."""
    result = runner.invoke(args=["keys", "rotate", email])
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()[-1]


def open_welcome(client: FlaskClient, session_id: str) -> str:
    """Everything a visitor sees who opens the welcome link and presses every button on it."""
    first = client.get("/status/welcome", query_string={"session_id": session_id})
    body = first.get_data(as_text=True)
    if '<form method="post"' in body:
        second = client.post("/status/welcome", data={"session_id": session_id})
        body += second.get_data(as_text=True)
    return body


# A whole API key, as a page must show it only once (its prefix alone is no key).
FULL_KEY = re.compile(r"sk_subsvc_[A-Za-z0-9_-]{20,}")
# Words that would betray SQL or a stack trace in an answer body or a stored error.
LEAKS = re.compile(r"traceback|select |insert |update |psycopg|sqlalchemy|sqlite|"
                   r"operationalerror|file \"|line \d", re.IGNORECASE)


# --- events --------------------------------------------------------------------

def journey(c: sim.Customer, api: str = sim.API_NEW, *, price_id: str = PRO,
            tier: str | None = "pro") -> sim.Journey:
    """The customer's journey on `price_id`, its subscription created at START."""
    return sim.Journey(c, api, plan=sim.price(price_id=price_id), tier=tier, created=START)


def checkout(c: sim.Customer, *, api: str = sim.API_NEW, at: int = START, tier: str | None = "pro",
             **session: Any) -> Json:
    return journey(c, api, tier=tier).checkout(at, **session)


def subscription_event(type_: str, c: sim.Customer, *, api: str = sim.API_NEW, at: int = START,
                       price_id: str = PRO, period: tuple[int, int] = (START, P1),
                       **fields: Any) -> Json:
    return journey(c, api, price_id=price_id).subscription_event(type_, at, period=period, **fields)


def invoice_event(type_: str, c: sim.Customer, *, api: str = sim.API_NEW, at: int = START,
                  price_id: str = PRO, period: tuple[int, int] = (START, P1),
                  billing_reason: str = "subscription_create", **fields: Any) -> Json:
    return journey(c, api, price_id=price_id).invoice_event(
        type_, at, period=period, billing_reason=billing_reason, **fields)


def deep_json(levels: int) -> bytes:
    """A real event whose metadata holds `levels` nested arrays (built as text: no recursion)."""
    event = subscription_event("customer.subscription.created", sim.Customer.make(99))
    event["data"]["object"]["metadata"] = {"deep": "@"}
    return sim.dumps(event).replace(b'"@"', b"[" * levels + b"1" + b"]" * levels)


def another_subscription(c: sim.Customer) -> sim.Customer:
    """The same customer checking out a second subscription."""
    return dataclasses.replace(c, subscription=sim.new_id("sub"), session=c.session[:-6] + "second")


def handled_event(type_: str, c: sim.Customer, api: str) -> Json:
    """One realistic event of each handled type, for a first subscription period."""
    if type_ == "checkout.session.completed":
        return checkout(c, api=api)
    if type_.startswith("customer.subscription."):
        return subscription_event(type_, c, api=api, status=sim.SUBSCRIPTION_STATUS[type_])
    if type_ == "invoice.payment_failed":
        return invoice_event(type_, c, api=api, at=P1, period=(P1, P2),
                             billing_reason="subscription_cycle")
    return invoice_event(type_, c, api=api)


# --- database read-outs --------------------------------------------------------

def at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def iso(epoch: int) -> str:
    return at(epoch).strftime("%Y-%m-%dT%H:%M:%SZ")


def users(app: Flask) -> list[User]:
    with app.app_context():
        return list(db.session.scalars(select(User).order_by(User.id)))


def subscriptions(app: Flask) -> list[Subscription]:
    with app.app_context():
        return list(db.session.scalars(select(Subscription).order_by(Subscription.id)))


def inbox(app: Flask) -> list[InboxEvent]:
    with app.app_context():
        return list(db.session.scalars(select(InboxEvent).order_by(InboxEvent.id)))


def inbox_row(app: Flask, event_id: str) -> InboxEvent:
    with app.app_context():
        return db.session.scalars(select(InboxEvent).where(InboxEvent.event_id == event_id)).one()


def user_row(app: Flask, email: str) -> User:
    with app.app_context():
        return db.session.scalars(select(User).where(User.email == email)).one()


def subscription_row(app: Flask, stripe_id: str) -> Subscription:
    with app.app_context():
        stmt = select(Subscription).where(Subscription.stripe_subscription_id == stripe_id)
        return db.session.scalars(stmt).one()


def snapshot(app: Flask, *, skip: tuple[str, ...] = ()) -> dict[str, list[Json]]:
    """Every row of every table (but `skip`), ordered by primary key."""
    with app.app_context():
        return {
            table.name: [dict(row) for row in db.session.execute(
                select(table).order_by(*table.primary_key.columns)).mappings()]
            for table in db.metadata.sorted_tables if table.name not in skip
        }
