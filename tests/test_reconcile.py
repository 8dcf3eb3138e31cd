from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient

from subsvc import simulate as sim
from subsvc.handlers.registry import registered_types
from subsvc.stripe_api import API_VERSION, WEBHOOK_TYPES, TokenBucket
from tests.builders import (
    BUSINESS,
    PRO,
    UNMAPPED,
    checkout,
    deliver_ok,
    inbox,
    inbox_row,
    invoice_event,
    iso,
    snapshot,
    status_of,
    subscription_event,
    subscription_row,
)
from tests.conftest import now
from tests.server import free_port
from tests.stripe_api import SECRET_KEY, FakeStripe, fake_stripe, stripe_settings

Json = dict[str, Any]
START = now() - 20 * sim.DAY
P1 = sim.add_interval(START)


@pytest.fixture
def config_overrides(stripe: FakeStripe) -> dict[str, Any]:  # stripe: tests/conftest.py
    return stripe_settings(stripe)


def reconcile(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["stripe", "reconcile", *args])


def stripe_sub(c: sim.Customer, *, status: str = "active", price_id: str = PRO,
               period: tuple[int, int] = (START, P1), **fields: Any) -> Json:
    return sim.subscription(customer=c.customer, sub_id=c.subscription, price_id=price_id,
                            status=status, period_start=period[0], period_end=period[1],
                            created=START, **fields)


def paying_customer(client: FlaskClient, stripe: FakeStripe, n: str) -> sim.Customer:
    """A customer whose checkout, subscription and first invoice reached subsvc (and Stripe)."""
    c = sim.Customer.make(n)
    for event in (checkout(c, at=START), subscription_event("customer.subscription.created", c,
                                                            at=START, period=(START, P1)),
                  invoice_event("invoice.paid", c, at=START, period=(START, P1))):
        deliver_ok(client, event)
        stripe.add_event(event, delivered=True)
    stripe.put(stripe_sub(c))
    return c


def test_events_missed_while_the_endpoint_was_down_are_recovered(
        app: Flask, client: FlaskClient, stripe: FakeStripe) -> None:
    c = paying_customer(client, stripe, "down1")
    upgrade = subscription_event("customer.subscription.updated", c, at=START + 5 * sim.DAY,
                                 price_id=BUSINESS, period=(START, P1))
    cancel = subscription_event("customer.subscription.updated", c, at=START + 6 * sim.DAY,
                                price_id=BUSINESS, period=(START, P1), cancel_at_period_end=True)
    for event in (upgrade, cancel):
        stripe.add_event(event)  # never delivered: the endpoint was down
    stripe.put(stripe_sub(c, price_id=BUSINESS, cancel_at_period_end=True))
    result = reconcile(app)
    assert result.exit_code == 0, result.output
    assert "undelivered events: 2 (2 processed)" in result.stdout
    assert "subscriptions: 1 checked, 0 differed" in result.stdout
    status = status_of(client, c.email)
    assert (status["tier"], status["subscription"]["cancel_at_period_end"]) == ("business", True)
    assert [inbox_row(app, e["id"]).status for e in (upgrade, cancel)] == ["processed"] * 2
    query = stripe.requests_to("/v1/events")[0].query
    assert (query["delivery_success"], sorted(query["types"])) == ("false", sorted(WEBHOOK_TYPES))
    assert int(query["created"]["gte"]) >= now() - 30 * sim.DAY - 5


def test_a_subscription_canceled_in_the_dashboard_while_webhooks_were_off_is_canceled(
        app: Flask, client: FlaskClient, stripe: FakeStripe) -> None:
    c = paying_customer(client, stripe, "dash1")
    # Canceled long ago: its event is past the Events API's 30 days, only the object tells.
    stripe.put(stripe_sub(c, status="canceled", canceled_at=START + sim.DAY))
    result = reconcile(app)
    assert result.exit_code == 0, result.output
    assert f"  healed {c.subscription}: status active -> canceled" in result.stdout
    status = status_of(client, c.email)
    assert (status["tier"], status["entitled"], status["subscription"]["status"]) == (
        "free", False, "canceled")
    # A late delivery of an older event cannot undo it.
    deliver_ok(client, subscription_event("customer.subscription.updated", c, at=START + 60))
    assert status_of(client, c.email)["subscription"]["status"] == "canceled"


