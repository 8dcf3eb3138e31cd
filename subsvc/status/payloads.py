"""A user's status as the JSON of CONTRACT section 4, shared by the API, pages and CLI.

One statement answers it: the user (found by key hash or id, both unique indexes), each of
their subscriptions, each subscription's tier (for its rank and limits) and the free tier's
limits, joined. The deciding subscription is then picked in Python from those few rows, by
the same rule as everywhere (accounts/entitlement.py), with the policy of this request and
the tier ranks and limits as the tier table holds them now: nothing is kept that a tier
file, a key rotation, a user merge or PAST_DUE_KEEPS_TIER could make stale. Core rows, not
ORM objects: no identity map or unit of work on a path that product back ends call on every
request they serve.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, bindparam, select

from subsvc.accounts.api_keys import KEY_PREFIX, hash_key
from subsvc.accounts.entitlement import Policy, deciding_by_rank, on_paid_tier, tier_name_of
from subsvc.accounts.tiers import FREE
from subsvc.models import Subscription, Tier, User
from subsvc.models.base import DbSession, iso
from subsvc.models.prepared import prepared


@cache
def _status_query(by: str) -> Select[Any]:
    users, subs, tiers = User.__table__, Subscription.__table__, Tier.__table__
    free = tiers.alias("free_tier")
    where: ColumnElement[bool] = (users.c.api_key_hash == bindparam("key") if by == "key"
                                  else users.c.id == bindparam("key"))
    joined = (users.outerjoin(subs, subs.c.user_id == users.c.id)
              .outerjoin(tiers, tiers.c.name == subs.c.tier)
              .outerjoin(free, free.c.name == FREE))
    return select(
        users.c.email, users.c.external_id, users.c.api_key_prefix,
        subs.c.stripe_subscription_id, subs.c.status, subs.c.price_id, subs.c.tier,
        subs.c.current_period_end, subs.c.cancel_at_period_end, subs.c.cancel_at,
        subs.c.last_event_created,
        tiers.c.rank.label("tier_rank"), tiers.c.limits.label("tier_limits"),
        free.c.limits.label("free_limits"),
    ).select_from(joined).where(where)


def user_status(session: DbSession, user: User, policy: Policy) -> dict[str, Any]:
    rows = session.execute(_status_query("id"), {"key": user.id}).all()
    return _answer(rows, policy)


def status_for_key(connection: Connection, key: str, policy: Policy) -> dict[str, Any] | None:
    """The status of the API key's owner, in one SELECT; None for a key nobody holds.

    On a Core connection rather than the ORM session, and on its driver's cursor
    (models/prepared.py): the tier check runs on every request a product back end serves,
    and the session's or even Core's execute path costs more than the SELECT itself.
    """
    if not key.startswith(KEY_PREFIX):
        return None
    rows = prepared(connection, _status_query, "key").execute(connection, {"key": hash_key(key)})
    return _answer(rows, policy) if rows else None


def _answer(rows: Sequence[Any], policy: Policy) -> dict[str, Any]:
    subs = [row for row in rows if row.stripe_subscription_id is not None]
    # Only tiers that exist rank (an outer join gives NULL for a tier name no row has).
    ranks = {row.tier: row.tier_rank for row in subs if row.tier_rank is not None}
    deciding = deciding_by_rank(subs, ranks, policy)
    tier_name = tier_name_of(deciding, policy)
    # Read at request time: a changed tier file reaches every user at once.
    limits = (rows[0].free_limits if tier_name == FREE
              else next(row.tier_limits for row in subs if row.tier == tier_name))
    user = rows[0]
    return {
        "email": user.email,
        "external_id": user.external_id,
        "tier": tier_name,
        "entitled": on_paid_tier(tier_name),
        "limits": dict(limits or {}),
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
