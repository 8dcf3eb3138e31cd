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
import re
from dataclasses import dataclass
from typing import Any, TypeGuard

from subsvc.errors import InvalidPayload
from subsvc.models import InboxEvent, Subscription, User

JsonDict = dict[str, Any]
THIN_OBJECT = "v2.core.event"  # an event destination's thin payload (subsvc/thin.py)


class UnusableEvent(Exception):
    """A verified event whose data the handlers cannot store; the inbox records it as failed."""


@dataclass(frozen=True)
class StripeEvent:
    id: str
    type: str
    created: int
    api_version: str | None
    livemode: bool
    object: JsonDict
    raw: str  # the JSON text as received, kept for the inbox
    # Why the handlers cannot apply this event's data (None: they can). See _unusable_data.
    unusable: str | None = None

    @property
    def customer_id(self) -> str | None:
        return customer_of(self.object)

    @property
    def subject_ids(self) -> dict[str, str | None]:
        """The inbox row's stripe_customer_id and stripe_subscription_id: whom the event is about.

        Read for every event, handled or not (an ignored charge of a customer is still theirs);
        an id that would not fit the column is left out rather than refused.
        """
        obj, kind = self.object, self.object.get("object")
        customer = id_of(obj) if kind == "customer" else self.customer_id
        subscription = id_of(obj) if kind == "subscription" else invoice_subscription_id(obj)
        return {"stripe_customer_id": customer if _fits_column(customer) else None,
                "stripe_subscription_id": subscription if _fits_column(subscription) else None}

    @property
    def lock_subject(self) -> str:
        """What this event's processing serialises on: its Stripe customer."""
        return self.customer_id or id_of(self.object) or self.id

    def require_usable(self) -> None:
        if self.unusable:
            raise UnusableEvent(self.unusable)


# --- parsing and validation ----------------------------------------------------------------
#
# CONTRACT section 4: what cannot be stored is the sender's fault, answered 400 and never
# a 500. The envelope fills the inbox row, so an envelope that does not fit is refused.
# The data is only judged when a handler applies it (an ignored event is stored whatever
# its object holds), field by field:
# - an email that cannot be stored (over 320 characters, NUL, control characters, lone
#   surrogates) cannot be an email either: it is treated as absent, and the event applies;
# - an identifier that cannot be stored or looked up (customer, subscription, session,
#   client_reference_id, price ids, status) would leave us not knowing whose state the
#   event changes: the event fails, recorded in the inbox with the field named, and is
#   answered 500 so Stripe retries while the operator looks (`flask events list`).
# Stripe's identifiers are printable ASCII, which rules out NUL and surrogates in one cheap
# test; a raw NUL is not valid JSON at all, so the stored text itself always fits TEXT.
# All checks are a few dict look-ups: no second parse and no walk over the whole tree.

def _width(column: Any) -> int:
    return int(column.type.length)


# The ordering key (accounts/ordering.py) is 16 characters plus the event id in the
# 128-character version columns, so an event id may be 112 long; Stripe's are 28.
EVENT_ID = re.compile(r"evt_[A-Za-z0-9_]{1,108}")
TYPE_WIDTH = _width(InboxEvent.__table__.c.type)
API_VERSION_WIDTH = _width(InboxEvent.__table__.c.api_version)
# 9999-12-31T23:59:59Z: fits a BigInteger, a datetime and the ordering key's 12 digits.
MAX_CREATED = 253_402_300_799
ID_WIDTH = _width(Subscription.__table__.c.stripe_customer_id)
STATUS_WIDTH = _width(Subscription.__table__.c.status)
EMAIL_WIDTH = _width(User.__table__.c.email)
# data.object fields the handlers store or look up (a field may be an expanded object).
IDENTIFIERS = tuple((".".join(path), path) for path in (
    ("id",), ("customer",), ("customer_account",), ("subscription",), ("client_reference_id",),
    ("parent", "subscription_details", "subscription")))
EMAILS = (("customer_email",), ("customer_details", "email"), ("email",))


def parse_event(raw: bytes | str) -> StripeEvent:
    """Parse and shape-check a Stripe event; raises InvalidPayload on anything else."""
    text, data = _load(raw)
    if isinstance(data, dict) and data.get("object") == THIN_OBJECT:
        from subsvc.thin import parse_thin_event  # thin.py builds on StripeEvent

        return parse_thin_event(data, text)
    if not isinstance(data, dict) or data.get("object") != "event":
        raise InvalidPayload()
    body = data.get("data")
    obj = body.get("object") if isinstance(body, dict) else None
    event_id, type_, created = data.get("id"), data.get("type"), data.get("created")
    api_version, livemode = data.get("api_version"), data.get("livemode", False)
    if not (isinstance(obj, dict) and isinstance(event_id, str) and EVENT_ID.fullmatch(event_id)
            and is_storable(type_, TYPE_WIDTH) and _is_created(created)
            and (api_version is None or is_storable(api_version, API_VERSION_WIDTH))
            and isinstance(livemode, bool)):
        raise InvalidPayload()
    _drop_unusable_emails(obj)
    return StripeEvent(id=event_id, type=type_, created=created, api_version=api_version,
                       livemode=livemode, object=obj, raw=text, unusable=_unusable_data(obj))


