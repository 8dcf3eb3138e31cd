"""customer.subscription.created / updated / deleted / paused / resumed: the authoritative word."""
from __future__ import annotations

from subsvc.accounts.entitlement import Policy
from subsvc.accounts.onboarding import onboard_if_due
from subsvc.accounts.ordering import Source
from subsvc.accounts.subscriptions import (
    Stamp, apply_details, apply_period_end, apply_status, get_or_create_subscription,
    outranks_details,
)
from subsvc.accounts.tiers import NoPrice, all_tiers, tier_for_prices
from subsvc.events import (
    JsonDict, StripeEvent, as_epoch, subscription_period_end, subscription_prices,
)
from subsvc.extensions import db
from subsvc.handlers.registry import handles
from subsvc.models import Subscription
from subsvc.models.base import from_epoch


@handles("customer.subscription.created", "customer.subscription.updated",
         "customer.subscription.deleted", "customer.subscription.paused",
         "customer.subscription.resumed",
         when=lambda obj: isinstance(obj.get("id"), str) and isinstance(obj.get("status"), str))
def on_customer_subscription_changed(event: StripeEvent, policy: Policy) -> None:
    obj, session = event.object, db.session
    sub = get_or_create_subscription(session, obj["id"], customer_id=event.customer_id)
    status = obj["status"]
    stamp = Stamp(event.id, event.created, Source.SUBSCRIPTION)
    prices = subscription_prices(obj)
    if not prices:
        # A shape we do not read (every version names the price: on its items,
        # or as the legacy `plan`); failing whatever the event's rank keeps
        # the outcome independent of arrival order.
        raise NoPrice(obj["id"])
    # Resolve the tier only for an event that will win: a stale event with a
    # since-retired price must not fail. Resolve before changing anything, so
    # the tier query does not flush a half-applied row.
    if outranks_details(sub, status, stamp):
        price_id, tier = price_and_tier(sub, prices)
        apply_details(
            sub, status, stamp, price_id=price_id, tier=tier,
            cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
            cancel_at=from_epoch(as_epoch(obj.get("cancel_at"))),
        )
    apply_status(sub, status, stamp)
    apply_period_end(sub, subscription_period_end(obj))
    if sub.stripe_customer_id is None:
        sub.stripe_customer_id = event.customer_id
    onboard_if_due(session, sub.user, policy, checkout=False)


def price_and_tier(sub: Subscription, prices: list[JsonDict]) -> tuple[str, str]:
    """The deciding price and its tier; raises UnknownPrice when no item maps."""
    if len(prices) == 1 and prices[0]["id"] == sub.price_id and sub.tier:
        return sub.price_id, sub.tier  # same price as before: skip the tiers query
    price_id, tier = tier_for_prices(all_tiers(db.session), prices)
    return price_id, tier.name
