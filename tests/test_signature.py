"""Stripe-Signature verification at the public endpoint:
real HMAC headers, tolerance, secret rolling.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from subsvc import simulate as sim
from subsvc.config import load_settings
from tests.builders import PUBLIC_URL, answer, inbox, snapshot, subscription_event
from tests.conftest import OLD_WEBHOOK_SECRET, WEBHOOK_SECRET

OTHER_SECRET = "whsec_test_not_configured_00112233445566"


def digest(body: bytes, ts: int, secret: str = WEBHOOK_SECRET) -> str:
    return hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()


# Each case: (header for `body` signed at `ts`, or None for no header; body actually sent).
Case = Callable[[bytes, int], tuple[str | None, bytes]]

REJECTED: dict[str, Case] = {
    "missing-header": lambda body, ts: (None, body),
    "empty-header": lambda body, ts: ("", body),
    "garbage-header": lambda body, ts: ("not a signature", body),
    "no-timestamp": lambda body, ts: (f"v1={digest(body, ts)}", body),
    "no-v1": lambda body, ts: (f"t={ts}", body),
    "tampered-body": lambda body, ts: (sim.sign(body, WEBHOOK_SECRET, ts),
                                       body.replace(b'"status":"active"', b'"status":"trialing"')),
    "wrong-secret": lambda body, ts: (sim.sign(body, OTHER_SECRET, ts), body),
    "stale-timestamp": lambda body, ts: (sim.sign(body, WEBHOOK_SECRET, ts - 301), body),
    "timestamp-changed": lambda body, ts: (f"t={ts + 1},v1={digest(body, ts)}", body),
    "only-v0": lambda body, ts: (f"t={ts},v0={digest(body, ts)}", body),
    "two-v1-none-valid": lambda body, ts: (
        f"t={ts},v1={digest(body, ts, OTHER_SECRET)},v1={digest(body + b' ', ts)}", body),
}

ACCEPTED: dict[str, Case] = {
    "plain": lambda body, ts: (sim.sign(body, WEBHOOK_SECRET, ts), body),
    "inside-tolerance": lambda body, ts: (sim.sign(body, WEBHOOK_SECRET, ts - 240), body),
    "two-v1-second-valid": lambda body, ts: (
        f"t={ts},v1={digest(body, ts, OTHER_SECRET)},v1={digest(body, ts)}", body),
    "two-v1-first-valid": lambda body, ts: (
        f"t={ts},v1={digest(body, ts)},v1={digest(body, ts, OTHER_SECRET)}", body),
    "extra-v0-scheme": lambda body, ts: (f"t={ts},v1={digest(body, ts)},v0={'0' * 64}", body),
}


def post(client: FlaskClient, case: Case) -> tuple[dict[str, Any], Any]:
    event = subscription_event("customer.subscription.created", sim.Customer.make(1))
    header, body = case(sim.dumps(event), int(time.time()))
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Stripe-Signature"] = header
    return event, client.post(PUBLIC_URL, data=body, headers=headers)


@pytest.mark.parametrize("case", REJECTED)
def test_bad_signature_is_rejected_and_changes_nothing(app: Flask, client: FlaskClient,
                                                       case: str) -> None:
    before = snapshot(app)

    _, response = post(client, REJECTED[case])

    assert (response.status_code, response.get_json()) == (400, {"error": "invalid_signature"})
    assert snapshot(app) == before


@pytest.mark.parametrize("case", ACCEPTED)
def test_valid_signature_is_accepted(app: Flask, client: FlaskClient, case: str) -> None:
    event, response = post(client, ACCEPTED[case])

    assert (response.status_code, response.get_json()) == (200, answer(event))
    assert [row.event_id for row in inbox(app)] == [event["id"]]


ROLLING = {"STRIPE_WEBHOOK_SECRET": [OLD_WEBHOOK_SECRET, WEBHOOK_SECRET]}
# The same two secrets, read the way the environment gives them.
ROLLING_FROM_ENV = {"STRIPE_WEBHOOK_SECRET": load_settings(
    {"STRIPE_WEBHOOK_SECRET": f"{OLD_WEBHOOK_SECRET}, {WEBHOOK_SECRET}"})["STRIPE_WEBHOOK_SECRET"]}


@pytest.mark.parametrize("config_overrides", [ROLLING, ROLLING_FROM_ENV], indirect=True,
                         ids=["list", "comma-separated"])
@pytest.mark.parametrize(("secret", "status"), [
    (OLD_WEBHOOK_SECRET, 200), (WEBHOOK_SECRET, 200), (OTHER_SECRET, 400),
], ids=["old", "new", "other"])
def test_secret_rolling_accepts_every_configured_secret(
        app: Flask, client: FlaskClient, secret: str, status: int) -> None:
    event, response = post(client, lambda body, ts: (sim.sign(body, secret, ts), body))

    assert response.status_code == status
    assert response.get_json() == \
        (answer(event) if status == 200 else {"error": "invalid_signature"})
    assert len(inbox(app)) == (1 if status == 200 else 0)


@pytest.mark.parametrize("config_overrides", [{"STRIPE_WEBHOOK_TOLERANCE": 60}], indirect=True)
@pytest.mark.parametrize(("age", "status"), [(30, 200), (90, 400)])
def test_configured_tolerance_is_honoured(app: Flask, client: FlaskClient, age: int,
                                          status: int) -> None:
    _, response = post(client, lambda body, ts: (sim.sign(body, WEBHOOK_SECRET, ts - age), body))

    assert response.status_code == status
    assert len(inbox(app)) == (1 if status == 200 else 0)
