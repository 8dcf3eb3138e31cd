"""Simulated Prices, and the legacy Plan mirror Stripe embeds beside them.

Subscription items and invoice lines carry both until the Plan disappears (legacy: only it).
"""

from __future__ import annotations

from collections.abc import Sequence

from subsvc.simulate.ids import derived_id, new_id
from subsvc.simulate.shapes import Json, ordered


def price(*, price_id: str | None = None, lookup_key: str | None = None,
          metadata: Json | None = None, unit_amount: int = 1900, interval: str = "month") -> Json:
    """A recurring Price; its product id is derived from the price id so repeated builds agree."""
    price_id = price_id or new_id("price")
    return ordered({
        "id": price_id, "object": "price", "active": True, "billing_scheme": "per_unit",
        "created": 1_700_000_000, "currency": "usd", "custom_unit_amount": None,
        "livemode": False, "lookup_key": lookup_key, "metadata": dict(metadata or {}),
        "nickname": None, "product": derived_id("prod", price_id),
        "recurring": {"interval": interval, "interval_count": 1, "meter": None,
                      "trial_period_days": None, "usage_type": "licensed"},
        "tax_behavior": "unspecified", "tiers_mode": None, "transform_quantity": None,
        "type": "recurring", "unit_amount": unit_amount, "unit_amount_decimal": str(unit_amount),
    })


def tier_price(tier: str, prices: Sequence[str]) -> Json:
    """A Price that buys ``tier``: the first of its ``prices`` (an id or a lookup key).

    It also names the tier in its metadata, as a Price an integration made for a tier would.
    """
    first = prices[0] if prices else None
    if first and first.startswith("price_"):
        return price(price_id=first, metadata={"tier": tier})
    return price(price_id=derived_id("price", f"{tier}:{first}", 24), lookup_key=first,
                 metadata={"tier": tier})


def plan(p: Json) -> Json:
    """The legacy Plan mirror of Price ``p``."""
    return {"id": p["id"], "object": "plan", "active": True, "amount": p["unit_amount"],
            "amount_decimal": p["unit_amount_decimal"], "billing_scheme": "per_unit",
            "created": p["created"], "currency": p["currency"],
            "interval": p["recurring"]["interval"], "interval_count": 1, "livemode": False,
            "metadata": dict(p["metadata"]), "meter": None, "nickname": None,
            "product": p["product"], "tiers_mode": None, "transform_usage": None,
            "trial_period_days": None, "usage_type": "licensed"}
