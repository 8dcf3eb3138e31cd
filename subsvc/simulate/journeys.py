"""One customer's journey through subsvc.simulate: its ids, and an event factory that keeps them stable.

The lifecycles (lifecycles.py) are written as a sequence of Journey calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .checkout import checkout_session
from .events import event
from .ids import checkout_session_id, is_legacy_api, is_new_api, new_id
from .invoices import invoice
from .prices import price
from .shapes import Json
from .subscriptions import subscription

Expected = dict[str, Any]
Scenario = tuple[list[Json], Expected]


@dataclass(frozen=True)
class Customer:
    """Ids for one customer journey."""

    email: str
    external_id: str
    customer: str
    subscription: str
    session: str

    @classmethod
    def make(cls, n: int | str, *, accounts_v2: bool = False) -> Customer:
        """``accounts_v2``: the customer is an Account (``acct_…``), named by ``customer_account``."""
        return cls(email=f"user{n}@example.com", external_id=f"user_{n}",
                   customer=new_id("acct" if accounts_v2 else "cus"),
                   subscription=new_id("sub"), session=checkout_session_id())


def expected(sub_id: str, status: str, price_id: str, period_end: int, cancel_at_period_end: bool,
             cancel_at: int | None = None) -> Expected:
    """The final subscription values a lifecycle promises."""
    return {"subscription_id": sub_id, "status": status, "price_id": price_id,
            "current_period_end": period_end, "cancel_at_period_end": cancel_at_period_end,
            "cancel_at": cancel_at}


class Journey:
    """Event factory bound to one customer/subscription, keeping item and price ids stable across events."""

    def __init__(self, c: Customer, api_version: str, pro_price: str, business_price: str | None = None) -> None:
        self.c, self.api = c, api_version
        self.item = new_id("si")
        self.created = 0  # set by the customer.subscription.created event
        self.pro = price(price_id=pro_price, lookup_key="pro_monthly", metadata={"tier": "pro"}, unit_amount=1900)
        self.business = price(price_id=business_price or new_id("price"), lookup_key="business_monthly",
                              metadata={"tier": "business"}, unit_amount=4900)
        # A yearly add-on beside the monthly plan (flexible billing); it buys no tier.
        self.addon = price(price_id=new_id("price"), lookup_key="support_yearly", unit_amount=9900,
                           interval="year")

    def checkout(self, at: int, *, invoice: str, payment_status: str = "paid") -> Json:
        # The session was opened a minute or two before it completed; the event is stamped at completion.
        session = checkout_session(customer=self.c.customer, subscription=self.c.subscription, email=self.c.email,
                                   client_reference_id=self.c.external_id, tier="pro", session_id=self.c.session,
                                   created=at - 95, invoice=invoice, payment_status=payment_status,
                                   amount_total=self.pro["unit_amount"], api_version=self.api)
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
                      prices={x["id"]: x for x in (self.pro, self.business, self.addon)}, **kw)
        return [event(t, inv, created=at, api_version=self.api, automatic=automatic) for t in types]

    def price_change_prev(self, old: Json, period: tuple[int, int]) -> Json:
        old_sub = self.sub_obj(p=old, period=period)
        if is_legacy_api(self.api):
            return {"plan": old_sub["plan"]}
        prev: Json = {"items": old_sub["items"]}
        if not is_new_api(self.api):
            prev["plan"] = old_sub["plan"]
        return prev

    def period_prev(self, current: Json, period: tuple[int, int], *, latest_invoice: str) -> Json:
        # basil reports a period roll as a change of `items` (the period lives on the item now).
        if is_new_api(self.api):
            return {"items": self.sub_obj(p=current, period=period)["items"], "latest_invoice": latest_invoice}
        return {"current_period_end": period[1], "current_period_start": period[0], "latest_invoice": latest_invoice}
