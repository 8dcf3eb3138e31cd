"""checkout.session.completed: links user, customer and subscription."""
from __future__ import annotations

from subsvc.accounts.entitlement import Policy
from subsvc.accounts.onboarding import onboard_if_due
from subsvc.accounts.ordering import Source
from subsvc.accounts.subscriptions import (
    Stamp,
    apply_details,
    apply_status,
    change_or_create_subscription,
    link_checkout,
)
from subsvc.accounts.tiers import all_tiers, require_tier
from subsvc.accounts.users import resolve_user
from subsvc.events import StripeEvent, as_str, checkout_email, checkout_tier_name, id_of
from subsvc.extensions import db
from subsvc.handlers.registry import handles
from subsvc.models import Subscription, SubscriptionStatus

PAID = frozenset({"paid", "no_payment_required"})


@handles("checkout.session.completed", when=lambda obj: obj.get("mode") == "subscription")
def on_checkout_session_completed(event: StripeEvent, policy: Policy) -> None:
    checkout_session, session = event.object, db.session  # Stripe's object; the database's
    customer_id, sub_id = event.customer_id, id_of(checkout_session.get("subscription"))
    user = resolve_user(session, customer_id=customer_id,
                        email=checkout_email(checkout_session),
                        external_id=as_str(checkout_session.get("client_reference_id")))
    tiers = all_tiers(session)
    if sub_id:
        # Provisional until a subscription event for it arrives (ordering.py).
        status = (SubscriptionStatus.ACTIVE if checkout_session.get("payment_status") in PAID
                  else SubscriptionStatus.INCOMPLETE)
        stamp = Stamp(event.id, event.created, Source.CHECKOUT)
        wanted = checkout_tier_name(checkout_session)
        tier_name = require_tier(tiers, wanted).name if wanted else None

        def change(sub: Subscription) -> None:
            link_checkout(sub, user, checkout_session["id"], event.created)
            apply_details(sub, status, stamp, tier_name=tier_name)
            apply_status(sub, status, stamp)

        change_or_create_subscription(session, sub_id, customer_id=customer_id, user=user,
                                      change=change)
    onboard_if_due(session, user, policy, checkout=True, tiers=tiers)
