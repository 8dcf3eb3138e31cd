"""Serialising and signing simulated events exactly as Stripe delivers them (subsvc.simulate)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from subsvc.simulate.shapes import Json


def sign(payload: bytes | str, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header: ``t=<ts>,v1=<hex HMAC-SHA256 of "<ts>.<payload>">``."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    body = payload if isinstance(payload, bytes) else payload.encode("utf-8")
    digest = hmac.new(secret.encode("utf-8"), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def dumps(event: Json, *, pretty: bool = False) -> bytes:
    """Serialise an event to the exact bytes that get POSTed and signed.

    ``pretty`` indents as Stripe itself does; the compact form is smaller for the tests.
    """
    if pretty:
        return json.dumps(event, indent=2).encode("utf-8")
    return json.dumps(event, separators=(",", ":")).encode("utf-8")


def signed_request(event: Json, secret: str, *,
                   timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """Body and headers for delivering ``event`` the way Stripe does."""
    body = dumps(event)
    return body, {"Content-Type": "application/json; charset=utf-8",
                  "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                  "Stripe-Signature": sign(body, secret, timestamp)}