def test_a_second_run_changes_nothing(app: Flask, client: FlaskClient,
                                      stripe: FakeStripe) -> None:
    c = paying_customer(client, stripe, "twice1")
    stripe.add_event(subscription_event("customer.subscription.updated", c, at=START + sim.DAY,
                                        price_id=BUSINESS))
    stripe.put(stripe_sub(c, price_id=BUSINESS, period=(P1, sim.add_interval(P1))))
    stripe.put(stripe_sub(sim.Customer.make("twice2")))  # unknown to subsvc: created
    first = reconcile(app)
    assert first.exit_code == 0, first.output
    assert "2 differed, 2 healed" in first.stdout
    before = snapshot(app)
    second = reconcile(app)
    assert second.exit_code == 0, second.output
    assert "undelivered events: 1 (1 duplicate)" in second.stdout
    assert "0 differed" in second.stdout and "Nothing left to heal." in second.stdout
    assert second.stderr == ""  # one page each: no progress lines for cron to mail
    assert snapshot(app) == before


def test_a_dry_run_reports_the_drift_and_changes_nothing(app: Flask, client: FlaskClient,
                                                         stripe: FakeStripe) -> None:
    c = paying_customer(client, stripe, "dry1")
    stripe.add_event(subscription_event("customer.subscription.updated", c, at=START + sim.DAY,
                                        cancel_at_period_end=True))
    stripe.put(stripe_sub(c, status="past_due"))
    before = snapshot(app)
    result = reconcile(app, "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["dry_run"] and report["events"]["outcomes"] == {"new": 1}
    assert report["subscriptions"]["drift"] == [{
        "subscription": c.subscription, "healed": True, "skipped": False, "reason": None,
        "differences": {"status": {"subsvc": "active", "stripe": "past_due"}}}]
    assert snapshot(app) == before


def test_drift_it_cannot_heal_is_reported_and_exits_non_zero(
        app: Flask, client: FlaskClient, stripe: FakeStripe) -> None:
    unmapped = paying_customer(client, stripe, "bad1")
    stripe.put(stripe_sub(unmapped, price_id=UNMAPPED))
    gone = paying_customer(client, stripe, "bad2")
    del stripe.objects["subscription"][gone.subscription]
    result = reconcile(app)
    assert result.exit_code == 1
    assert (f"  NOT healed {unmapped.subscription}: price_id {PRO} -> {UNMAPPED} "
            f"(price {UNMAPPED} maps to no tier)") in result.stdout
    assert (f"  NOT healed {gone.subscription}: status active -> none "
            "(Stripe has no such subscription)") in result.stdout
    assert result.stdout.splitlines()[-1] == "2 left unhealed."
    assert subscription_row(app, unmapped.subscription).price_id == PRO


def test_an_event_that_fails_is_kept_as_failed_and_exits_non_zero(
        app: Flask, client: FlaskClient, stripe: FakeStripe) -> None:
    c = paying_customer(client, stripe, "fail1")
    event = subscription_event("customer.subscription.updated", c, at=START + sim.DAY,
                               price_id=UNMAPPED)
    stripe.add_event(event)
    result = reconcile(app)
    assert result.exit_code == 1
    assert f"  failed {event['id']} (customer.subscription.updated): UnknownPrice" in result.stdout
    assert inbox_row(app, event["id"]).status == "failed"


def test_unreachable_stripe_is_one_line_and_changes_nothing(app: Flask, client: FlaskClient,
                                                            stripe: FakeStripe) -> None:
    paying_customer(client, stripe, "off1")
    app.config["STRIPE_API_BASE"] = f"http://127.0.0.1:{free_port()}"
    before = snapshot(app)
    result = reconcile(app)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"Error: Stripe is unreachable (cannot reach Stripe at "
        f"{app.config['STRIPE_API_BASE'][7:]}): nothing was changed"]
    assert snapshot(app) == before


