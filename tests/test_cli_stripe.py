from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient, FlaskCliRunner

from subsvc import simulate as sim
from subsvc.models import Tier
from tests.builders import deliver
from tests.conftest import BACKENDS, WEBHOOK_SECRET, now
from tests.server import REPO_ROOT, free_port, fresh_database, gunicorn, query, server_env

HANDLED = [
    "checkout.session.completed", "customer.subscription.created", "customer.subscription.updated",
    "customer.subscription.deleted", "customer.subscription.paused",
    "customer.subscription.resumed",
    "invoice.payment_succeeded", "invoice.paid", "invoice.payment_failed",
    "customer.created", "customer.updated",
]
UNHANDLED = ["customer.deleted", "customer.subscription.trial_will_end", "invoice.finalized",
             "checkout.session.expired", "payment_intent.succeeded", "product.updated"]


@pytest.mark.parametrize("api", list(sim.API_NAMES))
@pytest.mark.parametrize("type_, outcome", [(t, "processed") for t in HANDLED]
                         + [(t, "ignored") for t in UNHANDLED])
def test_built_events_go_through_the_real_pipeline(client: FlaskClient, type_: str, outcome: str,
                                                   api: str) -> None:
    pro = Tier(name="pro", prices=["price_pro_monthly", "pro_monthly"])
    j = sim.Journey(sim.Customer.from_email("ada@example.com"), sim.API_NAMES[api],
                    plan=sim.tier_price(pro.name, pro.prices), tier="pro")
    event = j.event(type_, now())
    response = deliver(client, event)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"status": outcome, "event_id": event["id"]}


def test_journey_ids_derive_from_the_email() -> None:
    ada, again, grace = (sim.Customer.from_email(email) for email in
                         ("ada@example.com", " Ada@Example.com", "grace@example.com"))
    assert (ada.customer, ada.subscription, ada.session) == (again.customer, again.subscription,
                                                             again.session)
    assert ada.customer != grace.customer and ada.subscription != grace.subscription
    assert ada.customer.startswith("cus_") and len(ada.customer) == 18
    assert ada.subscription == sim.derived_id("sub", "ada@example.com", 24)
    assert sim.Customer.from_email("ada@example.com", customer="cus_Given").customer == "cus_Given"


@pytest.mark.parametrize("prices, price_id, lookup_key", [
    (["price_1Pro", "pro_monthly"], "price_1Pro", None),
    (["pro_monthly"], None, "pro_monthly"),
    ([], None, None),
])
def test_tier_price_uses_the_first_listed_price(prices: list[str], price_id: str | None,
                                                lookup_key: str | None) -> None:
    price = sim.tier_price("pro", prices)
    assert price["lookup_key"] == lookup_key
    assert price["metadata"] == {"tier": "pro"}
    assert price["id"] == price_id if price_id else price["id"].startswith("price_")


@pytest.mark.parametrize("config_overrides", [{"STRIPE_WEBHOOK_SECRET": []}])
def test_simulate_needs_a_webhook_secret(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["stripe", "simulate", "invoice.paid"])
    assert result.exit_code == 1
    assert "STRIPE_WEBHOOK_SECRET is not set" in result.output


