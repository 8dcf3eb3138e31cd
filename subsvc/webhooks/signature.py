"""Stripe signature verification on the raw bytes, against every configured secret. No Flask."""
from __future__ import annotations

from stripe import SignatureVerificationError, WebhookSignature

from subsvc.errors import InvalidSignature


def verify_signature(raw: bytes, header: str | None, secrets: list[str], tolerance: int) -> None:
    """Raise InvalidSignature unless one of `secrets` signed `raw` within `tolerance` seconds.

    Several secrets let an operator roll the endpoint secret without downtime.
    The stripe library's errors carry the header and payload, so they are
    swallowed here, never logged or re-raised.
    """
    if not header:
        raise InvalidSignature()
    for secret in secrets:
        try:
            WebhookSignature.verify_header(raw, header, secret, tolerance)
            return
        except (SignatureVerificationError, UnicodeDecodeError):
            continue
    raise InvalidSignature()
