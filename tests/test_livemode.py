"""STRIPE_LIVEMODE: events of the other mode are stored, answered `ignored`, logged, not applied."""
from __future__ import annotations

import logging
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from subsvc import simulate as sim
from tests.builders import (
    BUSINESS,
    START,
    answer,
    checkout,
    deliver,
    deliver_internal,
    deliver_ok,
    inbox_row,
    snapshot,
    status_of,
    subscription_event,
)
from tests.conftest import WEBHOOK_SECRET

Json = dict[str, Any]


def in_mode(event: Json, livemode: bool) -> Json:
    return {**event, "livemode": livemode}


def assert_ignored_and_harmless(app: Flask, client: FlaskClient, event: Json,
                                caplog: pytest.LogCaptureFixture, *, mode: str) -> None:
    before = snapshot(app, skip=("inbox_events",))

    first, again = deliver(client, event), deliver(client, event)

    assert (first.status_code, first.get_json()) == (200, answer(event, "ignored"))
    assert (again.status_code, again.get_json()) == (200, answer(event, "duplicate"))
    assert snapshot(app, skip=("inbox_events",)) == before
    row = inbox_row(app, event["id"])
    assert (row.status, row.livemode, row.attempts) == ("ignored", event["livemode"], 1)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(event["id"] in w and f"{mode}-mode event" in w for w in warnings), warnings
    assert WEBHOOK_SECRET not in caplog.text


@pytest.mark.parametrize("config_overrides", [{"STRIPE_LIVEMODE": True}], indirect=True)
def test_live_only_service_ignores_a_test_mode_upgrade_of_a_live_user(
        app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    c = sim.Customer.make("live1")
    deliver_ok(client, in_mode(checkout(c), True))
    deliver_ok(client, in_mode(subscription_event("customer.subscription.created", c), True))
    upgrade = in_mode(subscription_event("customer.subscription.updated", c, at=START + sim.DAY,
                                         price_id=BUSINESS), False)

    assert_ignored_and_harmless(app, client, upgrade, caplog, mode="test")
    assert status_of(client, c.email)["tier"] == "pro"


@pytest.mark.parametrize("config_overrides", [{"STRIPE_LIVEMODE": False}], indirect=True)
def test_test_only_service_ignores_live_events(
        app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    c = sim.Customer.make("test1")
    deliver_ok(client, checkout(c))  # simulate builds test-mode events (livemode false)

    for event in (in_mode(checkout(sim.Customer.make("live2")), True),
                  in_mode(subscription_event("customer.subscription.updated", c, at=START + 60,
                                             price_id=BUSINESS), True)):
        assert_ignored_and_harmless(app, client, event, caplog, mode="live")
    assert status_of(client, c.email)["tier"] == "pro"


@pytest.mark.parametrize("config_overrides", [{"STRIPE_LIVEMODE": True}], indirect=True)
def test_the_internal_endpoint_applies_the_same_guard(app: Flask, client: FlaskClient) -> None:
    event = checkout(sim.Customer.make("test2"))
    before = snapshot(app, skip=("inbox_events",))

    response = deliver_internal(client, event)

    assert (response.status_code, response.get_json()) == (200, answer(event, "ignored"))
    assert snapshot(app, skip=("inbox_events",)) == before


@pytest.mark.parametrize("livemode", [True, False], ids=["live", "test"])
def test_unset_accepts_both_modes(client: FlaskClient, livemode: bool) -> None:
    c = sim.Customer.make(f"both-{livemode}")

    deliver_ok(client, in_mode(checkout(c), livemode))

    assert status_of(client, c.email)["tier"] == "pro"

