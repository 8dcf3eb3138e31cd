"""Builders for realistic Stripe webhook payloads (API 2024-06-20 and 2025-03-31.basil), plus signing.

Pure Python (no Flask, no DB): shared by the test-suite and the ``flask stripe simulate`` command.
"""

from __future__ import annotations

import calendar
import copy
import hashlib
import hmac
import json
import secrets
import string
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

API_OLD = "2024-06-20"
API_NEW = "2025-03-31.basil"

DAY = 86_400
_ALNUM = string.ascii_letters + string.digits
# Stripe mints short 14-char ids for these prefixes (cus_SqeciAuyLwHEG2, si_SqhMlvkyTwDpNt) and "1"+23 for the rest.
_SHORT_ID_PREFIXES = frozenset({"cus", "si", "prod", "req"})

Json = dict[str, Any]

_SESSION_NULLS = ("after_expiration", "allow_promotion_codes", "billing_address_collection", "client_secret",
                  "consent", "consent_collection", "locale", "payment_link", "payment_method_configuration_details",
                  "recovered_from", "setup_intent", "shipping_address_collection", "shipping_cost", "submit_type")
_SUB_NULLS = ("application", "application_fee_percent", "billing_cycle_anchor_config", "billing_thresholds",
              "days_until_due", "default_source", "description", "next_pending_invoice_item_invoice",
              "on_behalf_of", "pause_collection", "pending_invoice_item_interval", "pending_setup_intent",
              "pending_update", "schedule", "test_clock", "transfer_data")
_INVOICE_NULLS = ("account_tax_ids", "application", "automatically_finalizes_at", "custom_fields",
                  "customer_address", "customer_name", "customer_phone", "customer_shipping",
                  "default_payment_method", "default_source", "description", "due_date", "footer", "from_invoice",
                  "last_finalization_error", "latest_revision", "on_behalf_of", "receipt_number", "rendering",
                  "shipping_cost", "shipping_details", "statement_descriptor", "test_clock")
_NO_AUTOMATIC_TAX = {"disabled_reason": None, "enabled": False, "liability": None}
_TIMES = "\u00d7"  # Stripe line descriptions use the multiplication sign: "1 \u00d7 Pro (at $19.00 / month)"


def new_id(prefix: str) -> str:
    """A fresh id shaped like Stripe's, e.g. ``sub_1Qx8...`` (24 chars) or ``cus_Sqec...`` (14 chars)."""
    if prefix in _SHORT_ID_PREFIXES:
        return f"{prefix}_{_rand(14)}"
    return f"{prefix}_1{_rand(23)}"


def add_interval(ts: int, interval: str = "month", n: int = 1) -> int:
    """Shift ``ts`` by ``n`` billing intervals; months clamp to month end like Stripe's billing anchor."""
    if interval == "day":
        return ts + n * DAY
    if interval == "week":
        return ts + 7 * n * DAY
    months = n * (12 if interval == "year" else 1)
    dt = datetime.fromtimestamp(ts, UTC)
    year, month0 = divmod(dt.month - 1 + months, 12)
    year += dt.year
    day = min(dt.day, calendar.monthrange(year, month0 + 1)[1])
    return int(dt.replace(year=year, month=month0 + 1, day=day).timestamp())


def event(type_: str, obj: Json, *, created: int | None = None, event_id: str | None = None,
          api_version: str = API_NEW, previous_attributes: Json | None = None,
          automatic: bool = False) -> Json:
    """A full Event envelope; ``automatic`` marks Stripe-initiated events (renewals), whose request ids are null."""
    data: Json = {"object": copy.deepcopy(obj)}
    if previous_attributes is not None:
        data["previous_attributes"] = copy.deepcopy(previous_attributes)
    request: Json = ({"id": None, "idempotency_key": None} if automatic
                     else {"id": new_id("req"), "idempotency_key": str(uuid.uuid4())})
    return {
        "id": event_id or new_id("evt"),
        "object": "event",
        "api_version": api_version,
        "created": created if created is not None else (obj.get("created") or _now()),
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": request,
        "type": type_,
    }


