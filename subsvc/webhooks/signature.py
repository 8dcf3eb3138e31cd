"""Stripe signature verification on the raw bytes, against every configured secret. No Flask."""
from __future__ import annotations

import time

from stripe import SignatureVerificationError, WebhookSignature

from subsvc.errors import InvalidSignature


def verify_signature(raw: bytes, header: str | None, secrets: list[str], tolerance: int) -> None:
    """Raise InvalidSignature unless one of `secrets` signed `raw` within `tolerance` seconds.

    Several secrets let an operator roll the endpoint secret without downtime.
    The stripe library's errors carry the header and payload, so they are
    swallowed here, never logged or re-raised.
    """
    # A real header is ASCII; the library's compare_digest raises TypeError on anything else.
    if not header or not header.isascii():
        raise InvalidSignature()
    for secret in secrets:
        try:
            WebhookSignature.verify_header(raw, header, secret, tolerance)
        except (SignatureVerificationError, UnicodeDecodeError):
            continue
        _check_not_ahead(header, tolerance)
        return
    raise InvalidSignature()


def _check_not_ahead(header: str, tolerance: int) -> None:
    """The library only refuses timestamps older than the tolerance; refuse newer ones too.

    A replay window both ways: no delivery of Stripe's is dated ahead of its sending, so one
    days ahead could be replayed for days. The cost is the same as for the past side: a clock
    more than `tolerance` behind refuses everything (400, so Stripe retries until it is fixed).
    """
    # The timestamp the library verified: the first `t=` item, read the way it reads it.
    stamp = next(item.split("=", 2)[1] for item in header.split(",")
                 if item.split("=", 2)[0] == "t")
    if int(stamp) > time.time() + tolerance:
        raise InvalidSignature()
