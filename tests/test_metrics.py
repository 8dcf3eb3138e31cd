"""GET /metrics (Prometheus text) and /readyz's age of the newest processed event, in one process.

The sums across gunicorn workers are checked over real HTTP in test_server_metrics.py.
"""
from __future__ import annotations

import json
import re
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from subsvc import simulate as sim
from subsvc.extensions import db
from subsvc.models import InboxEvent
from subsvc.models.base import now_utc
from tests.builders import UNMAPPED, checkout, deliver, deliver_internal, subscription_event


def samples(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    found = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_deliveries_are_counted_by_endpoint_and_outcome(client: FlaskClient) -> None:
    before = samples(client)
    c = sim.Customer.make("met1")
    event = checkout(c)
    deliver(client, event)
    deliver(client, event)  # duplicate
    deliver_internal(client, checkout(sim.Customer.make("met2")))
    client.post("/api/webhooks/stripe", data=b"{}", headers={"Stripe-Signature": "t=1,v1=00"})
    failing = subscription_event("customer.subscription.created", sim.Customer.make("met3"))
    failing["data"]["object"]["items"]["data"][0]["price"]["id"] = UNMAPPED
    deliver(client, failing)
    after = samples(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    total = "subsvc_webhook_deliveries_total"
    assert delta(total, endpoint="stripe", outcome="processed") == 1
    assert delta(total, endpoint="stripe", outcome="duplicate") == 1
    assert delta(total, endpoint="internal", outcome="processed") == 1
    assert delta(total, endpoint="stripe", outcome="invalid_signature") == 1
    assert delta(total, endpoint="stripe", outcome="processing_failed") == 1
    assert delta("subsvc_webhook_signature_failures_total") == 1
    assert delta("subsvc_webhook_duration_seconds_count", endpoint="stripe") == 4
    assert delta("subsvc_webhook_duration_seconds_count", endpoint="internal") == 1
    assert value(after, "subsvc_inbox_failed_events") == 1
    assert 0 <= value(after, "subsvc_newest_processed_event_age_seconds") < 60


def test_no_age_is_claimed_before_the_first_processed_event(client: FlaskClient) -> None:
    found = samples(client)
    assert ("subsvc_newest_processed_event_age_seconds", ()) not in found
    assert value(found, "subsvc_inbox_failed_events") == 0


def test_metrics_carry_no_secret_or_identifier(app: Flask, client: FlaskClient) -> None:
    c = sim.Customer.make("met4")
    deliver(client, checkout(c))
    text = client.get("/metrics").get_data(as_text=True)
    for secret in (app.config["INTERNAL_WEBHOOK_SECRET"], app.config["STATUS_ADMIN_TOKEN"],
                   *app.config["STRIPE_WEBHOOK_SECRET"]):
        assert secret not in text
    assert not re.search(r"(evt|cus|sub|cs)_[A-Za-z0-9]{6,}|@", text)


def test_readyz_tells_the_age_of_the_newest_processed_event(migrated: Flask) -> None:
    app, client = migrated, migrated.test_client()
    assert client.get("/readyz").get_json() == {"status": "ok",
                                               "newest_processed_event_age_seconds": None}
    event = checkout(sim.Customer.make("met5"))
    deliver(client, event)
    with app.app_context():
        db.session.execute(update(InboxEvent).where(InboxEvent.event_id == event["id"])
                           .values(processed_at=now_utc() - timedelta(minutes=10)))
        db.session.commit()
    body = client.get("/readyz").get_json()
    assert body["status"] == "ok"
    assert 600 <= body["newest_processed_event_age_seconds"] < 660
    json.dumps(body)