def checkout_session(*, customer: str, subscription: str | None, email: str | None = None,
                     client_reference_id: str | None = None, mode: str = "subscription",
                     payment_status: str = "paid", tier: str | None = None,
                     session_id: str | None = None, created: int | None = None,
                     invoice: str | None = None, amount_total: int = 1900) -> Json:
    """A completed Checkout Session (the object of ``checkout.session.completed``)."""
    created = created if created is not None else _now()
    payment = mode == "payment"
    amount_total = 0 if payment_status == "no_payment_required" else amount_total
    address = {"city": None, "country": "US", "line1": None, "line2": None, "postal_code": "94103", "state": None}
    return _ordered(dict.fromkeys(_SESSION_NULLS) | {
        "id": session_id or _checkout_session_id(),
        "object": "checkout.session",
        "amount_subtotal": amount_total,
        "amount_total": amount_total,
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
        "cancel_url": "https://example.com/cancel",
        "client_reference_id": client_reference_id,
        "created": created,
        "currency": "usd",
        "custom_fields": [],
        "custom_text": dict.fromkeys(("after_submit", "shipping_address", "submit", "terms_of_service_acceptance")),
        "customer": customer,
        "customer_creation": "always",
        "customer_details": {"address": address, "email": email, "name": None, "phone": None,
                             "tax_exempt": "none", "tax_ids": []},
        "customer_email": email,
        "expires_at": created + DAY,
        "invoice": None if payment else invoice,
        "invoice_creation": {"enabled": False, "invoice_data": None} if payment else None,
        "livemode": False,
        "metadata": {"tier": tier} if tier else {},
        "mode": mode,
        "payment_intent": new_id("pi") if payment else None,
        "payment_method_collection": "always",
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
        "payment_method_types": ["card"],
        "payment_status": payment_status,
        "phone_number_collection": {"enabled": False},
        "shipping_options": [],
        "status": "complete",
        "subscription": None if payment else subscription,
        "success_url": "https://example.com/success?session_id={CHECKOUT_SESSION_ID}",
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": None,  # null once the session is complete
    })


def price(*, price_id: str | None = None, lookup_key: str | None = None, metadata: Json | None = None,
          unit_amount: int = 1900, interval: str = "month") -> Json:
    """A recurring Price; its product id is derived from the price id so repeated builds agree."""
    price_id = price_id or new_id("price")
    return _ordered({
        "id": price_id, "object": "price", "active": True, "billing_scheme": "per_unit", "created": 1_700_000_000,
        "currency": "usd", "custom_unit_amount": None, "livemode": False, "lookup_key": lookup_key,
        "metadata": dict(metadata or {}), "nickname": None, "product": _derived_id("prod", price_id),
        "recurring": {"interval": interval, "interval_count": 1, "meter": None, "trial_period_days": None,
                      "usage_type": "licensed"},
        "tax_behavior": "unspecified", "tiers_mode": None, "transform_quantity": None, "type": "recurring",
        "unit_amount": unit_amount, "unit_amount_decimal": str(unit_amount),
    })


