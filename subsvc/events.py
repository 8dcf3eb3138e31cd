"""A verified Stripe event as plain data, and every API-version-dependent field lookup.

Stripe moved fields between API versions, and an account stays on the version
it was created with, so every shape is read here and nowhere else:
- legacy versions carry `plan` (and `quantity`) on a subscription without `items`;
- 2025-03-31 moved the period end from the subscription onto its items, and
  `invoice.subscription` to `invoice.parent.subscription_details.subscription`;
  it also dropped `invoice.paid` (`invoice.status` says it);
- flexible billing (the default since 2025-09-30) allows items of mixed intervals;
- Accounts v2 names the customer `customer_account` (an `acct_…`), beside or
  instead of `customer`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from subsvc.errors import InvalidPayload

JsonDict = dict[str, Any]


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
        return customer_of(self.object)

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


def customer_of(obj: JsonDict) -> str | None:
    """The Stripe customer a subscription, invoice or checkout session belongs to.

    An Accounts v2 customer is an Account: objects about it carry its `acct_…`
    id as `customer_account`, with `customer` null or a `cus_…` mirror that
    not every object names. The account id is the one every object carries,
    so it is the identity when present; otherwise the v1 `customer`.
    """
    return as_str(obj.get("customer_account")) or id_of(obj.get("customer"))


# --- subscriptions -----------------------------------------------------------

def subscription_prices(sub: JsonDict) -> list[JsonDict]:
    """The price objects of the subscription's items (a bare id becomes {"id": …}).

    Legacy versions have no `items`: the subscription's own `plan` is its price.
    An empty list means the payload names no price at all.
    """
    prices = [price for item in items_of(sub, "items") if (price := _price_of(item))]
    legacy = _price_of({"plan": sub.get("plan")})
    return prices or ([legacy] if legacy else [])


def _price_of(item: JsonDict) -> JsonDict | None:
    price = item.get("price") or item.get("plan")
    if isinstance(price, str):
        price = {"id": price}
    if isinstance(price, dict) and isinstance(price.get("id"), str) and price["id"]:
        return price
    return None


def subscription_period_end(sub: JsonDict) -> int | None:
    """When the subscription next bills or ends, as this payload says.

    Before 2025-03-31 on the subscription; from then on, on each item. With
    items of mixed intervals (flexible billing) the earliest item end is the
    subscription's: a monthly item renews in a month even beside a yearly one.
    Across events the latest value still wins (apply_period_end).
    """
    ends = [as_epoch(sub.get("current_period_end"))]
    ends += [as_epoch(item.get("current_period_end")) for item in items_of(sub, "items")]
    known = [end for end in ends if end is not None]
    return min(known) if known else None


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
    not a proration line, whose period can end anywhere. With lines of mixed
    intervals, the earliest end: that is when the subscription bills next.
    """
    ends = [as_epoch(dig(line, "period", "end")) for line in items_of(invoice, "lines")
            if _is_subscription_line(line)]
    known = [end for end in ends if end is not None]
    return min(known) if known else None


def invoice_is_paid(invoice: JsonDict) -> bool:
    """Whether the invoice is paid in full.

    From 2025-05-28 an invoice can be paid in parts: `amount_paid > 0` with
    `status: "open"` is a partial payment. `status` is the word on it; only
    versions old enough to lack it are read by their `paid` flag.
    """
    if "status" in invoice:
        return invoice["status"] == "paid"
    return invoice.get("paid") is True


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
