"""Thin views: read the request, call one function, map its Outcome to JSON."""
from __future__ import annotations

import hmac
import logging
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from subsvc.accounts.entitlement import Policy
from subsvc.config import INTERNAL_SECRET_MIN_LENGTH
from subsvc.errors import NotConfigured, Unauthorized
from subsvc.events import StripeEvent, parse_event
from subsvc.inbox import Outcome
from subsvc.stripe_api import WEBHOOK, api_from_config
from subsvc.thin import receive_event
from subsvc.webhooks.forward import forward
from subsvc.webhooks.signature import verify_signature

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__)


@bp.post("/api/webhooks/stripe")
def stripe_webhook() -> ResponseReturnValue:
    config = current_app.config
    if not config["STRIPE_WEBHOOK_SECRET"]:
        raise NotConfigured()
    raw = request.get_data(cache=False)
    verify_signature(raw, request.headers.get("Stripe-Signature"),
                     config["STRIPE_WEBHOOK_SECRET"], config["STRIPE_WEBHOOK_TOLERANCE"])
    event = parse_event(raw)
    log.info("Forwarding event %s (%s)", event.id, event.type)
    return deliver(event)


@bp.post("/subscriptions/internal/stripe-webhook")
def internal_stripe_webhook() -> ResponseReturnValue:
    expected = internal_secret()
    given = request.headers.get("X-Internal-Secret", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized()
    event = parse_event(request.get_data(cache=False))
    return _answer(event, _receive(event))


def deliver(event: StripeEvent) -> ResponseReturnValue:
    """Hand a verified event to the core: over HTTP when INTERNAL_WEBHOOK_URL is set."""
    config = current_app.config
    if config["INTERNAL_WEBHOOK_URL"]:
        body, status = forward(event, config["INTERNAL_WEBHOOK_URL"], internal_secret())
        return jsonify(body), status
    return _answer(event, _receive(event))


def _receive(event: StripeEvent) -> Outcome:
    # A thin event needs the Stripe API to fetch its object (subsvc/thin.py).
    config = current_app.config
    return receive_event(event, Policy.from_config(config), api_from_config(config, WEBHOOK))


def internal_secret() -> str:
    """The edge/core shared secret; missing or shorter than 32 characters is "not configured"."""
    secret = current_app.config["INTERNAL_WEBHOOK_SECRET"]
    if not secret:
        raise NotConfigured()
    if len(secret) < INTERNAL_SECRET_MIN_LENGTH:
        # A guessable secret would open the core to forged events: refuse it.
        log.warning("INTERNAL_WEBHOOK_SECRET is shorter than %s characters; refusing to use it",
                    INTERNAL_SECRET_MIN_LENGTH)
        raise NotConfigured()
    return str(secret)



def _answer(event: StripeEvent, outcome: Any) -> ResponseReturnValue:
    return jsonify({"status": str(outcome), "event_id": event.id}), 200
