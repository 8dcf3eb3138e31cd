"""Simulated Subscriptions, in the shape of each API family (ids.py).

The billing period sits on the subscription before basil (2025-03-31) and on every item from
basil on; the legacy family has no items at all, only the subscription's own ``plan``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from subsvc.simulate.ids import (
    API_NEW,
    derived_id,
    is_endive_api,
    is_legacy_api,
    is_new_api,
    new_id,
)
from subsvc.simulate.prices import plan, price
from subsvc.simulate.shapes import NO_AUTOMATIC_TAX, Json, customer_fields, ordered, stripe_list

# What never varies between our subscriptions; deep-copied per build, so callers may mutate it.
_SUB_FIXED: Json = dict.fromkeys((
    "application", "application_fee_percent", "billing_cycle_anchor_config", "billing_thresholds",
    "days_until_due", "default_source", "description", "next_pending_invoice_item_invoice",
    "on_behalf_of", "pause_collection", "pending_invoice_item_interval", "pending_setup_intent",
    "pending_update", "schedule", "test_clock", "transfer_data",
)) | {
    "object": "subscription",
    "automatic_tax": NO_AUTOMATIC_TAX,
    "collection_method": "charge_automatically",
    "currency": "usd",
    "default_tax_rates": [],
    "discounts": [],
    "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
    "livemode": False,
    "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                         "save_default_payment_method": "off"},
    "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
}


def subscription(*, customer: str, price_id: str | None = None, sub_id: str | None = None,
                 status: str = "active", period_start: int, period_end: int,
                 cancel_at_period_end: bool = False, cancel_at: int | None = None,
                 canceled_at: int | None = None, api_version: str = API_NEW,
                 lookup_key: str | None = None, price_metadata: Json | None = None,
                 created: int | None = None, trial_end: int | None = None,
                 extra_prices: Sequence[Json] = (), item_id: str | None = None,
                 unit_amount: int = 1900, interval: str = "month",
                 latest_invoice: str | None = None, ended_at: int | None = None,
                 metadata: Json | None = None, extra_periods: Sequence[tuple[int, int]] = (),
                 paused_at: int | None = None, pause_reason: str = "pause_requested") -> Json:
    """A Subscription; the billing period sits on the subscription (old) or on every item (basil).

    ``extra_periods`` gives the extra items periods of their own (mixed intervals, flexible
    billing); ``paused_at`` is when a ``paused`` subscription paused (endive's
    ``status_details``).
    """
    new, legacy = is_new_api(api_version), is_legacy_api(api_version)
    endive = is_endive_api(api_version)
    sub_id = sub_id or new_id("sub")
    created = created if created is not None else period_start
    main = price(price_id=price_id, lookup_key=lookup_key, metadata=price_metadata,
                 unit_amount=unit_amount, interval=interval)
    items = [_item(sub_id, main, item_id or new_id("si"), created, period_start, period_end, new)]
    unset = len(extra_prices) - len(extra_periods)
    periods = [*extra_periods, *[(period_start, period_end)] * unset]
    items += [_item(sub_id, p, derived_id("si", f"{sub_id}:{p['id']}"), created, *period, new)
              for p, period in zip(extra_prices, periods, strict=True)]
    if ended_at is None and status == "canceled":
        ended_at = cancel_at or canceled_at or period_end
    reason = "cancellation_requested" if (canceled_at or cancel_at) else None
    items_url = f"/v1/subscription_items?subscription={sub_id}"
    sub: Json = copy.deepcopy(_SUB_FIXED) | {
        "id": sub_id, "billing_cycle_anchor": trial_end or created, "cancel_at": cancel_at,
        "cancel_at_period_end": cancel_at_period_end, "canceled_at": canceled_at,
        "cancellation_details": {"comment": None, "feedback": None, "reason": reason},
        "created": created, "default_payment_method": derived_id("pm", sub_id),
        "ended_at": ended_at, "items": stripe_list(items, items_url),
        "latest_invoice": latest_invoice, "metadata": dict(metadata or {}), "start_date": created,
        "status": status, "trial_end": trial_end, "trial_start": created if trial_end else None,
    } | customer_fields(customer, endive=endive)
    if not new:
        sub.update(current_period_start=period_start, current_period_end=period_end, discount=None)
        if len(items) == 1:  # legacy single-item mirrors
            sub.update(plan=items[0]["plan"], quantity=1)
    if legacy:
        # Before items: one plan, on the subscription itself.
        for key in ("items", "automatic_tax", "billing_cycle_anchor_config", "cancellation_details",
                    "default_payment_method", "discounts", "invoice_settings", "latest_invoice",
                    "payment_settings", "trial_settings", "test_clock"):
            sub.pop(key, None)
        sub.update(plan=plan(main), quantity=1, tax_percent=None)
    if endive:
        sub.update(billing_mode={"flexible": {"proration_discounts": "itemized"},
                                 "type": "flexible", "updated_at": created},
                   status_details=_status_details(status, paused_at or period_start, pause_reason))
    return ordered(sub)


def _status_details(status: str, paused_at: int, reason: str) -> Json | None:
    """When and why a subscription paused, as endive says: on demand, or after a final failure."""
    if status != "paused":
        return None
    return {"paused": {"subscription": {"type": reason}, "transitioned_at": paused_at,
                       "type": "subscription"}}


def _item(sub_id: str, p: Json, item_id: str, created: int, start: int, end: int,
          new: bool) -> Json:
    item: Json = {"id": item_id, "object": "subscription_item", "billing_thresholds": None,
                  "created": created, "discounts": [], "metadata": {}, "plan": plan(p), "price": p,
                  "quantity": 1, "subscription": sub_id, "tax_rates": []}
    if new:
        item.update(current_period_start=start, current_period_end=end)
    return ordered(item)