def _load(raw: bytes | str) -> tuple[str, Any]:
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
        return text, json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: nested deeper than the parser allows (CONTRACT section 4).
        raise InvalidPayload() from None


def is_storable(value: Any, width: int) -> TypeGuard[str]:
    """A non-empty printable ASCII string of at most `width` characters."""
    return (isinstance(value, str) and 0 < len(value) <= width and value.isascii()
            and value.isprintable())


def is_storable_email(value: str) -> bool:
    # Not ASCII-only: internationalised addresses are real. isprintable() rules out NUL,
    # control characters and lone surrogates (which no database encoding takes).
    return len(value) <= EMAIL_WIDTH and value.isprintable()


def _is_created(created: Any) -> TypeGuard[int]:
    return (isinstance(created, int) and not isinstance(created, bool)
            and 0 <= created <= MAX_CREATED)


def _drop_unusable_emails(obj: JsonDict) -> None:
    for *parents, key in EMAILS:
        holder = dig(obj, *parents) if parents else obj
        if isinstance(holder, dict) and isinstance(holder.get(key), str):
            if not is_storable_email(holder[key]):
                holder[key] = None


def _unusable_data(obj: JsonDict) -> str | None:
    for name, path in IDENTIFIERS:
        if not _fits(id_of(dig(obj, *path)), ID_WIDTH):
            return _unusable(name, id_of(dig(obj, *path)), ID_WIDTH)
    if not _fits(obj.get("status"), STATUS_WIDTH):
        return _unusable("status", obj["status"], STATUS_WIDTH)
    for n, item in enumerate(items_of(obj, "items")):
        for key in ("price", "plan"):
            if not _fits(id_of(item.get(key)), ID_WIDTH):
                return _unusable(f"items.data[{n}].{key}.id", id_of(item[key]), ID_WIDTH)
    return None


def _fits_column(value: str | None) -> bool:
    return value is not None and is_storable(value, ID_WIDTH)


def _fits(value: Any, width: int) -> bool:
    return not isinstance(value, str) or not value or is_storable(value, width)


def _unusable(name: str, value: Any, width: int) -> str:
    return (f"data.object.{name} cannot be stored: {len(value)} characters "
            f"(at most {width}, printable ASCII)")


def id_of(value: Any) -> str | None:
    """An id from a field that is either the id or the expanded object."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict) and isinstance(found := value.get("id"), str):
        return found
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
    """The Stripe customer a subscription, invoice, checkout session or customer event is about.

    An Accounts v2 customer is an Account: objects about it carry its `acct_…`
    id as `customer_account`, with `customer` null or a `cus_…` mirror that
    not every object names. The account id is the one every object carries,
    so it is the identity when present; otherwise the v1 `customer`. A
    Customer object (`customer.*` events) is the `cus_…` itself, and names its
    Account the same way, so its events lock on the same subject as the rest.
    """
    if obj.get("object") == "customer":  # a customer event's object is the customer itself
        return as_str(obj.get("customer_account")) or id_of(obj.get("id"))
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
    Across events the latest value still wins (the merge in accounts/merge.py).
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
        status: object = invoice["status"]
        return status == "paid"
    return invoice.get("paid") is True


def invoice_email(invoice: JsonDict) -> str | None:
    email = invoice.get("customer_email")
    return email if isinstance(email, str) and email else None


# --- customers -----------------------------------------------------------------

def customer_object_email(customer: JsonDict) -> str | None:
    """The email of a Customer object (`customer.created` / `customer.updated`)."""
    email = customer.get("email") if customer.get("object") == "customer" else None
    return email if isinstance(email, str) and email.strip() else None


# --- checkout sessions -------------------------------------------------------

def checkout_email(checkout: JsonDict) -> str | None:
    email = dig(checkout, "customer_details", "email") or checkout.get("customer_email")
    return email if isinstance(email, str) and email else None


def checkout_tier_name(checkout: JsonDict) -> str | None:
    name = dig(checkout, "metadata", "tier")
    return name if isinstance(name, str) and name else None


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
