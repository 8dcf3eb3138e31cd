"""Simulated invoice line items: proration lines first, as Stripe lists them, then the plan.

Before basil a line names its price and subscription directly; from basil on they sit under
``parent`` and ``pricing``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import UTC, datetime

from subsvc.simulate.ids import new_id
from subsvc.simulate.prices import plan, price
from subsvc.simulate.shapes import Json, ordered

# Stripe line descriptions use the multiplication sign: "1 \u00d7 Pro (at $19.00 / month)".
_TIMES = "\u00d7"


def invoice_lines(invoice_id: str, sub_id: str, si: str, *, price_id: str, amount: int,
                  period: tuple[int, int], proration_lines: Sequence[Json],
                  prices: dict[str, Json], interval: str, new: bool, legacy: bool = False,
                  extra_lines: Sequence[Json] = ()) -> list[Json]:
    """The lines of one subscription invoice; ``prices`` are full Price objects to render by id.

    Legacy lines (before Prices) name only their ``plan``.
    """
    def price_obj(pid: str, unit_amount: int) -> Json:
        known = prices.get(pid)
        if known:
            return copy.deepcopy(known)
        return price(price_id=pid, unit_amount=unit_amount, interval=interval)

    lines = [_line(invoice_id, sub_id, p.get("subscription_item", si),
                   price_obj(p["price_id"], abs(p["amount"])), p["amount"], p["start"], p["end"],
                   new, proration=True, description=p.get("description"))
             for p in proration_lines]
    lines.append(_line(invoice_id, sub_id, si, price_obj(price_id, amount), amount, *period, new,
                       proration=False))
    lines += [_line(invoice_id, sub_id, x.get("subscription_item", si),
                    price_obj(x["price_id"], x["amount"]), x["amount"], x["start"], x["end"], new,
                    proration=False)
              for x in extra_lines]
    if legacy:
        for line in lines:
            for key in ("price", "subscription_item", "invoice_item", "proration_details",
                        "amount_excluding_tax", "unit_amount_excluding_tax"):
                line.pop(key, None)
    return lines


def _line(invoice_id: str, sub_id: str, si: str, p: Json, amount: int, start: int, end: int,
          new: bool, *, proration: bool, description: str | None = None) -> Json:
    if description is None:
        description = _description(p, amount, start, proration)
    invoice_item = new_id("ii") if proration else None
    line: Json = {"id": new_id("il"), "object": "line_item", "amount": amount, "currency": "usd",
                  "description": description, "discount_amounts": [], "discountable": not proration,
                  "discounts": [], "invoice": invoice_id, "livemode": False, "metadata": {},
                  "period": {"end": end, "start": start}, "quantity": 1}
    if new:
        line.update(_basil_fields(sub_id, si, p, amount, proration, invoice_item))
    else:
        line.update(amount_excluding_tax=amount, invoice_item=invoice_item, plan=plan(p), price=p,
                    proration=proration, proration_details={"credited_items": None},
                    subscription=sub_id, subscription_item=si, tax_amounts=[], tax_rates=[],
                    type="invoiceitem" if proration else "subscription",
                    unit_amount_excluding_tax=str(abs(amount)))
    return ordered(line)


def _description(p: Json, amount: int, start: int, proration: bool) -> str:
    name = str(p["metadata"].get("tier") or p["lookup_key"] or "Plan").split("_")[0].title()
    if proration:
        when = datetime.fromtimestamp(start, UTC).strftime("%d %b %Y")
        return f"{'Remaining' if amount >= 0 else 'Unused'} time on 1 {_TIMES} {name} after {when}"
    return f"1 {_TIMES} {name} (at ${p['unit_amount'] / 100:.2f} / {p['recurring']['interval']})"


def _basil_fields(sub_id: str, si: str, p: Json, amount: int, proration: bool,
                  invoice_item: str | None) -> Json:
    return {
        "parent": {"invoice_item_details": None,
                   "subscription_item_details": {
                       "invoice_item": invoice_item, "proration": proration,
                       "proration_details": {"credited_items": None}, "subscription": sub_id,
                       "subscription_item": si},
                   "type": "subscription_item_details"},
        "pretax_credit_amounts": [], "taxes": [],
        "pricing": {"price_details": {"price": p["id"], "product": p["product"]},
                    "type": "price_details", "unit_amount_decimal": str(abs(amount))},
    }
