"""Thin views: read the request, call one function, map its Outcome to JSON."""
from __future__ import annotations

import hmac
import logging

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from subsvc.accounts.entitlement import Policy
from subsvc.credentials import require_secret, require_secrets
from subsvc.errors import BadCredentials
from subsvc.events import StripeEvent, parse_event
from subsvc.inbox import Outcome
from subsvc.metrics import note_outcome
from subsvc.stripe_api import WEBHOOK, api_from_config
from subsvc.thin import receive_event
from subsvc.webhooks.forward import forward
from subsvc.webhooks.signature import verify_signature

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__)


@bp.post("/api/webhooks/stripe")
def stripe_webhook() -> ResponseReturnValue:
    secrets = require_secrets("STRIPE_WEBHOOK_SECRET")
    raw = read_body()
    verify_signature(raw, request.headers.get("Stripe-Signature"), secrets,
                     current_app.config["STRIPE_WEBHOOK_TOLERANCE"])
    event = parse_event(raw)
    log.info("Forwarding event %s (%s)", event.id, event.type)
    return deliver(event)


@bp.post("/subscriptions/internal/stripe-webhook")
def internal_stripe_webhook() -> ResponseReturnValue:
    expected = internal_secret()
    given = request.headers.get("X-Internal-Secret", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise BadCredentials()
    event = parse_event(read_body())
    return _answer(event, _receive(event))


def read_body() -> bytes:
    """The raw body; 413 over MAX_CONTENT_LENGTH, with or without a Content-Length.

    Werkzeug refuses a declared length over the limit, but a chunked body (no
    Content-Length) is only read up to the limit and silently cut there: one byte
    more from the server's own stream tells a body of exactly the limit from a longer one.
    """
    limit = request.max_content_length
    try:
        raw = request.get_data(cache=False)
    except RequestEntityTooLarge:
        _drain(min(limit or 0, request.content_length or 0))
        raise
    if request.content_length is None and limit is not None and len(raw) >= limit:
        if request.environ["wsgi.input"].read(1):
            _drain(limit)
            raise RequestEntityTooLarge()
    return raw


def _drain(size: int) -> None:
    """Read and drop up to `size` bytes more of a refused body.

    A sender still sending a body somewhat over the limit then reads the 413 instead of a
    reset connection (closing a socket with unread data resets it). Bounded: a far larger
    body is cut off, and its sender sees the reset.
    """
    request.environ["wsgi.input"].read(size)


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
    # A guessable secret would open the core to forged events: refuse it.
    return require_secret("INTERNAL_WEBHOOK_SECRET")


def _answer(event: StripeEvent, outcome: Outcome) -> ResponseReturnValue:
    note_outcome(str(outcome))
    return jsonify({"status": str(outcome), "event_id": event.id}), 200
