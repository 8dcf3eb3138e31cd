"""One customer's subscription told as events: the ids it keeps, and the factory of its events.

Every event that has to agree with others about one customer (a test lifecycle, one event of
`flask stripe simulate`, the stories of `flask seed demo`) is built by a Journey, so that the
customer, the subscription, its item and the Checkout Session keep one id across events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from subsvc.simulate.checkout import checkout_session
from subsvc.simulate.customers import customer
from subsvc.simulate.envelope import event
from subsvc.simulate.ids import (
    API_NEW,
    add_interval,
    checkout_session_id,
    derived_id,
    is_legacy_api,
    is_new_api,
    new_id,
)
from subsvc.simulate.invoices import invoice
from subsvc.simulate.shapes import Json
from subsvc.simulate.subscriptions import subscription

# The status a subscription has in an event of each type, unless told otherwise.
SUBSCRIPTION_STATUS = {
    "customer.subscription.created": "active",
    "customer.subscription.updated": "active",
    "customer.subscription.deleted": "canceled",
    "customer.subscription.paused": "paused",
    "customer.subscription.resumed": "active",
}
# Id prefixes Stripe uses for the objects of some event types subsvc does not handle.
_OBJECT_PREFIXES = {"customer": "cus", "payment_intent": "pi", "charge": "ch", "product": "prod",
                    "price": "price", "setup_intent": "seti", "payment_method": "pm"}


@dataclass(frozen=True)
class Customer:
    """The ids of one customer and the subscription it checks out."""

    email: str
    external_id: str | None
    customer: str
    subscription: str
    session: str

    @classmethod
    def make(cls, n: int | str, *, accounts_v2: bool = False) -> Customer:
        """Customer number ``n``, with random ids.

        ``accounts_v2``: the customer is an Account (``acct_…``), named by ``customer_account``.
        """
        return cls(email=f"user{n}@example.com", external_id=f"user_{n}",
                   customer=new_id("acct" if accounts_v2 else "cus"),
                   subscription=new_id("sub"), session=checkout_session_id())

    @classmethod
    def from_email(cls, email: str, *, customer: str | None = None,
                   subscription: str | None = None, external_id: str | None = None) -> Customer:
        """The customer with this email, ids derived from it unless given.

        Derived ids are the same in every process, so that separate commands about one email
        tell one coherent story.
        """
        email = email.strip().lower()
        subscription = subscription or derived_id("sub", email, 24)
        return cls(email=email, external_id=external_id,
                   customer=customer or derived_id("cus", email), subscription=subscription,
                   session="cs_test_a1" + derived_id("cs", subscription, 56)[3:])


class Journey:
    """The events of one customer's subscription, on one API version.

    ``plan`` is the Price subscribed to unless an event names another; ``prices`` are the
    others the journey may bill (invoice lines render them in full). ``tier`` is what the
    integration writes in the Checkout Session's metadata. ``created`` is when the subscription
    was created; unset, each subscription object says its own period began then.
    """

    def __init__(self, c: Customer, api_version: str = API_NEW, *, plan: Json,
                 prices: Sequence[Json] = (), tier: str | None = None,
                 created: int | None = None) -> None:
        self.c, self.api, self.plan, self.tier, self.created = c, api_version, plan, tier, created
        self.prices = {p["id"]: p for p in (plan, *prices)}
        self.item = derived_id("si", c.subscription)

    def checkout(self, at: int, *, event_id: str | None = None, **session: Any) -> Json:
        """``checkout.session.completed`` at ``at``; ``session`` overrides fields of the session."""
        return event("checkout.session.completed", self._session(at, **session), created=at,
                     event_id=event_id, api_version=self.api)

    def subscription_event(self, type_: str, at: int, *, period: tuple[int, int],
                           price: Json | None = None, prev: Json | None = None,
                           automatic: bool = False, event_id: str | None = None,
                           **fields: Any) -> Json:
        """A ``customer.subscription.*`` event at ``at``; ``fields`` go to the subscription.

        ``prev`` is the event's ``previous_attributes``; ``automatic`` marks what Stripe did of
        itself (a renewal, a dunning step).
        """
        obj = self._subscription(price or self.plan, period, **fields)
        return event(type_, obj, created=at, event_id=event_id, api_version=self.api,
                     previous_attributes=prev, automatic=automatic)

    def invoice_events(self, types: Sequence[str], at: int, invoice_id: str | None,
                       period: tuple[int, int], *, price: Json | None = None,
                       automatic: bool = False, **fields: Any) -> list[Json]:
        """One invoice, as an event of each of ``types`` at ``at``; ``fields`` go to the invoice.

        It is paid unless one of ``types`` is ``invoice.payment_failed``, and created at ``at``,
        unless ``fields`` say otherwise.
        """
        obj = self._invoice(types, at, invoice_id, period, price or self.plan, **fields)
        return [event(t, obj, created=at, api_version=self.api, automatic=automatic)
                for t in types]

    def invoice_event(self, type_: str, at: int, *, period: tuple[int, int],
                      invoice_id: str | None = None, price: Json | None = None,
                      automatic: bool = False, event_id: str | None = None,
                      **fields: Any) -> Json:
        """One event about a fresh invoice (unless ``invoice_id`` names one); see invoice_events."""
        obj = self._invoice((type_,), at, invoice_id, period, price or self.plan, **fields)
        return event(type_, obj, created=at, event_id=event_id, api_version=self.api,
                     automatic=automatic)

    def event(self, type_: str, at: int, *, status: str | None = None,
              event_id: str | None = None, billing_reason: str = "subscription_cycle") -> Json:
        """An event of any type about the journey at ``at``, for a period that starts then.

        ``status`` overrides the subscription's status in ``customer.subscription.*`` events.
        Types subsvc does not handle get a plausible object, which it answers ``ignored``.
        """
        period = (at, add_interval(at))
        if type_.startswith("checkout.session."):
            obj = self._session(at, invoice=new_id("in"))
        elif type_.startswith("customer.subscription."):
            status = status or SUBSCRIPTION_STATUS.get(type_, "active")
            ended = at if status == "canceled" else None
            obj = self._subscription(self.plan, period, status=status, canceled_at=ended,
                                     ended_at=ended, paused_at=at if status == "paused" else None)
        elif type_.startswith("invoice."):
            obj = self._invoice((type_,), at, None, period, self.plan,
                                billing_reason=billing_reason)
        else:
            obj = self._other_object(type_, at)
        return event(type_, obj, created=at, event_id=event_id, api_version=self.api)

    def price_change_prev(self, old: Json, period: tuple[int, int]) -> Json:
        """The ``previous_attributes`` of a change from Price ``old``, in this API's shape."""
        old_sub = self._subscription(old, period)
        if is_legacy_api(self.api):
            return {"plan": old_sub["plan"]}
        prev: Json = {"items": old_sub["items"]}
        if not is_new_api(self.api):
            prev["plan"] = old_sub["plan"]
        return prev

    def period_prev(self, current: Json, period: tuple[int, int], *, latest_invoice: str) -> Json:
        """The ``previous_attributes`` of a period roll from ``period``.

        basil reports it as a change of ``items``: the period lives on the item there.
        """
        if is_new_api(self.api):
            return {"items": self._subscription(current, period)["items"],
                    "latest_invoice": latest_invoice}
        return {"current_period_end": period[1], "current_period_start": period[0],
                "latest_invoice": latest_invoice}

    def _subscription(self, p: Json, period: tuple[int, int], **fields: Any) -> Json:
        base: Json = {"customer": self.c.customer, "sub_id": self.c.subscription,
                      "item_id": self.item, "price_id": p["id"], "lookup_key": p["lookup_key"],
                      "price_metadata": p["metadata"], "unit_amount": p["unit_amount"],
                      "period_start": period[0], "period_end": period[1],
                      "api_version": self.api, "created": self.created}
        return subscription(**(base | fields))

    def _session(self, at: int, **fields: Any) -> Json:
        # Opened a minute or two before it completed; the event is stamped at completion.
        base: Json = {"customer": self.c.customer, "subscription": self.c.subscription,
                      "email": self.c.email, "client_reference_id": self.c.external_id,
                      "tier": self.tier, "session_id": self.c.session, "created": at - 95,
                      "amount_total": self.plan["unit_amount"], "api_version": self.api}
        return checkout_session(**(base | fields))

    def _invoice(self, types: Sequence[str], at: int, invoice_id: str | None,
                 period: tuple[int, int], p: Json, **fields: Any) -> Json:
        base: Json = {"customer": self.c.customer, "subscription": self.c.subscription,
                      "price_id": p["id"], "period_start": period[0], "period_end": period[1],
                      "paid": "invoice.payment_failed" not in types, "created": at,
                      "amount": p["unit_amount"], "api_version": self.api,
                      "invoice_id": invoice_id, "customer_email": self.c.email,
                      "subscription_item": self.item, "prices": self.prices}
        return invoice(**(base | fields))

    def _other_object(self, type_: str, at: int) -> Json:
        noun = type_.rsplit(".", 1)[0] if "." in type_ else type_
        if noun == "customer":
            return customer(customer=self.c.customer, email=self.c.email, created=at,
                            api_version=self.api)
        prefix = _OBJECT_PREFIXES.get(noun, noun.split(".")[-1])
        return {"id": new_id(prefix), "object": noun.split(".")[-1], "created": at,
                "livemode": False, "customer": self.c.customer, "metadata": {}}
