"""Issuing a user's API key and seeding their widget configuration, once."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select

from subsvc.accounts.api_keys import issue_key
from subsvc.accounts.entitlement import (
    Policy,
    RankedTier,
    SubscriptionLike,
    deciding_subscription,
    has_entitlement,
    tier_name_of,
)
from subsvc.accounts.tiers import all_tiers

if TYPE_CHECKING:
    from subsvc.accounts.merge import Merged
from subsvc.models import Subscription, User, WidgetConfig
from subsvc.models.base import DbSession

log = logging.getLogger(__name__)


class TierLike(RankedTier, Protocol):
    """What seeding reads of a tier: an ORM row or the tier cache's copy (tier_cache.py)."""

    @property
    def widget_defaults(self) -> dict[str, Any]: ...


def onboard_if_due(session: DbSession, user: User, policy: Policy, *, checkout: bool,
                   tiers: Sequence[TierLike] | None = None) -> bool:
    """Issue the key and seed the widget config when a subscription checkout completed
    for the user or they are entitled, unless that already happened. Adds and flushes.

    The key made here is never shown: the welcome page (or `flask keys rotate`)
    replaces it with one it shows once, as only its hash is ever stored.
    """
    if user.api_key_issued_at is not None:
        return False
    subs = list(session.scalars(select(Subscription).where(Subscription.user_id == user.id)))
    if not checkout and not has_entitlement(subs, policy):
        return False
    issue_key(user)
    if user.widget_config is None:
        name, config = widget_seed(subs, all_tiers(session) if tiers is None else tiers, policy)
        user.widget_config = WidgetConfig(seeded_from_tier=name, config=config)
    session.flush()
    log_onboarded(user.id)
    return True


def widget_seed(subs: Sequence[SubscriptionLike], tiers: Sequence[TierLike],
                policy: Policy) -> tuple[str, dict[str, Any]]:
    """(seeded_from_tier, config) of a new widget configuration: the defaults of the tier
    the user's subscriptions give them."""
    name = tier_name_of(deciding_subscription(subs, tiers, policy), policy)
    defaults = next((t.widget_defaults for t in tiers if t.name == name), {})
    return name, dict(defaults or {})


def log_onboarded(user_id: int) -> None:
    log.info("Issued API key and seeded widget config for user %s", user_id)


def onboard_after_merge(session: DbSession, merged: Merged, policy: Policy) -> bool:
    """onboard_if_due after a merge (accounts/merge.py): the merge said whether the user
    already has a key, so the common event loads no user at all."""
    if merged.user_has_key:
        return False
    user = session.get(User, merged.user_id)
    assert user is not None  # the subscription's foreign key
    return onboard_if_due(session, user, policy, checkout=False)
