"""Thin event notifications (`"object": "v2.core.event"`) as an event destination sends them.

No object, only a reference to it: the receiver fetches the current state. API v1
thin types are the snapshot types with a `v1.` prefix (Stripe changelog 2026-09-30).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from subsvc.simulate.ids import new_id, now
from subsvc.simulate.shapes import Json

# Where Stripe says each related object can be fetched.
_PATHS = {"subscription": "/v1/subscriptions", "invoice": "/v1/invoices",
          "checkout.session": "/v1/checkout/sessions", "customer": "/v1/customers"}


def thin_event(snapshot_type: str, related_id: str, related_type: str, *,
               created: int | None = None, event_id: str | None = None,
               livemode: bool = False) -> Json:
    """The thin twin of a snapshot event of `snapshot_type` about object `related_id`."""
    stamp = datetime.fromtimestamp(created if created is not None else now(), UTC)
    path = _PATHS.get(related_type, f"/v1/{related_type}")
    return {
        "id": event_id or f"evt_{new_id('x')[2:]}{new_id('x')[2:]}",
        "object": "v2.core.event",
        "context": None,
        "created": stamp.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "livemode": livemode,
        "reason": {"type": "request",
                   "request": {"id": new_id("req"), "idempotency_key": str(uuid.uuid4())}},
        "related_object": {"id": related_id, "type": related_type, "url": f"{path}/{related_id}"},
        "type": f"v1.{snapshot_type}",
    }
