"""Prices -> tiers from an in-process copy of the tier table, refreshed when the table changes.

Every subscription event maps its prices to a tier; reading the tier table for it was a
query (and ORM objects) per event. The copy is per database engine and carries the table's
fingerprint (row count, newest updated_at: `flask seed tiers` bumps updated_at of every tier
it changes). The merge statement returns the current fingerprint at no extra round trip
(accounts/merge.py); on a difference the copy is read again and the event's tier corrected
before it commits, so no event commits a mapping older than its own transaction.
An edit made by hand in SQL that leaves updated_at alone is not noticed until a restart.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from subsvc.accounts.tiers import UnknownPrice, tier_for_prices
from subsvc.models import Tier
from subsvc.models.base import DbSession


@dataclass(frozen=True)
class Fingerprint:
    count: int
    updated: datetime | None


@dataclass(frozen=True)
class TierRow:
    """The fields tier_for_prices reads, detached from any session."""

    name: str
    rank: int
    prices: list[str]


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


def tier_cache(session: DbSession, *, refresh: bool = False) -> TierCache:
    engine = session.get_bind().engine
    cached = _caches.get(engine)
    if cached is None or refresh:
        cached = _caches[engine] = _load(session)
    return cached


def _load(session: DbSession) -> TierCache:
    table = Tier.__table__.c
    rows = session.execute(select(table.name, table.rank, table.prices, table.updated_at)
                           .order_by(table.rank, table.name)).all()
    fingerprint = Fingerprint(len(rows), max((row.updated_at for row in rows), default=None))
    return TierCache(fingerprint, tuple(TierRow(r.name, r.rank, list(r.prices or []))
                                        for r in rows))
