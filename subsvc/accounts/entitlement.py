"""Entitlement: which statuses keep a paid tier, and a user's resulting tier.

`paused` keeps nothing: a paused subscription does not bill (ordering.py says
how it stays paused).

It depends on status only, never on the wall clock: Stripe says when a
subscription ends (customer.subscription.deleted).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from subsvc.accounts.tiers import FREE
from subsvc.models import Subscription
from subsvc.models import SubscriptionStatus as S


@dataclass(frozen=True)
class Policy:
    past_due_keeps_tier: bool = True
    livemode: bool | None = None  # STRIPE_LIVEMODE; None accepts live and test events

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Policy:
        return cls(past_due_keeps_tier=config["PAST_DUE_KEEPS_TIER"],
                   livemode=config.get("STRIPE_LIVEMODE"))

    def accepts_mode(self, livemode: bool) -> bool:
        """Whether an event of this mode may touch users and subscriptions at all."""
        return self.livemode is None or livemode == self.livemode


def is_entitled(status: str | None, policy: Policy) -> bool:
    if status in (S.ACTIVE, S.TRIALING):
        return True
    return status == S.PAST_DUE and policy.past_due_keeps_tier


class SubscriptionLike(Protocol):
    """What deciding needs of a subscription: an ORM row or a Core result row."""

    @property
    def status(self) -> str | None: ...
    @property
    def tier(self) -> str | None: ...
    @property
    def last_event_created(self) -> int: ...
    @property
    def stripe_subscription_id(self) -> str: ...


Sub = TypeVar("Sub", bound=SubscriptionLike)


class RankedTier(Protocol):
    """What deciding needs of a tier: an ORM row or the tier cache's copy (tier_cache.py)."""

    @property
    def name(self) -> str: ...
    @property
    def rank(self) -> int: ...


def deciding_subscription(subs: Sequence[Sub], tiers: Sequence[RankedTier],
                          policy: Policy) -> Sub | None:
    """The entitled subscription with the highest-ranked tier, else the most recent one."""
    return deciding_by_rank(subs, {tier.name: tier.rank for tier in tiers}, policy)


def deciding_by_rank(subs: Sequence[Sub], ranks: Mapping[str, int], policy: Policy) -> Sub | None:
    """deciding_subscription with the tiers given as name -> rank (only those that exist)."""
    entitled = [s for s in subs if is_entitled(s.status, policy) and s.tier in ranks]
    if entitled:
        return max(entitled, key=lambda s: (ranks[s.tier or ""], s.last_event_created,
                                            s.stripe_subscription_id))
    if not subs:
        return None
    return max(subs, key=lambda s: (s.last_event_created, s.stripe_subscription_id))


def tier_name_of(deciding: SubscriptionLike | None, policy: Policy) -> str:
    """The name of the user's tier, given their deciding subscription."""
    if deciding is not None and is_entitled(deciding.status, policy) and deciding.tier:
        return deciding.tier
    return FREE


def on_paid_tier(tier_name: str) -> bool:
    """`entitled` in the status JSON: on a tier other than free, so it always agrees with `tier`.

    An entitled status alone is not enough: its tier may not be known yet (a
    checkout without `metadata.tier` before its subscription event).
    """
    return tier_name != FREE


def has_entitlement(subs: list[Subscription], policy: Policy) -> bool:
    return any(is_entitled(s.status, policy) for s in subs)
