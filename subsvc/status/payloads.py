"""A user's status as the JSON of CONTRACT section 4, shared by the API, pages and CLI."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from subsvc.accounts.entitlement import (
    Policy, deciding_subscription, on_paid_tier, user_tier_name,
)
from subsvc.accounts.tiers import all_tiers
from subsvc.models import Subscription, User
from subsvc.models.base import DbSession


def iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def user_status(session: DbSession, user: User, policy: Policy) -> dict[str, Any]:
    subs = list(session.scalars(select(Subscription).where(Subscription.user_id == user.id)))
    tiers = all_tiers(session)
    deciding = deciding_subscription(subs, tiers, policy)
    tier = user_tier_name(subs, tiers, policy)
    return {
        "email": user.email,
        "external_id": user.external_id,
        "tier": tier,
        "entitled": on_paid_tier(tier),
        # Read at request time: a changed tier file reaches every user at once.
        "limits": next((dict(t.limits or {}) for t in tiers if t.name == tier), {}),
        "subscription": None if deciding is None else {
            "id": deciding.stripe_subscription_id,
            "status": deciding.status,
            "price_id": deciding.price_id,
            "current_period_end": iso(deciding.current_period_end),
            "cancel_at_period_end": deciding.cancel_at_period_end,
            "cancel_at": iso(deciding.cancel_at),
        },
        "api_key_prefix": user.api_key_prefix,
    }