@pytest.mark.parametrize("args, message", [
    (["--tier", "pro", "--price", "price_x"], "give --tier or --price, not both"),
    (["--url", "file:///etc/passwd"], "--url must be an http(s) URL"),
    (["--api-version", "2020-01-01"], "Invalid value for '--api-version'"),
])
def test_simulate_rejects_bad_usage(runner: FlaskCliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(args=["stripe", "simulate", "invoice.paid", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_simulate_names_the_known_tiers_for_an_unknown_one(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["stripe", "simulate", "invoice.paid", "--tier", "gold"])
    assert result.exit_code == 1
    assert "no tier named gold (known: free, pro, business)" in result.output


def test_simulate_reports_an_unreachable_endpoint(runner: FlaskCliRunner) -> None:
    url = f"http://127.0.0.1:{free_port()}/api/webhooks/stripe"
    result = runner.invoke(args=["stripe", "simulate", "invoice.paid", "--url", url])
    assert result.exit_code == 1
    assert f"cannot reach {url}" in result.output
    assert WEBHOOK_SECRET not in result.output


def test_simulate_never_prints_credentials_of_the_url(runner: FlaskCliRunner) -> None:
    url = f"http://operator:hunter2@127.0.0.1:{free_port()}/api/webhooks/stripe"
    result = runner.invoke(args=["stripe", "simulate", "invoice.paid", "--url", url])
    assert result.exit_code == 1
    assert "hunter2" not in result.output


@pytest.mark.server
@pytest.mark.parametrize("backend", BACKENDS)
def test_simulate_drives_a_real_server_through_a_journey(backend: str, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path) as url, gunicorn(url, tmp_path, workers=1) as server:
        env = server_env(url)

        def simulate(type_: str, *args: str, ok: bool = True) -> str:
            done = subprocess.run(
                [sys.executable, "-m", "flask", "stripe", "simulate", type_,
                 "--email", "ada@example.com", "--url", f"{server.url}/api/webhooks/stripe", *args],
                cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
            output = done.stdout + done.stderr
            assert (done.returncode == 0) is ok, output
            assert WEBHOOK_SECRET not in output
            return output

        def status() -> dict[str, Any]:
            reply = server.user_status("ada@example.com")
            assert reply.status == 200, reply.body
            return reply.body

        sub_id = sim.derived_id("sub", "ada@example.com", 24)
        assert '"status": "processed"' in simulate("checkout.session.completed", "--tier", "pro")
        simulate("customer.subscription.created", "--tier", "pro", "--api-version", "old")
        out = simulate("invoice.paid", "--tier", "pro")
        assert f"subscription {sub_id}" in out and "HTTP 200 " in out
        ada = status()
        assert (ada["tier"], ada["entitled"]) == ("pro", True)
        sub = ada["subscription"]
        assert (sub["id"], sub["status"],
                sub["price_id"]) == (sub_id, "active", "price_pro_monthly")

        simulate("customer.subscription.updated", "--tier", "business", "--status", "past_due")
        assert (status()["tier"], status()["subscription"]["status"]) == ("business", "past_due")
        simulate("customer.subscription.paused", "--tier", "business", "--api-version", "endive")
        simulate("invoice.paid", "--tier", "business", "--api-version", "2026-10-28.endive")
        assert (status()["tier"], status()["subscription"]["status"]) == ("free", "paused")
        # (No resume here: within one second `paused` outranks `active`, and these events are
        # stamped with the wall clock.)
        simulate("customer.subscription.deleted", "--tier", "business")
        assert (status()["tier"], status()["entitled"]) == ("free", False)

        linked = simulate("customer.updated")  # her email, already on her user: links nothing
        assert json.loads(linked.split("HTTP 200 ", 1)[1])["status"] == "processed"
        ignored = simulate("customer.deleted")
        assert json.loads(ignored.split("HTTP 200 ", 1)[1])["status"] == "ignored"
        failed = simulate("customer.subscription.created", "--subscription", "sub_1Other",
                          "--price", "price_1NobodySellsThis", ok=False)
        assert "HTTP 500 " in failed and '"error": "processing_failed"' in failed
        assert "the endpoint answered 500" in failed
        assert "database is locked" not in server.log()


@pytest.mark.server
def test_simulate_continues_the_story_of_a_known_user(tmp_path: Path) -> None:
    """The README's path: a checkout with Stripe's own ids (the curl example), then
    `simulate … --email` for the same person moves *her* subscription, no second user."""
    with fresh_database("sqlite", tmp_path) as url, gunicorn(url, tmp_path, workers=1) as server:
        customer, sub_id = "cus_1ReadmeExample0", "sub_1ReadmeExample0000000"
        checkout = sim.event("checkout.session.completed", sim.checkout_session(
            customer=customer, subscription=sub_id, email="Ada@Example.com", tier="pro"))
        assert server.post_event(checkout).body["status"] == "processed"
        done = subprocess.run(
            [sys.executable, "-m", "flask", "stripe", "simulate", "customer.subscription.updated",
             "--email", "ada@example.com", "--tier", "business",
             "--url", f"{server.url}/api/webhooks/stripe"],
            cwd=REPO_ROOT, env=server_env(url), capture_output=True, text=True, timeout=60,
            check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"customer {customer}, subscription {sub_id}" in done.stdout
        ada = server.user_status("ada@example.com").body
        assert (ada["tier"], ada["subscription"]["id"]) == ("business", sub_id)
        assert query(url, "SELECT count(*) FROM users") == [(1,)]