def test_a_refused_key_is_one_line_without_the_key(app: Flask, stripe: FakeStripe) -> None:
    app.config["STRIPE_SECRET_KEY"] = "sk_test_not_the_right_one_0123456789abcdef"
    result = reconcile(app)
    assert result.exit_code == 1
    assert result.stderr == ("Error: Stripe refused STRIPE_SECRET_KEY (401): "
                             "nothing was changed\n")


def test_without_a_secret_key_reconcile_says_what_it_needs(app: Flask) -> None:
    app.config["STRIPE_SECRET_KEY"] = None
    result = reconcile(app)
    assert result.exit_code == 1 and "STRIPE_SECRET_KEY is not set" in result.stderr


def test_pending_thin_events_are_applied(app: Flask, client: FlaskClient,
                                         stripe: FakeStripe) -> None:
    c = sim.Customer.make("thinrec1")
    app.config["STRIPE_SECRET_KEY"] = None  # the webhook could not fetch
    event = sim.thin_event("customer.subscription.created", c.subscription, "subscription")
    deliver_ok(client, event, "pending")
    app.config["STRIPE_SECRET_KEY"] = SECRET_KEY
    stripe.put(stripe_sub(c))
    result = reconcile(app)
    assert result.exit_code == 0, result.output
    assert "pending thin events: 1 (1 processed)" in result.stdout
    assert inbox_row(app, event["id"]).status == "processed"
    assert subscription_row(app, c.subscription).tier == "pro"
    deliver_ok(client, event, "duplicate")


def test_a_thin_event_still_unfetchable_is_left_pending_and_exits_non_zero(
        app: Flask, client: FlaskClient, stripe: FakeStripe) -> None:
    app.config["STRIPE_SECRET_KEY"] = None
    event = sim.thin_event("customer.subscription.created", "sub_1Missing", "subscription")
    deliver_ok(client, event, "pending")
    app.config["STRIPE_SECRET_KEY"] = SECRET_KEY
    result = reconcile(app)
    assert result.exit_code == 1
    assert f"  still pending {event['id']}" in result.stdout


@pytest.mark.parametrize("stripe_options", [{"page_cap": 3, "rate_limit_every": 4}])
def test_it_pages_through_everything_and_rides_out_429s(app: Flask, client: FlaskClient,
                                                        stripe_options: Json) -> None:
    with fake_stripe(**stripe_options) as stripe:
        app.config["STRIPE_API_BASE"] = stripe.url
        customers = [sim.Customer.make(f"page{n}") for n in range(8)]
        for c in customers:
            stripe.put(stripe_sub(c, status="canceled", canceled_at=START))
        result = reconcile(app)
        assert result.exit_code == 0, result.output
        assert "subscriptions: 8 checked, 8 differed, 8 healed" in result.stdout
        pages = [s for s in stripe.requests_to("/v1/subscriptions") if s.status == 200]
        listed = sorted((c.subscription for c in customers), reverse=True)  # one `created`: by id
        assert [s.query.get("starting_after") for s in pages] == [None, listed[2], listed[5]]
        assert any(s.status == 429 for s in stripe.seen)
        assert all(s.authorized and s.stripe_version == API_VERSION for s in stripe.seen)
        assert "subscriptions: 8 checked" in result.stderr  # progress, on long runs only


def test_the_token_bucket_keeps_the_rate() -> None:
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    bucket = TokenBucket(10.0, 2, clock=lambda: clock[0], sleep=sleep)
    for _ in range(42):
        bucket.take()
    assert len(slept) == 40 and clock[0] == pytest.approx(4.0)


def test_every_handled_type_is_one_stripe_must_send() -> None:
    assert set(registered_types()) <= set(WEBHOOK_TYPES)


def test_a_new_subscription_is_listed_with_its_iso_period(app: Flask, client: FlaskClient,
                                                          stripe: FakeStripe) -> None:
    c = sim.Customer.make("new1")
    stripe.put(stripe_sub(c))
    result = reconcile(app, "--json")
    drift = json.loads(result.stdout)["subscriptions"]["drift"]
    assert drift[0]["reason"] == "new to subsvc"
    assert drift[0]["differences"]["current_period_end"] == {"subsvc": None, "stripe": iso(P1)}
    assert inbox(app) == []
