"""What the status pages show beyond the status JSON (payloads.py).

The customer page adds what a subscriber asks first: is it paid, when does it renew or end,
what does the tier allow. The operator page adds why the user is on the tier they are on:
every subscription with the one that decides marked, and the inbox events that touched the
user, failures and their error text included.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select

from subsvc.accounts.entitlement import Policy, is_entitled
from subsvc.accounts.tiers import FREE, all_tiers
from subsvc.models import InboxEvent, Subscription, User, WidgetConfig
from subsvc.models import SubscriptionStatus as S
from subsvc.models.base import DbSession, from_epoch, iso
from subsvc.status.payloads import user_status

RECENT_EVENTS = 20
ENDED = frozenset({S.CANCELED, S.INCOMPLETE_EXPIRED})


def account_summary(session: DbSession, user: User, policy: Policy) -> dict[str, Any]:
    """The customer page: the status JSON plus paid, limits, the end date and widget count."""
    info = user_status(session, user, policy)
    tiers = {tier.name: tier for tier in all_tiers(session)}
    tier = tiers.get(info["tier"])
    deciding = _deciding_row(session, info)
    return {
        **info,
        "paid": info["tier"] != FREE,
        "limits": dict(tier.limits or {}) if tier else {},
        "subscription": None if deciding is None else {
            **info["subscription"], "cancel_at": iso(deciding.cancel_at),
            "term": term(deciding, policy)},
        "widget_configs": session.scalar(
            select(func.count()).select_from(WidgetConfig).where(WidgetConfig.user_id == user.id)),
    }


def user_detail(session: DbSession, user: User, policy: Policy) -> dict[str, Any]:
    """The operator page: the account summary, every subscription newest first, recent events."""
    summary = account_summary(session, user, policy)
    subs = list(session.scalars(select(Subscription).where(Subscription.user_id == user.id)
                                .order_by(Subscription.created_at.desc(), Subscription.id.desc())))
    deciding_id = (summary["subscription"] or {}).get("id")
    return {
        **summary,
        "user": {"stripe_customer_id": user.stripe_customer_id, "created_at": iso(user.created_at),
                 "api_key_issued_at": iso(user.api_key_issued_at),
                 "api_key_revealed_at": iso(user.api_key_revealed_at)},
        "subscriptions": [subscription_row(sub, policy, deciding=sub.stripe_subscription_id
                                           == deciding_id) for sub in subs],
        "events": recent_events(session, user, subs),
    }


def subscription_row(sub: Subscription, policy: Policy, *, deciding: bool) -> dict[str, Any]:
    return {
        "id": sub.stripe_subscription_id, "status": sub.status, "tier": sub.tier,
        "price_id": sub.price_id, "current_period_end": iso(sub.current_period_end),
        "cancel_at_period_end": sub.cancel_at_period_end, "cancel_at": iso(sub.cancel_at),
        "keeps_tier": is_entitled(sub.status, policy), "deciding": deciding,
        "customer_id": sub.stripe_customer_id, "first_seen": iso(sub.created_at),
    }


def term(sub: Subscription, policy: Policy) -> dict[str, Any] | None:
    """How the subscription's time runs out: it renews, it ends (a cancel), or it has ended."""
    if sub.status in ENDED:
        return {"kind": "ended", "at": None}
    if sub.cancel_at is not None:
        return {"kind": "ends", "at": iso(sub.cancel_at)}
    if sub.cancel_at_period_end:
        return {"kind": "ends", "at": iso(sub.current_period_end)}
    if is_entitled(sub.status, policy) and sub.current_period_end is not None:
        return {"kind": "renews", "at": iso(sub.current_period_end)}
    return None


def recent_events(session: DbSession, user: User, subs: list[Subscription],
                  limit: int = RECENT_EVENTS) -> list[dict[str, Any]]:
    """The newest inbox events about the user's customers or subscriptions (indexed columns,
    written by the inbox: migration 0003), by Stripe's `created`."""
    customers = {user.stripe_customer_id, user.origin_customer_id,
                 *(sub.stripe_customer_id for sub in subs)} - {None}
    subscriptions = {sub.stripe_subscription_id for sub in subs}
    if not customers and not subscriptions:
        return []
    rows = session.scalars(
        select(InboxEvent)
        .where(or_(InboxEvent.stripe_customer_id.in_(sorted(customers)),
                   InboxEvent.stripe_subscription_id.in_(sorted(subscriptions))))
        .order_by(InboxEvent.stripe_created.desc(), InboxEvent.id.desc()).limit(limit))
    return [{"event_id": row.event_id, "type": row.type,
             "created": iso(from_epoch(row.stripe_created)), "received_at": iso(row.received_at),
             "status": row.status, "attempts": row.attempts, "error": row.last_error}
            for row in rows]


def _deciding_row(session: DbSession, info: dict[str, Any]) -> Subscription | None:
    if info["subscription"] is None:
        return None
    return session.scalars(select(Subscription).where(
        Subscription.stripe_subscription_id == info["subscription"]["id"])).one_or_none()
