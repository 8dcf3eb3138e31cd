"""A verified Stripe event as plain data, and every API-version-dependent field lookup.

Stripe moved fields in API version 2025-03-31: the period end went from the
subscription onto its items, and `invoice.subscription` became
`invoice.parent.subscription_details.subscription`. Both shapes are read here
and nowhere else.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from subsvc.errors import InvalidPayload

JsonDict = dict[str, Any]
THIN_OBJECT = "v2.core.event"  # an event destination's thin payload (subsvc/thin.py)


@dataclass(frozen=True)
class StripeEvent:
    id: str
    type: str
    created: int
    api_version: str | None
    livemode: bool
    object: JsonDict
    raw: str  # the JSON text as received, kept for the inbox

    @property
    def customer_id(self) -> str | None:
        return id_of(self.object.get("customer"))

    @property
    def lock_subject(self) -> str:
        """What this event's processing serialises on: its Stripe customer."""
        return self.customer_id or id_of(self.object) or self.id


def parse_event(raw: bytes | str) -> StripeEvent:
    """Parse and shape-check a Stripe event; raises InvalidPayload on anything else."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        raise InvalidPayload() from None
    if isinstance(data, dict) and data.get("object") == THIN_OBJECT:
        from subsvc.thin import parse_thin_event  # thin.py builds on StripeEvent

        return parse_thin_event(data, text)
    if not isinstance(data, dict) or data.get("object") != "event":
        raise InvalidPayload()
    event_id, type_, created = data.get("id"), data.get("type"), data.get("created")
    body = data.get("data")
    obj = body.get("object") if isinstance(body, dict) else None
    if not (isinstance(event_id, str) and event_id.startswith("evt_") and len(event_id) <= 255):
        raise InvalidPayload()
    if not (isinstance(type_, str) and type_ and len(type_) <= 128):
        raise InvalidPayload()
    if not isinstance(created, int) or isinstance(created, bool) or created < 0:
        raise InvalidPayload()
    if not isinstance(obj, dict):
        raise InvalidPayload()
    api_version = data.get("api_version")
    return StripeEvent(
        id=event_id,
        type=type_,
        created=created,
        api_version=api_version if isinstance(api_version, str) else None,
        livemode=bool(data.get("livemode", False)),
        object=obj,
        raw=text,
    )


def id_of(value: Any) -> str | None:
    """An id from a field that is either the id or the expanded object."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return value["id"]
    return None


def dig(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def items_of(obj: JsonDict, key: str) -> list[JsonDict]:
    data = dig(obj, key, "data")
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def as_epoch(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --- subscriptions -----------------------------------------------------------

def subscription_prices(sub: JsonDict) -> list[JsonDict]:
    """The price objects of the subscription's items (a bare id becomes {"id": …})."""
    prices = []
    for item in items_of(sub, "items"):
        price = item.get("price") or item.get("plan")
        if isinstance(price, str):
            price = {"id": price}
        if isinstance(price, dict) and isinstance(price.get("id"), str):
            prices.append(price)
    return prices


def subscription_period_end(sub: JsonDict) -> int | None:
    # Before 2025-03-31 on the subscription; from then on, on each item.
    ends = [as_epoch(sub.get("current_period_end"))]
    ends += [as_epoch(item.get("current_period_end")) for item in items_of(sub, "items")]
    known = [end for end in ends if end is not None]
    return max(known) if known else None


# --- invoices ----------------------------------------------------------------

def invoice_subscription_id(invoice: JsonDict) -> str | None:
    return id_of(invoice.get("subscription")) or id_of(
        dig(invoice, "parent", "subscription_details", "subscription")
    )


def _is_subscription_line(line: JsonDict) -> bool:
    details = dig(line, "parent", "subscription_item_details")
    if isinstance(details, dict):  # 2025-03-31 and later
        return not details.get("proration", False)
    if line.get("type") == "subscription":  # before
        return not line.get("proration", False)
    return False


def invoice_period_end(invoice: JsonDict) -> int | None:
    """The end of the period a subscription invoice pays for.

    Not `invoice.period_end`, which for a renewal looks back one period, and
    not a proration line, whose period can end anywhere.
    """
    ends = [as_epoch(dig(line, "period", "end")) for line in items_of(invoice, "lines")
            if _is_subscription_line(line)]
    known = [end for end in ends if end is not None]
    return max(known) if known else None


def invoice_email(invoice: JsonDict) -> str | None:
    email = invoice.get("customer_email")
    return email if isinstance(email, str) and email else None


# --- checkout sessions -------------------------------------------------------

def checkout_email(session: JsonDict) -> str | None:
    email = dig(session, "customer_details", "email") or session.get("customer_email")
    return email if isinstance(email, str) and email else None


def checkout_tier(session: JsonDict) -> str | None:
    tier = dig(session, "metadata", "tier")
    return tier if isinstance(tier, str) and tier else None


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