def subscription(*, customer: str, price_id: str | None = None, sub_id: str | None = None,
                 status: str = "active", period_start: int, period_end: int,
                 cancel_at_period_end: bool = False, cancel_at: int | None = None, canceled_at: int | None = None,
                 api_version: str = API_NEW, lookup_key: str | None = None, price_metadata: Json | None = None,
                 created: int | None = None, trial_end: int | None = None, extra_prices: Sequence[Json] = (),
                 item_id: str | None = None, unit_amount: int = 1900, interval: str = "month",
                 latest_invoice: str | None = None, ended_at: int | None = None,
                 metadata: Json | None = None) -> Json:
    """A Subscription; the billing period sits on the subscription (old) or on every item (basil)."""
    new = _is_new(api_version)
    sub_id = sub_id or new_id("sub")
    created = created if created is not None else period_start
    main = price(price_id=price_id, lookup_key=lookup_key, metadata=price_metadata,
                 unit_amount=unit_amount, interval=interval)
    items = [_sub_item(sub_id, main, item_id or new_id("si"), created, period_start, period_end, new)]
    items += [_sub_item(sub_id, p, new_id("si"), created, period_start, period_end, new) for p in extra_prices]
    if ended_at is None and status == "canceled":
        ended_at = cancel_at or canceled_at or period_end
    sub: Json = dict.fromkeys(_SUB_NULLS) | {
        "id": sub_id,
        "object": "subscription",
        "automatic_tax": dict(_NO_AUTOMATIC_TAX),
        "billing_cycle_anchor": trial_end or created,
        "cancel_at": cancel_at,
        "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": canceled_at,
        "cancellation_details": {"comment": None, "feedback": None,
                                 "reason": "cancellation_requested" if (canceled_at or cancel_at) else None},
        "collection_method": "charge_automatically",
        "created": created,
        "currency": "usd",
        "customer": customer,
        "default_payment_method": _derived_id("pm", sub_id),
        "default_tax_rates": [],
        "discounts": [],
        "ended_at": ended_at,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": _list(items, f"/v1/subscription_items?subscription={sub_id}"),
        "latest_invoice": latest_invoice,
        "livemode": False,
        "metadata": dict(metadata or {}),
        "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                             "save_default_payment_method": "off"},
        "start_date": created,
        "status": status,
        "trial_end": trial_end,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": created if trial_end else None,
    }
    if not new:
        sub.update(current_period_start=period_start, current_period_end=period_end, discount=None)
        if len(items) == 1:  # legacy single-item mirrors
            sub.update(plan=items[0]["plan"], quantity=1)
    return _ordered(sub)


