"""Prices -> tiers from an in-process copy of the tier table, refreshed when the table changes.

Every subscription event maps its prices to a tier; reading the tier table for it was a
query (and ORM objects) per event. The copy is per database engine and carries the table's
fingerprint (row count, newest updated_at: `flask seed tiers` bumps updated_at of every tier
it changes). The merge statement returns the current fingerprint at no extra round trip
(accounts/merge.py), and so does the checkout's probe (handlers/checkout.py); on a difference
the copy is read again (and a merged event's tier corrected) before the event commits, so no
event commits a mapping older than its own transaction.
An edit made by hand in SQL that leaves updated_at alone is not noticed until a restart.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Label, func, select

from subsvc.accounts.tiers import UnknownPrice, tier_for_prices
from subsvc.models import Tier
from subsvc.models.base import DbSession


@dataclass(frozen=True)
class Fingerprint:
    count: int
    updated: datetime | None


@dataclass(frozen=True)
class TierRow:
    """The fields tier_for_prices and onboarding read, detached from any session."""

    name: str
    rank: int
    prices: list[str]
    widget_defaults: dict[str, Any]


@dataclass(frozen=True)
class TierCache:
    fingerprint: Fingerprint
    tiers: tuple[TierRow, ...]

    def price_and_tier_name(self, prices: list[dict[str, Any]]) -> tuple[str | None, str | None]:
        """The deciding (price id, tier name); (first price id, None) when none maps."""
        try:
            price_id, tier = tier_for_prices(list(self.tiers), prices)  # type: ignore[arg-type]
        except UnknownPrice:
            return prices[0].get("id"), None
        return price_id, tier.name


_caches: weakref.WeakKeyDictionary[Engine, TierCache] = weakref.WeakKeyDictionary()


def tier_cache(session: DbSession, *, refresh: bool = False,
               seen: Fingerprint | None = None) -> TierCache:
    """This engine's copy; read again when asked, or when `seen` (the fingerprint a statement
    of the caller's transaction returned) differs from the copy's."""
    engine = session.get_bind().engine
    cached = _caches.get(engine)
    if cached is None or refresh or (seen is not None and seen != cached.fingerprint):
        cached = _caches[engine] = _load(session)
    return cached


def fingerprint_columns() -> tuple[Label[Any], Label[Any]]:
    """The table's fingerprint as two scalar subqueries (tier_count, tiers_updated), for a
    statement that has other work to do to return it at no extra round trip."""
    table = Tier.__table__
    return (select(func.count()).select_from(table).scalar_subquery().label("tier_count"),
            select(func.max(table.c.updated_at)).scalar_subquery().label("tiers_updated"))


def _load(session: DbSession) -> TierCache:
    table = Tier.__table__.c
    rows = session.execute(select(table.name, table.rank, table.prices, table.widget_defaults,
                                  table.updated_at).order_by(table.rank, table.name)).all()
    fingerprint = Fingerprint(len(rows), max((row.updated_at for row in rows), default=None))
    return TierCache(fingerprint, tuple(TierRow(r.name, r.rank, list(r.prices or []),
                                                dict(r.widget_defaults or {})) for r in rows))
