"""checkout.session.completed: links user, customer and subscription."""
from __future__ import annotations

from collections.abc import Sequence

from subsvc.accounts.entitlement import Policy
from subsvc.accounts.newcomers import Probe, checkout_known_customer, onboard_newcomer, probe
from subsvc.accounts.onboarding import TierLike, onboard_if_due
from subsvc.accounts.ordering import Source
from subsvc.accounts.subscriptions import (
    Stamp,
    apply_details,
    apply_status,
    change_or_create_subscription,
    link_checkout,
    stamp_checkout,
)
from subsvc.accounts.tiers import Named, all_tiers, require_tier
from subsvc.accounts.users import normalize_email, resolve_user
from subsvc.events import JsonDict, StripeEvent, as_str, checkout_email, checkout_tier_name, id_of
from subsvc.extensions import db
from subsvc.handlers.registry import handles
from subsvc.models import Subscription, SubscriptionStatus

PAID = frozenset({"paid", "no_payment_required"})


@handles("checkout.session.completed", when=lambda obj: obj.get("mode") == "subscription")
def on_checkout_session_completed(event: StripeEvent, policy: Policy) -> None:
    sub_id = id_of(event.object.get("subscription"))
    found = None
    if sub_id:
        found = probe(db.session, customer_id=event.customer_id, email=_email(event),
                      external_id=_external_id(event), subscription_id=sub_id)
        # Most checkouts are a new customer's first: three INSERTs (accounts/newcomers.py).
        if found.nobody_known and onboard_newcomer(
                db.session, found, policy=policy,
                change=lambda draft, cache: apply_checkout(draft, event, cache.tiers)):
            return
        # Under concurrent delivery as often its customer's subscription came first.
        tiers = found.tiers.tiers
        if checkout_known_customer(db.session, found, session_id=event.object["id"],
                                   created=event.created, policy=policy,
                                   change=lambda sub: apply_checkout(sub, event, tiers)):
            return
    link_and_onboard(event, policy, found)


def link_and_onboard(event: StripeEvent, policy: Policy, found: Probe | None = None) -> None:
    """The general path: the user resolved (linked or merged if need be), the subscription
    changed or made, the user onboarded unless that happened before. `found`: what the
    probe learnt (the current tiers, whether the row exists), so as not to ask again."""
    session, customer_id = db.session, event.customer_id
    sub_id = id_of(event.object.get("subscription"))
    user = resolve_user(session, customer_id=customer_id, email=_email(event),
                        external_id=_external_id(event))
    tiers: Sequence[TierLike] = found.tiers.tiers if found else all_tiers(session)
    if sub_id:
        def change(sub: Subscription) -> None:
            link_checkout(sub, user, event.object["id"], event.created)
            apply_checkout(sub, event, tiers)

        change_or_create_subscription(session, sub_id, customer_id=customer_id, user=user,
                                      change=change,
                                      exists=found is not None and found.subscription_known)
    onboard_if_due(session, user, policy, checkout=True, tiers=tiers)


def _email(event: StripeEvent) -> str | None:
    return normalize_email(checkout_email(event.object))


def _external_id(event: StripeEvent) -> str | None:
    return as_str(event.object.get("client_reference_id"))


def apply_checkout(sub: Subscription, event: StripeEvent, tiers: Sequence[Named]) -> None:
    """What a checkout says of its subscription: the checkout that names it, and a status and
    tier that hold until a subscription event for it arrives (ordering.py). Raises
    UnknownTier when the checkout's metadata names a tier that does not exist."""
    checkout_session: JsonDict = event.object
    status = (SubscriptionStatus.ACTIVE if checkout_session.get("payment_status") in PAID
              else SubscriptionStatus.INCOMPLETE)
    stamp = Stamp(event.id, event.created, Source.CHECKOUT)
    wanted = checkout_tier_name(checkout_session)
    tier_name = require_tier(tiers, wanted).name if wanted else None
    stamp_checkout(sub, checkout_session["id"], event.created)
    apply_details(sub, status, stamp, tier_name=tier_name)
    apply_status(sub, status, stamp)
