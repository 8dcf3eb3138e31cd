from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from subsvc import simulate as sim
from subsvc.cli.inbox import PROGRESS_THRESHOLD
from subsvc.extensions import db
from subsvc.models import InboxEvent, Subscription, Tier
from subsvc.models.base import now_utc
from tests.builders import UNMAPPED, deliver, inbox_row
from tests.conftest import PRO, now


def event_for(type_: str, email: str = "ada@example.com", *, price_id: str = "price_pro_monthly",
              at: int | None = None) -> dict[str, Any]:
    j = sim.Journey(sim.Customer.from_email(email), plan=sim.price(price_id=price_id))
    return j.event(type_, at or now())


def delivered(client: FlaskClient, event: dict[str, Any], status: int = 200) -> dict[str, Any]:
    response = deliver(client, event)
    assert response.status_code == status, response.get_json()
    return event


def map_unmapped_price_to_pro(app: Flask) -> None:
    with app.app_context():
        pro = db.session.scalars(select(Tier).where(Tier.name == "pro")).one()
        pro.prices = [*pro.prices, UNMAPPED]
        db.session.commit()


def test_list_shows_newest_first_with_status_and_attempts(
        app: Flask, client: FlaskClient, runner: FlaskCliRunner) -> None:
    first = delivered(client, event_for("customer.subscription.created", at=now() - 60))
    second = delivered(client, event_for("product.updated"))
    result = runner.invoke(args=["events", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert second["id"] in lines[0] and "product.updated" in lines[0] and "ignored" in lines[0]
    assert first["id"] in lines[1] and "processed" in lines[1] and "attempts=1" in lines[1]


def test_list_shows_the_error_of_a_failed_event_truncated(client: FlaskClient,
                                                          runner: FlaskCliRunner) -> None:
    prices = [f"price_{n:02d}_unmapped_with_a_long_name" for n in range(8)]
    obj = sim.subscription(customer="cus_Failing000001", price_id=prices[0], period_start=now(),
                           period_end=sim.add_interval(now()),
                           extra_prices=[sim.price(price_id=p) for p in prices[1:]])
    failed = delivered(client, sim.event("customer.subscription.updated", obj), status=500)
    result = runner.invoke(args=["events", "list", "--status", "failed"])
    assert result.exit_code == 0, result.output
    (line,) = result.output.splitlines()
    assert failed["id"] in line and "failed" in line and "UnknownPrice: price price_00" in line
    assert prices[-1] not in line and line.endswith("…")


def test_list_filters_by_status_and_limits(client: FlaskClient, runner: FlaskCliRunner) -> None:
    for n in range(3):
        delivered(client, event_for("product.updated", f"user{n}@example.com"))
    delivered(client, event_for("invoice.paid"))
    ignored = runner.invoke(args=["events", "list", "--status", "ignored", "--limit", "2"])
    assert ignored.exit_code == 0
    assert len(ignored.output.splitlines()) == 2
    assert all(" ignored " in line for line in ignored.output.splitlines())
    none = runner.invoke(args=["events", "list", "--status", "failed"])
    assert none.output.strip() == "No events."


@pytest.mark.parametrize("args", [["--status", "done"], ["--limit", "0"]])
def test_list_rejects_bad_options(runner: FlaskCliRunner, args: list[str]) -> None:
    assert runner.invoke(args=["events", "list", *args]).exit_code == 2


def test_list_json_gives_every_field(app: Flask, client: FlaskClient,
                                     runner: FlaskCliRunner) -> None:
    event = delivered(client, event_for("customer.subscription.created"))
    result = runner.invoke(args=["events", "list", "--json"])
    assert result.exit_code == 0
    (entry,) = json.loads(result.output)
    assert entry == {
        "event_id": event["id"], "type": "customer.subscription.created", "status": "processed",
        "attempts": 1, "received_at": entry["received_at"], "processed_at": entry["processed_at"],
        "stripe_created": event["created"], "api_version": sim.API_NEW, "livemode": False,
        "last_error": None,
    }
    assert entry["received_at"].endswith("Z")


def test_replay_of_a_processed_event_applies_it_again(
        app: Flask, client: FlaskClient, runner: FlaskCliRunner) -> None:
    event = delivered(client, event_for("customer.subscription.created"))
    result = runner.invoke(args=["events", "replay", event["id"]])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{event['id']} (customer.subscription.created): processed"
    row = inbox_row(app, event["id"])
    assert (row.status, row.attempts) == ("processed", 2)


def test_replay_of_an_ignored_event_stays_ignored(app: Flask, client: FlaskClient,
                                                  runner: FlaskCliRunner) -> None:
    event = delivered(client, event_for("product.updated"))
    result = runner.invoke(args=["events", "replay", event["id"]])
    assert result.exit_code == 0
    assert result.output.strip().endswith(": ignored")


def test_replay_failed_heals_events_once_the_price_is_mapped(
        app: Flask, client: FlaskClient, runner: FlaskCliRunner) -> None:
    failed = [delivered(client, event_for("customer.subscription.created", f"u{n}@example.com",
                                          price_id=UNMAPPED), status=500) for n in range(2)]
    still_failing = runner.invoke(args=["events", "replay", "--failed"])
    assert still_failing.exit_code == 1
    assert still_failing.output.count(
        f"failed (UnknownPrice: price {UNMAPPED} maps to no tier)") == 2
    assert "2 of 2 events failed" in still_failing.output
    assert inbox_row(app, failed[0]["id"]).attempts == 2

    map_unmapped_price_to_pro(app)
    healed = runner.invoke(args=["events", "replay", "--failed"])
    assert healed.exit_code == 0, healed.output
    *lines, summary = healed.output.splitlines()
    assert [line.rsplit(": ", 1)[1] for line in lines] == ["processed"] * 2
    assert summary == "Replayed 2 processed"
    for event in failed:
        row = inbox_row(app, event["id"])
        assert (row.status, row.attempts, row.last_error) == ("processed", 3, None)
    with app.app_context():
        tiers = set(db.session.scalars(select(Subscription.tier)))
    assert tiers == {"pro"}


def test_replay_failed_with_nothing_failed_says_so(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["events", "replay", "--failed"])
    assert result.exit_code == 0
    assert result.output.strip() == "No failed events."


def test_replay_of_an_unknown_id_fails(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["events", "replay", "evt_1NotThere"])
    assert result.exit_code == 1
    assert "no event evt_1NotThere in the inbox" in result.output


@pytest.mark.parametrize("args", [[], ["evt_1Both", "--failed"]])
def test_replay_needs_exactly_one_of_id_and_failed(runner: FlaskCliRunner, args: list[str]) -> None:
    result = runner.invoke(args=["events", "replay", *args])
    assert result.exit_code == 2
    assert "give an event ID or --failed" in result.output


def test_list_filters_by_type(client: FlaskClient, runner: FlaskCliRunner) -> None:
    created = delivered(client, event_for("customer.subscription.created", at=now() - 60))
    delivered(client, event_for("product.updated"))
    result = runner.invoke(args=["events", "list", "--type", "customer.subscription.created",
                                 "--json"])
    assert result.exit_code == 0, result.output
    assert [row["event_id"] for row in json.loads(result.output)] == [created["id"]]


def test_replay_of_many_shows_progress_only_failures_and_a_summary(
        app: Flask, client: FlaskClient, runner: FlaskCliRunner) -> None:
    many = PROGRESS_THRESHOLD + 5
    failed = [delivered(client, event_for("customer.subscription.created", f"m{n}@example.com",
                                          price_id=UNMAPPED), status=500) for n in range(many - 1)]
    failed.append(delivered(client, event_for("customer.subscription.created", "ok@example.com",
                                              price_id=UNMAPPED), status=500))
    with app.app_context():  # heal the last one only: its price now maps, by metadata
        row = db.session.scalars(
            select(InboxEvent).where(InboxEvent.event_id == failed[-1]["id"])).one()
        row.payload = row.payload.replace(UNMAPPED, PRO)
        db.session.commit()
    result = runner.invoke(args=["events", "replay", "--failed"])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len([line for line in lines if ": failed (" in line]) == many - 1
    assert not [line for line in lines if line.endswith(": processed")]  # only failures listed
    assert f"Replayed {many - 1} failed, 1 processed" in lines or \
        f"Replayed 1 processed, {many - 1} failed" in lines
    assert "Replaying" in result.stderr


def _age(app: Flask, event_id: str, days: int) -> None:
    with app.app_context():
        row = db.session.scalars(select(InboxEvent).where(InboxEvent.event_id == event_id)).one()
        row.received_at = now_utc() - timedelta(days=days)
        db.session.commit()


def test_prune_deletes_old_processed_and_ignored_events_never_failed_or_young_ones(
        app: Flask, client: FlaskClient, runner: FlaskCliRunner) -> None:
    old_processed = delivered(client, event_for("customer.subscription.created", "p@example.com"))
    old_ignored = delivered(client, event_for("product.updated", "i@example.com"))
    old_failed = delivered(client, event_for("customer.subscription.created", "f@example.com",
                                             price_id=UNMAPPED), status=500)
    young = delivered(client, event_for("customer.subscription.created", "y@example.com"))
    for event in (old_processed, old_ignored, old_failed):
        _age(app, event["id"], 45)
    _age(app, young["id"], 29)

    dry = runner.invoke(args=["events", "prune", "--older-than", "30", "--dry-run"])
    assert dry.exit_code == 0 and dry.output.startswith("Would delete 2 events"), dry.output
    result = runner.invoke(args=["events", "prune", "--older-than", "30"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Deleted 2 events received before ")
    with app.app_context():
        left = set(db.session.scalars(select(InboxEvent.event_id)))
    assert left == {old_failed["id"], young["id"]}
    # A pruned event redelivered now is processed again: that is why 30 days is the floor.
    assert runner.invoke(args=["events", "prune", "--older-than", "30"]).output.startswith(
        "Deleted 0 events")


@pytest.mark.parametrize("days", ["29", "0", "-5", "soon"])
def test_prune_refuses_fewer_than_30_days(runner: FlaskCliRunner, days: str) -> None:
    result = runner.invoke(args=["events", "prune", "--older-than", days])
    assert result.exit_code == 2
    assert "--older-than" in result.output
