"""Which tier a price buys, and the built-in tiers."""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any, Protocol, TypeVar

from sqlalchemy import select

from subsvc.models import Tier
from subsvc.models.base import DbSession

FREE = "free"


class Named(Protocol):
    @property
    def name(self) -> str: ...


NamedTier = TypeVar("NamedTier", bound=Named)  # an ORM Tier or the tier cache's TierRow


class UnknownPrice(Exception):
    """A price maps to no tier: the event fails loudly until the mapping is fixed."""

    def __init__(self, price_ids: Iterable[str]) -> None:
        self.price_ids = list(price_ids)
        super().__init__(f"price {', '.join(self.price_ids)} maps to no tier")


class NoPrice(Exception):
    """A subscription event names no price at all: it fails loudly, never a silent free tier."""

    def __init__(self, subscription_id: str) -> None:
        self.subscription_id = subscription_id
        super().__init__(f"subscription {subscription_id} names no price (no items, no plan)")


class UnknownTier(Exception):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"tier {name!r} does not exist")


def all_tiers(session: DbSession) -> list[Tier]:
    return list(session.scalars(select(Tier).order_by(Tier.rank, Tier.name)))


def tier_for_price(tiers: list[Tier], price: dict[str, Any]) -> Tier | None:
    """The tier listing the price id or its lookup_key, else the one named by
    price.metadata.tier."""
    keys = {price.get("id"), price.get("lookup_key")} - {None}
    for tier in tiers:
        if keys.intersection(tier.prices or []):
            return tier
    named = (price.get("metadata") or {}).get("tier")
    return next((tier for tier in tiers if tier.name == named), None)


def tier_for_prices(tiers: list[Tier], prices: list[dict[str, Any]]) -> tuple[str, Tier]:
    """The (price id, tier) of the highest-ranked mapped item; UnknownPrice when none maps.

    A subscription may carry add-on items (metered usage, say) whose prices
    buy no tier; only when no item maps at all is the event an error.
    """
    mapped = [(price["id"], tier) for price in prices if (tier := tier_for_price(tiers, price))]
    if not mapped:
        raise UnknownPrice(price["id"] for price in prices)
    return max(mapped, key=lambda pair: pair[1].rank)


def require_tier(tiers: Sequence[NamedTier], name: str) -> NamedTier:
    tier = next((tier for tier in tiers if tier.name == name), None)
    if tier is None:
        raise UnknownTier(name)
    return tier


def default_tiers() -> list[dict[str, Any]]:
    text = resources.files("subsvc").joinpath("tiers.default.json").read_text()
    return list(json.loads(text)["tiers"])


def validate_tier_spec(spec: Any) -> dict[str, Any]:
    """Check one entry of a tier file (CONTRACT section 6); raises ValueError."""
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
        raise ValueError("every tier needs a non-empty string 'name'")
    name = spec["name"]
    if not isinstance(spec.get("rank", 0), int):
        raise ValueError(f"tier {name}: 'rank' must be an integer")
    prices = spec.get("prices", [])
    if not isinstance(prices, list) or not all(isinstance(p, str) and p for p in prices):
        raise ValueError(f"tier {name}: 'prices' must be a list of strings")
    for key in ("limits", "widget_defaults"):
        if not isinstance(spec.get(key, {}), dict):
            raise ValueError(f"tier {name}: '{key}' must be an object")
    return {
        "name": name,
        "rank": spec.get("rank", 0),
        "prices": prices,
        "limits": spec.get("limits", {}),
        "widget_defaults": spec.get("widget_defaults", {}),
    }


def tier_set_problems(tiers: Sequence[Tier]) -> list[str]:
    """What makes a set of tiers inconsistent (CONTRACT section 6), one sentence each.

    A free tier (everyone without a subscription has it) that ranks lowest,
    distinct ranks (the highest-ranked entitled subscription decides), and no
    price in two tiers (a price buys exactly one tier).
    """
    if not tiers:
        return ["no tiers: run `flask seed tiers`"]
    problems = []
    free = next((tier for tier in tiers if tier.name == FREE), None)
    if free is None:
        problems.append("no 'free' tier, the tier of everyone without a subscription: "
                        "run `flask seed tiers`")
    else:
        problems += [f"tier {tier.name} ranks below 'free' (rank {tier.rank} < {free.rank})"
                     for tier in tiers if tier.rank < free.rank]
    shared = [rank for rank, count in Counter(tier.rank for tier in tiers).items() if count > 1]
    for rank in shared:
        names = ", ".join(sorted(tier.name for tier in tiers if tier.rank == rank))
        problems.append(f"tiers {names} share rank {rank}: which one wins is ambiguous")
    owners: dict[str, list[str]] = {}
    for tier in tiers:
        for price in tier.prices or []:
            owners.setdefault(price, []).append(tier.name)
    problems += [f"price {price} is listed by tiers {', '.join(names)}"
                 for price, names in owners.items() if len(names) > 1]
    return problems


class InconsistentTiers(ValueError):
    """Seeding would leave the tier set inconsistent; nothing is changed."""


def seed_tiers(session: DbSession, specs: list[dict[str, Any]], *, overwrite: bool) -> list[str]:
    """Add the tiers that are missing; with overwrite, update existing ones by name.

    Returns the names added or changed. Adds and flushes; the caller commits.
    With overwrite (a tier file), a result that tier_set_problems() objects to
    raises InconsistentTiers and the caller rolls back: the file is refused whole.
    The built-in seed only adds what is missing and is never refused, so that
    start-up (`make run`, the container) cannot fail on an operator's own tiers.
    """
    existing = {tier.name: tier for tier in all_tiers(session)}
    changed = []
    for spec in map(validate_tier_spec, specs):
        tier = existing.get(spec["name"])
        if tier is None:
            session.add(Tier(**spec))
            changed.append(spec["name"])
        elif overwrite and any(getattr(tier, key) != value for key, value in spec.items()):
            for key, value in spec.items():
                setattr(tier, key, value)
            changed.append(spec["name"])
    session.flush()
    if overwrite and (problems := tier_set_problems(all_tiers(session))):
        raise InconsistentTiers("; ".join(problems))
    return changed
