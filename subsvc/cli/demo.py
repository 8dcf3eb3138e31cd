"""One customer's journey as realistic Stripe events (subsvc.simulate builders), for the CLI.

`flask stripe simulate` builds one event of it and POSTs it; `flask seed demo` feeds
a few whole journeys through the inbox. Ids derive from the email, so separate
commands about one email tell one coherent story.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from subsvc import simulate as sim
from subsvc.accounts.entitlement import Policy
from subsvc.accounts.tiers import all_tiers, require_tier
from subsvc.events import parse_event
from subsvc.extensions import db
from subsvc.inbox import Outcome, receive
from subsvc.models import Tier
from subsvc.simulate.ids import derived_id

Json = dict[str, Any]

# The shape families subsvc.simulate renders (simulate/ids.py), by a short name.
API_VERSIONS = {"legacy": sim.API_LEGACY, "old": sim.API_OLD, "new": sim.API_NEW,
                "endive": sim.API_ENDIVE}
SUBSCRIPTION_STATUS = {
    "customer.subscription.created": "active",
    "customer.subscription.updated": "active",
    "customer.subscription.deleted": "canceled",
    "customer.subscription.paused": "paused",
    "customer.subscription.resumed": "active",
}
# Id prefixes Stripe uses for the objects of some event types we do not handle.
_OBJECT_PREFIXES = {"customer": "cus", "payment_intent": "pi", "charge": "ch", "product": "prod",
                    "price": "price", "setup_intent": "seti", "payment_method": "pm"}


def tier_price(tier: Tier) -> Json:
    """A Price that buys `tier`: its first listed price id (or lookup key), plus metadata.tier."""
    first = tier.prices[0] if tier.prices else None
    if first and first.startswith("price_"):
        return sim.price(price_id=first, metadata={"tier": tier.name})
    return sim.price(price_id=derived_id("price", f"{tier.name}:{first}", 24), lookup_key=first,
                     metadata={"tier": tier.name})


@dataclass(frozen=True)
class Journey:
    email: str
    customer: str
    subscription: str
    price: Json
    tier: str | None = None  # what the integration puts in the Checkout Session's metadata
    external_id: str | None = None
    api_version: str = sim.API_NEW

    @property
    def item(self) -> str:
        return derived_id("si", self.subscription)

    @property
    def session(self) -> str:
        return "cs_test_a1" + derived_id("cs", self.subscription, 56)[3:]


def journey(email: str, price: Json, *, tier: str | None = None, customer: str | None = None,
            subscription: str | None = None, external_id: str | None = None,
            api_version: str = sim.API_NEW) -> Journey:
    email = email.strip().lower()
    return Journey(email=email, customer=customer or derived_id("cus", email),
                   subscription=subscription or derived_id("sub", email, 24), price=price, tier=tier,
                   external_id=external_id, api_version=api_version)


def build_event(type_: str, j: Journey, *, at: int, status: str | None = None,
                event_id: str | None = None, billing_reason: str = "subscription_cycle") -> Json:
    """An event of any type about the journey, created at `at`; its period starts then.

    `status` overrides the subscription status of customer.subscription.* events.
    Types subsvc does not handle get a plausible object and are answered `ignored`.
    """
    if type_.startswith("checkout.session."):
        obj = sim.checkout_session(customer=j.customer, subscription=j.subscription, email=j.email,
                                   client_reference_id=j.external_id, tier=j.tier, session_id=j.session,
                                   created=at - 95, invoice=sim.new_id("in"),
                                   amount_total=j.price["unit_amount"], api_version=j.api_version)
    elif type_.startswith("customer.subscription."):
        obj = _subscription(j, status or SUBSCRIPTION_STATUS.get(type_, "active"), at)
    elif type_.startswith("invoice."):
        obj = sim.invoice(customer=j.customer, subscription=j.subscription, price_id=j.price["id"],
                          period_start=at, period_end=sim.add_interval(at), created=at,
                          paid=type_ != "invoice.payment_failed", api_version=j.api_version,
                          customer_email=j.email, billing_reason=billing_reason,
                          subscription_item=j.item, prices={j.price["id"]: j.price},
                          amount=j.price["unit_amount"])
    else:
        obj = _other_object(type_, j, at)
    return sim.event(type_, obj, created=at, event_id=event_id, api_version=j.api_version)


def _subscription(j: Journey, status: str, at: int) -> Json:
    ended = at if status == "canceled" else None
    return sim.subscription(customer=j.customer, sub_id=j.subscription, item_id=j.item,
                            price_id=j.price["id"], lookup_key=j.price["lookup_key"],
                            price_metadata=j.price["metadata"], unit_amount=j.price["unit_amount"],
                            status=status, period_start=at, period_end=sim.add_interval(at),
                            canceled_at=ended, ended_at=ended, api_version=j.api_version,
                            paused_at=at if status == "paused" else None)


def _other_object(type_: str, j: Journey, at: int) -> Json:
    noun = type_.rsplit(".", 1)[0] if "." in type_ else type_
    if noun == "customer":
        return sim.customer(customer=j.customer, email=j.email, created=at,
                            api_version=j.api_version)
    prefix = _OBJECT_PREFIXES.get(noun, noun.split(".")[-1])
    return {"id": sim.new_id(prefix), "object": noun.split(".")[-1], "created": at, "livemode": False,
            "customer": j.customer, "metadata": {}}


# --- `flask seed demo` -----------------------------------------------------------


@dataclass(frozen=True)
class DemoUser:
    email: str
    external_id: str
    tier: str
    ends: str  # how the journey ends: active, past_due or canceled


DEMO_USERS = (
    DemoUser("ada@example.com", "user_ada", "pro", "active"),
    DemoUser("grace@example.com", "user_grace", "business", "past_due"),
    DemoUser("linus@example.com", "user_linus", "pro", "canceled"),
)


def demo_events(user: DemoUser, tier: Tier, now: int) -> list[Json]:
    """Subscribe 40 days ago, then renew, fail the renewal or cancel about 10 days ago."""
    j = journey(user.email, tier_price(tier), tier=tier.name, external_id=user.external_id)
    start = now - 40 * sim.DAY
    renewal = sim.add_interval(start) + 3600
    steps: list[tuple[str, int, dict[str, Any]]] = [
        ("checkout.session.completed", start, {}),
        ("customer.subscription.created", start, {}),
        ("invoice.paid", start, {"billing_reason": "subscription_create"}),
    ]
    if user.ends == "past_due":
        steps += [("invoice.payment_failed", renewal, {}),
                  ("customer.subscription.updated", renewal + 1, {"status": "past_due"})]
    elif user.ends == "canceled":
        steps += [("customer.subscription.deleted", renewal, {})]
    else:
        steps += [("invoice.paid", renewal, {}), ("customer.subscription.updated", renewal + 1, {})]
    # Fixed ids make a second run a series of duplicates, which change nothing.
    return [build_event(type_, j, at=at, event_id=derived_id("evt", f"demo:{user.email}:{n}", 24), **kw)
            for n, (type_, at, kw) in enumerate(steps)]


def feed_demo(policy: Policy, now: int) -> dict[Outcome, int]:
    """Deliver every demo event to the inbox, as the webhook would; counts by outcome.

    Raises UnknownTier when a demo tier is missing and ProcessingFailed as receive() does.
    """
    tiers = all_tiers(db.session)
    journeys = [demo_events(user, require_tier(tiers, user.tier), now) for user in DEMO_USERS]
    counts = dict.fromkeys(Outcome, 0)
    for event in (event for events in journeys for event in events):
        counts[receive(parse_event(sim.dumps(event)), policy)] += 1
    return counts
