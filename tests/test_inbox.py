"""The inbox: duplicates change nothing, failures are recorded and heal on retry,
and effects are atomic.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from subsvc import simulate as sim
from tests.builders import (
    APIS,
    BUSINESS,
    PRO,
    START,
    UNMAPPED,
    answer,
    checkout,
    deliver,
    deliver_internal,
    deliver_ok,
    inbox,
    inbox_row,
    snapshot,
    subscription_event,
    subscription_row,
)
from tests.conftest import TEST_TIERS
from tests.lifecycles import lifecycle_full


def everything(c: sim.Customer, api: str) -> list[dict[str, Any]]:
    events, _ = lifecycle_full(c, pro_price=PRO, business_price=BUSINESS, start=START,
                               api_version=api)
    other = sim.event("customer.created",
                      {"id": c.customer, "object": "customer", "email": c.email},
                      api_version=api)
    return [*events, other]


@pytest.mark.parametrize("api", APIS)
def test_redelivery_of_every_event_is_a_duplicate_and_changes_nothing(
        app: Flask, client: FlaskClient, api: str) -> None:
    events = everything(sim.Customer.make(1), api)
    for event in events:
        deliver(client, event)
    before = snapshot(app)

    for event in reversed(events):
        response = deliver(client, event)
        assert (response.status_code, response.get_json()) == (200, answer(event, "duplicate"))
        response = deliver_internal(client, event)
        assert (response.status_code, response.get_json()) == (200, answer(event, "duplicate"))

    assert snapshot(app) == before


@pytest.mark.parametrize("api", APIS)
def test_inbox_row_keeps_the_event_as_received(app: Flask, client: FlaskClient, api: str) -> None:
    event = subscription_event("customer.subscription.created", sim.Customer.make(2), api=api)

    deliver_ok(client, event)

    row = inbox_row(app, event["id"])
    assert (row.type, row.api_version, row.livemode, row.stripe_created) == (
        event["type"], api, False, event["created"])
    assert (row.status, row.attempts, row.last_error) == ("processed", 1, None)
    assert json.loads(row.payload) == event
    assert row.processed_at is not None


def write_tiers(tmp_path: Path, extra_pro_price: str) -> Path:
    tiers = [dict(tier, prices=[*tier["prices"], extra_pro_price]) if tier["name"] == "pro"
             else tier
             for tier in TEST_TIERS]
    path = tmp_path / "tiers.json"
    path.write_text(json.dumps({"tiers": tiers}))
    return path


def failed_answer(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 500, {"error": "processing_failed", "event_id": event["id"]}


@pytest.mark.parametrize("after_checkout", [False, True], ids=["new-customer", "known-customer"])
@pytest.mark.parametrize("api", APIS)
def test_unmapped_price_fails_loudly_then_heals_once_mapped(
        app: Flask, client: FlaskClient, runner: FlaskCliRunner, tmp_path: Path,
        caplog: pytest.LogCaptureFixture, api: str, after_checkout: bool) -> None:
    c = sim.Customer.make(3)
    if after_checkout:
        deliver_ok(client, checkout(c, api=api))
    event = subscription_event("customer.subscription.updated", c, api=api, at=START + 10,
                               price_id=UNMAPPED)
    state = snapshot(app, skip=("inbox_events",))

    for attempt in (1, 2):
        response = deliver(client, event)
        assert (response.status_code, response.get_json()) == failed_answer(event)
        row = inbox_row(app, event["id"])
        assert (row.status, row.attempts) == ("failed", attempt)
        assert UNMAPPED in (row.last_error or "")
        assert snapshot(app, skip=("inbox_events",)) == state
    assert f"event {event['id']}" in caplog.text and UNMAPPED in caplog.text

    result = runner.invoke(args=["seed", "tiers", "--file", str(write_tiers(tmp_path, UNMAPPED))])
    assert result.exit_code == 0, result.output
    deliver_ok(client, event)

    row = inbox_row(app, event["id"])
    assert (row.status, row.attempts, row.last_error) == ("processed", 3, None)
    sub = subscription_row(app, c.subscription)
    assert (sub.tier, sub.price_id, sub.status) == ("pro", UNMAPPED, "active")
    deliver_ok(client, event, "duplicate")
    assert inbox_row(app, event["id"]).attempts == 3


@pytest.mark.parametrize(("type_", "price"), [
    ("customer.subscription.created", {"price_id": UNMAPPED}),
    ("customer.subscription.deleted", {"price_id": UNMAPPED, "status": "canceled"}),
    ("customer.subscription.updated",
     {"price_id": UNMAPPED, "price_metadata": {"tier": "platinum"}}),
], ids=["created", "deleted", "metadata-names-no-tier"])
def test_failed_event_leaves_no_partial_state(app: Flask, client: FlaskClient, type_: str,
                                             price: dict[str, Any]) -> None:
    c = sim.Customer.make(4)
    deliver_ok(client, checkout(c))
    deliver_ok(client, subscription_event("customer.subscription.created", c, at=START + 1))
    state = snapshot(app, skip=("inbox_events",))
    event = subscription_event(type_, c, at=START + 10, **price)

    response = deliver(client, event)

    assert (response.status_code, response.get_json()) == failed_answer(event)
    assert snapshot(app, skip=("inbox_events",)) == state
    assert [row.status for row in inbox(app)] == ["processed", "processed", "failed"]


def test_stale_event_is_processed_and_changes_nothing(app: Flask, client: FlaskClient) -> None:
    c = sim.Customer.make(5)
    deliver_ok(client, checkout(c))
    deliver_ok(client, subscription_event("customer.subscription.updated", c, at=START + 100,
                                          price_id=BUSINESS))
    state = snapshot(app, skip=("inbox_events",))

    deliver_ok(client, subscription_event("customer.subscription.updated", c, at=START + 50))

    assert snapshot(app, skip=("inbox_events",)) == state
    assert subscription_row(app, c.subscription).tier == "business"


def test_ignored_event_is_stored_and_its_redelivery_is_a_duplicate(app: Flask,
                                                                   client: FlaskClient) -> None:
    c = sim.Customer.make(6)
    event = checkout(c, mode="payment", subscription=None)

    deliver_ok(client, event, "ignored")
    state = snapshot(app)
    deliver_ok(client, event, "duplicate")

    assert snapshot(app) == state
    [row] = inbox(app)
    assert (row.event_id, row.status, row.attempts) == (event["id"], "ignored", 1)
    assert not any(snapshot(app, skip=("inbox_events", "tiers")).values())
