"""Issuing a user's API key and seeding their widget configuration, once."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection, Integer, Select, Table, Update, bindparam, select, update
from sqlalchemy.orm.util import identity_key

from subsvc.accounts.api_keys import issue_key, new_key
from subsvc.accounts.entitlement import (
    Policy,
    RankedTier,
    SubscriptionLike,
    deciding_subscription,
    has_entitlement,
    is_entitled,
    tier_name_of,
)
from subsvc.accounts.tier_cache import tier_cache
from subsvc.accounts.tiers import all_tiers

if TYPE_CHECKING:
    from subsvc.accounts.merge import Merged
from subsvc.models import Subscription, User, WidgetConfig
from subsvc.models.base import DbSession, now_utc
from subsvc.models.prepared import prepared
from subsvc.models.statements import core_connection, insert_row_if_absent

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
    """onboard_if_due after a merge (accounts/merge.py), in Core (onboard_in_core).

    The merge said whether the user already has a key, so the common event loads no user at
    all. One without a key (their subscription's events came before its checkout) costs one
    SELECT of their subscriptions' statuses while none entitles them.
    """
    if merged.user_has_key:
        return False
    return onboard_in_core(session, merged.user_id, policy, checkout=False)


def onboard_in_core(session: DbSession, user_id: int, policy: Policy, *, checkout: bool,
                    tiers: Sequence[TierLike] | None = None) -> bool:
    """onboard_if_due in Core statements, for a user not loaded: the key is issued by an
    UPDATE that only a keyless user matches and the widget configuration seeded by an
    INSERT that only a user without one takes (a loaded User is expired). Without
    `checkout`, only when one of the user's subscriptions entitles them."""
    connection = core_connection(session)
    subs = None
    if not checkout:
        subs = _subscriptions(connection, user_id)
        if not any(is_entitled(sub.status, policy) for sub in subs):
            return False
    _, key_hash, key_prefix = new_key()  # never shown: the welcome page replaces it
    now = now_utc()
    issued = prepared(connection, _issue_key).scalar(connection, {
        "user_id": user_id, "api_key_hash": key_hash, "api_key_prefix": key_prefix,
        "api_key_issued_at": now, "updated_at": now})
    expire_user(session, user_id)
    if issued is None:  # they have a key already
        return False
    subs = _subscriptions(connection, user_id) if subs is None else subs
    name, config = widget_seed(subs, tier_cache(session).tiers if tiers is None else tiers,
                               policy)
    widgets = WidgetConfig.__table__
    insert_row_if_absent(session, widgets, {"user_id": user_id, "seeded_from_tier": name,
                                            "config": config, "created_at": now}, widgets.c.id)
    log_onboarded(user_id)
    return True


def _subscriptions(connection: Connection, user_id: int) -> list[Any]:
    return prepared(connection, _subscriptions_of_user).execute(connection, {"user_id": user_id})


@cache
def _subscriptions_of_user() -> Select[Any]:
    t = Subscription.__table__.c
    return select(t.status, t.tier, t.last_event_created, t.stripe_subscription_id).where(
        t.user_id == bindparam("user_id", type_=Integer))


@cache
def _issue_key() -> Update:
    t = User.__table__
    assert isinstance(t, Table)
    given = {name: bindparam(name, type_=t.c[name].type)
             for name in ("api_key_hash", "api_key_prefix", "api_key_issued_at", "updated_at")}
    return (update(t).where(t.c.id == bindparam("user_id", type_=Integer),
                            t.c.api_key_issued_at.is_(None))
            .values(**given).returning(t.c.id))


def expire_user(session: DbSession, user_id: int) -> None:
    """A User of this row loaded earlier in the transaction must not keep its old key state."""
    loaded = session.identity_map.get(identity_key(User, user_id))
    if loaded is not None:
        session.expire(loaded)