def invoice(*, customer: str, subscription: str, price_id: str, period_start: int, period_end: int,
            paid: bool = True, api_version: str = API_NEW, invoice_id: str | None = None,
            customer_email: str | None = None, billing_reason: str = "subscription_cycle",
            proration_lines: Sequence[Json] = (), created: int | None = None,
            amount: int = 1900, interval: str = "month", subscription_item: str | None = None,
            prices: dict[str, Json] | None = None, lookback_start: int | None = None,
            attempt_count: int = 1) -> Json:
    """A finalized subscription Invoice. Proration lines come first, as Stripe lists them, then the plan line.

    ``prices`` maps price ids to full Price objects (rendered as ``line.price`` in the old API).
    ``lookback_start`` overrides the top-level ``period_start`` of a renewal (e.g. the trial start).
    """
    new = _is_new(api_version)
    invoice_id = invoice_id or new_id("in")
    si = subscription_item or new_id("si")
    created = created if created is not None else period_start
    prices = prices or {}

    def price_obj(pid: str, unit_amount: int) -> Json:
        known = prices.get(pid)
        return copy.deepcopy(known) if known else price(price_id=pid, unit_amount=unit_amount, interval=interval)

    lines = [_line(invoice_id, subscription, p.get("subscription_item", si),
                   price_obj(p["price_id"], abs(p["amount"])), p["amount"], p["start"], p["end"], new,
                   proration=True, description=p.get("description"))
             for p in proration_lines]
    lines.append(_line(invoice_id, subscription, si, price_obj(price_id, amount), amount,
                       period_start, period_end, new, proration=False))
    total = sum(line["amount"] for line in lines)
    due = max(total, 0)
    # Invoice-level period is the period *before* the plan line's period on renewals, not the line's period.
    if billing_reason == "subscription_cycle":
        top_start, top_end = lookback_start or add_interval(period_start, interval, -1), period_start
    else:
        top_start = top_end = created
    finalized = created if billing_reason == "subscription_create" else created + 3600
    doc_url = f"acct_1SubsvcTest/test_{_derived(invoice_id, 40)}"
    inv: Json = dict.fromkeys(_INVOICE_NULLS) | {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Subsvc Test",
        "amount_due": due,
        "amount_paid": due if paid else 0,
        "amount_remaining": 0 if paid else due,
        "amount_shipping": 0,
        "attempt_count": attempt_count if due else 0,
        "attempted": True,
        "auto_advance": not paid,
        "automatic_tax": _NO_AUTOMATIC_TAX | {"status": None},
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "created": created,
        "currency": "usd",
        "customer": customer,
        "customer_email": customer_email,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_tax_rates": [],
        "discounts": [],
        "effective_at": finalized,
        "ending_balance": 0,
        "hosted_invoice_url": f"https://invoice.stripe.com/i/{doc_url}",
        "invoice_pdf": f"https://pay.stripe.com/invoice/{doc_url}/pdf",
        "issuer": {"type": "self"},
        "lines": _list(lines, f"/v1/invoices/{invoice_id}/lines"),
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None if paid else finalized + 3 * DAY,
        "number": f"{_derived(customer, 8).upper()}-{int(_derived(invoice_id, 4), 36) % 9999 + 1:04d}",
        "payment_settings": {"default_mandate": None, "payment_method_options": None, "payment_method_types": None},
        "period_end": top_end,
        "period_start": top_start,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "starting_balance": 0,
        "status": "paid" if paid else "open",
        "status_transitions": {"finalized_at": finalized, "marked_uncollectible_at": None,
                               "paid_at": finalized + 2 if paid else None, "voided_at": None},
        "subtotal": total,
        "subtotal_excluding_tax": total,
        "total": total,
        "total_discount_amounts": [],
        "total_excluding_tax": total,
        "webhooks_delivered_at": finalized,
    }
    if new:
        # basil: subscription moved under parent; paid/charge/payment_intent were removed outright.
        inv.update(amount_overpaid=0, total_pretax_credit_amounts=[], total_taxes=[],
                   parent={"quote_details": None,
                           "subscription_details": {"metadata": {}, "subscription": subscription},
                           "type": "subscription_details"})
    else:
        inv.update(paid=paid, paid_out_of_band=False, subscription=subscription,
                   subscription_details={"metadata": {}}, discount=None, quote=None,
                   application_fee_amount=None, transfer_data=None, tax=None, total_tax_amounts=[],
                   charge=new_id("ch") if due else None, payment_intent=new_id("pi") if due else None)
    return _ordered(inv)


