"""customer.subscription.created / updated / deleted / paused / resumed: the authoritative word."""
from __future__ import annotations

from subsvc.accounts.entitlement import Policy
from subsvc.accounts.merge import News
from subsvc.accounts.newcomers import merge_or_create
from subsvc.accounts.onboarding import onboard_after_merge
from subsvc.accounts.ordering import Source
from subsvc.accounts.tiers import NoPrice
from subsvc.events import StripeEvent, as_epoch, subscription_period_end, subscription_prices
from subsvc.extensions import db
from subsvc.handlers.registry import handles


@handles("customer.subscription.created", "customer.subscription.updated",
         "customer.subscription.deleted", "customer.subscription.paused",
         "customer.subscription.resumed",
         when=lambda obj: isinstance(obj.get("id"), str) and isinstance(obj.get("status"), str))
def on_customer_subscription_changed(event: StripeEvent, policy: Policy) -> None:
    obj, session = event.object, db.session
    prices = subscription_prices(obj)
    if not prices:
        # A shape we do not read (every version names the price: on its items,
        # or as the legacy `plan`); failing whatever the event's rank keeps
        # the outcome independent of arrival order.
        raise NoPrice(obj["id"])
    # The tier is resolved for every event, but a price that maps to none fails the event
    # only when it wins the details (merge): a stale event with a since-retired price must
    # not fail.
    news = News(obj["id"], event.id, event.created, Source.SUBSCRIPTION, status=obj["status"],
                prices=tuple(prices),
                cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
                cancel_at=as_epoch(obj.get("cancel_at")),
                period_end=subscription_period_end(obj), customer_id=event.customer_id)
    merged = merge_or_create(session, news, customer_id=event.customer_id)
    onboard_after_merge(session, merged, policy)