def sign(payload: bytes | str, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header value: ``t=<ts>,v1=<hex HMAC-SHA256 of "<ts>.<payload>">``."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    body = payload if isinstance(payload, bytes) else payload.encode("utf-8")
    digest = hmac.new(secret.encode("utf-8"), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def dumps(event: Json, *, pretty: bool = False) -> bytes:
    """Serialise an event to the exact bytes that get POSTed and signed (Stripe itself pretty-prints)."""
    if pretty:
        return json.dumps(event, indent=2).encode("utf-8")
    return json.dumps(event, separators=(",", ":")).encode("utf-8")


def signed_request(event: Json, secret: str, *, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """Body and headers for delivering ``event`` the way Stripe does."""
    body = dumps(event)
    return body, {"Content-Type": "application/json; charset=utf-8",
                  "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                  "Stripe-Signature": sign(body, secret, timestamp)}


# --- lifecycles ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Customer:
    """Ids for one customer journey."""

    email: str
    external_id: str
    customer: str
    subscription: str
    session: str

    @classmethod
    def make(cls, n: int | str) -> Customer:
        return cls(email=f"user{n}@example.com", external_id=f"user_{n}", customer=new_id("cus"),
                   subscription=new_id("sub"), session=_checkout_session_id())


Expected = dict[str, Any]
Scenario = tuple[list[Json], Expected]


def lifecycle_full(c: Customer, *, pro_price: str, business_price: str, start: int,
                   api_version: str = API_NEW, portal_cancel: bool = False) -> Scenario:
    """Checkout -> incomplete -> active -> paid -> upgrade -> renewal with proration -> cancel -> deleted.

    Final: ``c.subscription`` "canceled" on ``business_price``, current_period_end = start + 2 months,
    cancel_at_period_end True. With ``portal_cancel`` the cancel is expressed the flexible-billing /
    Customer Portal way (``cancel_at`` = period end, ``cancel_at_period_end`` False) and the final flag is False.
    """
    j = _Journey(c, api_version, pro_price, business_price)
    p1, p2 = add_interval(start, n=1), add_interval(start, n=2)
    in1, in2 = new_id("in"), new_id("in")
    upgrade, cancel = start + 10 * DAY, p1 + 5 * DAY
    renewal = p1 + 3600
    flag = not portal_cancel
    events = [
        j.checkout(start, invoice=in1),
        j.sub("customer.subscription.created", start, status="incomplete", period=(start, p1), latest_invoice=in1),
        j.sub("customer.subscription.updated", start, period=(start, p1), latest_invoice=in1,
              prev={"status": "incomplete"}),
        *j.invoices(("invoice.payment_succeeded", "invoice.paid"), start, in1, (start, p1),
                    billing_reason="subscription_create"),
        j.sub("customer.subscription.updated", upgrade, p=j.business, period=(start, p1), latest_invoice=in1,
              prev=j.price_change_prev(j.pro, (start, p1))),
        *j.invoices(("invoice.paid",), renewal, in2, (p1, p2), p=j.business, created=p1, automatic=True,
                    proration_lines=[{"price_id": business_price, "amount": round(3000 * (p1 - upgrade) / (p1 - start)),
                                      "start": upgrade, "end": p1}]),
        j.sub("customer.subscription.updated", renewal + 1, p=j.business, period=(p1, p2), latest_invoice=in2,
              prev=j.period_prev(j.business, (start, p1), latest_invoice=in1), automatic=True),
        j.sub("customer.subscription.updated", cancel, p=j.business, period=(p1, p2), latest_invoice=in2,
              cancel_at_period_end=flag, cancel_at=p2, canceled_at=cancel,
              prev={"cancel_at": None, "canceled_at": None, "cancellation_details": {"reason": None},
                    **({"cancel_at_period_end": False} if flag else {})}),
        j.sub("customer.subscription.deleted", p2, status="canceled", p=j.business, period=(p1, p2),
              latest_invoice=in2, cancel_at_period_end=flag, cancel_at=p2, canceled_at=cancel, automatic=True),
    ]
    return events, _expected(c.subscription, "canceled", business_price, p2, flag)


def lifecycle_past_due(c: Customer, *, pro_price: str, start: int, api_version: str = API_NEW) -> Scenario:
    """Checkout -> active -> paid -> renewal payment fails -> past_due -> retry succeeds -> active.

    Final: ``c.subscription`` "active" on ``pro_price``, current_period_end = start + 2 months, not cancelling.
    """
    j = _Journey(c, api_version, pro_price)
    p1, p2 = add_interval(start, n=1), add_interval(start, n=2)
    in1, in2 = new_id("in"), new_id("in")
    failed, retry = p1 + 3600, p1 + 3 * DAY + 3600
    events = [
        j.checkout(start, invoice=in1),
        j.sub("customer.subscription.created", start, period=(start, p1), latest_invoice=in1),
        *j.invoices(("invoice.paid",), start, in1, (start, p1), billing_reason="subscription_create"),
        *j.invoices(("invoice.payment_failed",), failed, in2, (p1, p2), created=p1, paid=False, automatic=True),
        j.sub("customer.subscription.updated", failed + 1, status="past_due", period=(p1, p2), latest_invoice=in2,
              prev={"status": "active", **j.period_prev(j.pro, (start, p1), latest_invoice=in1)}, automatic=True),
        *j.invoices(("invoice.paid",), retry, in2, (p1, p2), created=p1, attempt_count=2, automatic=True),
        j.sub("customer.subscription.updated", retry + 1, period=(p1, p2), latest_invoice=in2,
              prev={"status": "past_due"}, automatic=True),
    ]
    return events, _expected(c.subscription, "active", pro_price, p2, False)


def lifecycle_trial(c: Customer, *, pro_price: str, start: int, api_version: str = API_NEW) -> Scenario:
    """Checkout (no payment) -> trialing 14 days with a $0 invoice -> trial ends -> active -> first real invoice.

    Final: ``c.subscription`` "active" on ``pro_price``, current_period_end = trial_end + 1 month
    (trial_end = start + 14 days), not cancelling.
    """
    j = _Journey(c, api_version, pro_price)
    trial_end = start + 14 * DAY
    p1 = add_interval(trial_end, n=1)
    in0, in1 = new_id("in"), new_id("in")
    events = [
        j.checkout(start, invoice=in0, payment_status="no_payment_required"),
        j.sub("customer.subscription.created", start, status="trialing", period=(start, trial_end),
              trial_end=trial_end, latest_invoice=in0),
        *j.invoices(("invoice.paid",), start, in0, (start, trial_end), amount=0,
                    billing_reason="subscription_create"),
        j.sub("customer.subscription.updated", trial_end, period=(trial_end, p1), trial_end=trial_end,
              latest_invoice=in1, automatic=True,
              prev={"status": "trialing", **j.period_prev(j.pro, (start, trial_end), latest_invoice=in0)}),
        *j.invoices(("invoice.paid",), trial_end + 3600, in1, (trial_end, p1), created=trial_end,
                    lookback_start=start, automatic=True),
    ]
    return events, _expected(c.subscription, "active", pro_price, p1, False)


def lifecycle_resubscribe(c: Customer, *, pro_price: str, start: int, api_version: str = API_NEW) -> Scenario:
    """Subscribe, cancel immediately after 5 days, then re-subscribe 20 days after start with a NEW subscription id.

    Final (deciding subscription = the second one, ``expected["subscription_id"]``): "active" on ``pro_price``,
    current_period_end = (start + 20 days) + 1 month, not cancelling.
    """
    j = _Journey(c, api_version, pro_price)
    p1 = add_interval(start, n=1)
    deleted, again = start + 5 * DAY, start + 20 * DAY
    again_end = add_interval(again, n=1)
    in1, in2 = new_id("in"), new_id("in")
    second = _Journey(Customer(c.email, c.external_id, c.customer, new_id("sub"), _checkout_session_id()),
                      api_version, pro_price)
    events = [
        j.checkout(start, invoice=in1),
        j.sub("customer.subscription.created", start, period=(start, p1), latest_invoice=in1),
        *j.invoices(("invoice.paid",), start, in1, (start, p1), billing_reason="subscription_create"),
        j.sub("customer.subscription.deleted", deleted, status="canceled", period=(start, p1), latest_invoice=in1,
              canceled_at=deleted),
        second.checkout(again, invoice=in2),
        second.sub("customer.subscription.created", again, period=(again, again_end), latest_invoice=in2),
        *second.invoices(("invoice.paid",), again, in2, (again, again_end), billing_reason="subscription_create"),
    ]
    return events, _expected(second.c.subscription, "active", pro_price, again_end, False)


@dataclass
class Lifecycle:
    """A named scenario, for the CLI: ``Lifecycle("full", c, pro_price=..., business_price=...).build()``."""

    SCENARIOS: ClassVar[dict[str, Callable[..., Scenario]]] = {
        "full": lifecycle_full, "past_due": lifecycle_past_due,
        "trial": lifecycle_trial, "resubscribe": lifecycle_resubscribe,
    }

    name: str
    customer: Customer
    pro_price: str
    business_price: str | None = None
    start: int | None = None
    api_version: str = API_NEW

    def build(self) -> Scenario:
        fn = self.SCENARIOS[self.name]
        kwargs: Json = {"pro_price": self.pro_price, "api_version": self.api_version,
                        "start": self.start if self.start is not None else _now() - 90 * DAY}
        if fn is lifecycle_full:
            kwargs["business_price"] = self.business_price or new_id("price")
        return fn(self.customer, **kwargs)


class _Journey:
    """Event factory bound to one customer/subscription, keeping item and price ids stable across events."""

    def __init__(self, c: Customer, api_version: str, pro_price: str, business_price: str | None = None) -> None:
        self.c, self.api = c, api_version
        self.item = new_id("si")
        self.created = 0  # set by the customer.subscription.created event
        self.pro = price(price_id=pro_price, lookup_key="pro_monthly", metadata={"tier": "pro"}, unit_amount=1900)
        self.business = price(price_id=business_price or new_id("price"), lookup_key="business_monthly",
                              metadata={"tier": "business"}, unit_amount=4900)

    def checkout(self, at: int, *, invoice: str, payment_status: str = "paid") -> Json:
        # The session was opened a minute or two before it completed; the event is stamped at completion.
        session = checkout_session(customer=self.c.customer, subscription=self.c.subscription, email=self.c.email,
                                   client_reference_id=self.c.external_id, tier="pro", session_id=self.c.session,
                                   created=at - 95, invoice=invoice, payment_status=payment_status,
                                   amount_total=self.pro["unit_amount"])
        return event("checkout.session.completed", session, created=at, api_version=self.api)

    def sub_obj(self, *, p: Json, period: tuple[int, int], **kw: Any) -> Json:
        return subscription(customer=self.c.customer, sub_id=self.c.subscription, item_id=self.item,
                            price_id=p["id"], lookup_key=p["lookup_key"], price_metadata=p["metadata"],
                            unit_amount=p["unit_amount"], period_start=period[0], period_end=period[1],
                            api_version=self.api, created=self.created, **kw)

    def sub(self, type_: str, at: int, *, p: Json | None = None, prev: Json | None = None,
            automatic: bool = False, **kw: Any) -> Json:
        if type_ == "customer.subscription.created":
            self.created = at
        obj = self.sub_obj(p=p or self.pro, **kw)
        return event(type_, obj, created=at, api_version=self.api, previous_attributes=prev, automatic=automatic)

    def invoices(self, types: tuple[str, ...], at: int, invoice_id: str, period: tuple[int, int], *,
                 p: Json | None = None, automatic: bool = False, **kw: Any) -> list[Json]:
        p = p or self.pro
        kw.setdefault("amount", p["unit_amount"])
        inv = invoice(customer=self.c.customer, subscription=self.c.subscription, price_id=p["id"],
                      period_start=period[0], period_end=period[1], api_version=self.api, invoice_id=invoice_id,
                      customer_email=self.c.email, subscription_item=self.item,
                      prices={x["id"]: x for x in (self.pro, self.business)}, **kw)
        return [event(t, inv, created=at, api_version=self.api, automatic=automatic) for t in types]

    def price_change_prev(self, old: Json, period: tuple[int, int]) -> Json:
        old_sub = self.sub_obj(p=old, period=period)
        prev: Json = {"items": old_sub["items"]}
        if not _is_new(self.api):
            prev["plan"] = old_sub["plan"]
        return prev

    def period_prev(self, current: Json, period: tuple[int, int], *, latest_invoice: str) -> Json:
        # basil reports a period roll as a change of `items` (the period lives on the item now).
        if _is_new(self.api):
            return {"items": self.sub_obj(p=current, period=period)["items"], "latest_invoice": latest_invoice}
        return {"current_period_end": period[1], "current_period_start": period[0], "latest_invoice": latest_invoice}


# --- helpers -------------------------------------------------------------------------------------------------


def _is_new(api_version: str) -> bool:
    return api_version[:10] >= API_NEW[:10]


def _now() -> int:
    return int(time.time())


def _rand(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def _derived(seed: str, n: int) -> str:
    digest = hashlib.sha256(seed.encode()).digest() * 4
    return "".join(_ALNUM[b % len(_ALNUM)] for b in digest[:n])


def _derived_id(prefix: str, seed: str) -> str:
    return f"{prefix}_{_derived(prefix + seed, 14)}"


def _checkout_session_id() -> str:
    return f"cs_test_a1{_rand(56)}"


def _ordered(obj: Json) -> Json:
    """Stripe serialises ``id`` and ``object`` first, then the remaining keys alphabetically."""
    head = {k: obj[k] for k in ("id", "object") if k in obj}
    return head | {k: obj[k] for k in sorted(obj) if k not in head}


def _list(data: list[Json], url: str) -> Json:
    return {"object": "list", "data": data, "has_more": False, "total_count": len(data), "url": url}


def _plan(p: Json) -> Json:
    """The legacy Plan mirror Stripe still embeds next to ``price``."""
    return {"id": p["id"], "object": "plan", "active": True, "amount": p["unit_amount"],
            "amount_decimal": p["unit_amount_decimal"], "billing_scheme": "per_unit", "created": p["created"],
            "currency": p["currency"], "interval": p["recurring"]["interval"], "interval_count": 1,
            "livemode": False, "metadata": dict(p["metadata"]), "meter": None, "nickname": None,
            "product": p["product"], "tiers_mode": None, "transform_usage": None, "trial_period_days": None,
            "usage_type": "licensed"}


def _sub_item(sub_id: str, p: Json, item_id: str, created: int, start: int, end: int, new: bool) -> Json:
    item: Json = {"id": item_id, "object": "subscription_item", "billing_thresholds": None, "created": created,
                  "discounts": [], "metadata": {}, "plan": _plan(p), "price": p, "quantity": 1,
                  "subscription": sub_id, "tax_rates": []}
    if new:
        item.update(current_period_start=start, current_period_end=end)
    return _ordered(item)


def _line(invoice_id: str, sub_id: str, si: str, p: Json, amount: int, start: int, end: int, new: bool, *,
          proration: bool, description: str | None = None) -> Json:
    name = str(p["metadata"].get("tier") or p["lookup_key"] or "Plan").split("_")[0].title()
    if description is None:
        when = datetime.fromtimestamp(start, UTC).strftime("%d %b %Y")
        description = (f"{'Remaining' if amount >= 0 else 'Unused'} time on 1 {_TIMES} {name} after {when}" if proration
                       else f"1 {_TIMES} {name} (at ${p['unit_amount'] / 100:.2f} / {p['recurring']['interval']})")
    invoice_item = new_id("ii") if proration else None
    line: Json = {"id": new_id("il"), "object": "line_item", "amount": amount, "currency": "usd",
                  "description": description, "discount_amounts": [], "discountable": not proration,
                  "discounts": [], "invoice": invoice_id, "livemode": False, "metadata": {},
                  "period": {"end": end, "start": start}, "quantity": 1}
    if new:
        line.update(
            parent={"invoice_item_details": None,
                    "subscription_item_details": {"invoice_item": invoice_item, "proration": proration,
                                                  "proration_details": {"credited_items": None},
                                                  "subscription": sub_id, "subscription_item": si},
                    "type": "subscription_item_details"},
            pretax_credit_amounts=[], taxes=[],
            pricing={"price_details": {"price": p["id"], "product": p["product"]}, "type": "price_details",
                     "unit_amount_decimal": str(abs(amount))})
    else:
        line.update(amount_excluding_tax=amount, invoice_item=invoice_item, plan=_plan(p), price=p,
                    proration=proration, proration_details={"credited_items": None}, subscription=sub_id,
                    subscription_item=si, tax_amounts=[], tax_rates=[],
                    type="invoiceitem" if proration else "subscription", unit_amount_excluding_tax=str(abs(amount)))
    return _ordered(line)


def _expected(sub_id: str, status: str, price_id: str, period_end: int, cancel_at_period_end: bool) -> Expected:
    return {"subscription_id": sub_id, "status": status, "price_id": price_id,
            "current_period_end": period_end, "cancel_at_period_end": cancel_at_period_end}
