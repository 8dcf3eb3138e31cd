"""Drift between Stripe's current subscription and subsvc's row, and its healing.

A difference is healed by applying Stripe's object as a subscription event
stamped at the fetch (accounts/ordering.py), through the ordinary handler and
under the customer's lock, so a heal ranks against real events exactly as a
thin event's fetched object does and never overwrites a newer event.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from subsvc.accounts.entitlement import Policy
from subsvc.accounts.subscriptions import find_subscription
from subsvc.accounts.tiers import UnknownPrice, all_tiers, tier_for_prices
from subsvc.errors import describe, is_connection_error
from subsvc.events import (
    JsonDict,
    StripeEvent,
    as_epoch,
    subscription_period_end,
    subscription_prices,
)
from subsvc.extensions import db
from subsvc.handlers import handler_for
from subsvc.models import Subscription
from subsvc.models.base import DbSession, from_epoch
from subsvc.models.statements import advisory_lock_ids
from subsvc.stripe_api import API_VERSION

FIELDS = ("status", "price_id", "cancel_at_period_end", "cancel_at", "current_period_end")
HEAL_TYPE = "customer.subscription.updated"  # the handler a heal goes through


@dataclass
class Drift:
    """One subscription that differed: field -> (subsvc's value, Stripe's), and the outcome."""

    subscription: str
    differences: dict[str, tuple[Any, Any]]
    healed: bool = False
    reason: str | None = None  # why it was not healed (or "new to subsvc")
    skipped: bool = False  # subsvc holds news newer than the listing: not drift

    def as_dict(self) -> dict[str, Any]:
        return {"subscription": self.subscription, "healed": self.healed,
                "skipped": self.skipped, "reason": self.reason,
                "differences": {name: {"subsvc": show_value(ours), "stripe": show_value(theirs)}
                                for name, (ours, theirs) in self.differences.items()}}


@dataclass
class DriftCheck:
    policy: Policy
    dry_run: bool = False
    stamp: int = 0  # `created` of a heal: this page's fetch time (ordering.fetched_created)
    started: int = 0  # the first page's: rows with no news since then must be listed
    seen: set[str] = field(default_factory=set)

    def page_fetched(self, stamp: int) -> None:
        self.stamp, self.started = stamp, self.started or stamp


class DriftFailed(Exception):
    """The database could not be reached during a heal: the run stops."""


def check_subscription(obj: JsonDict, check: DriftCheck) -> Drift | None:
    """Compare Stripe's `obj` with subsvc's row and heal a difference; None when they agree.

    One short transaction per subscription, begun after the page was fetched
    and ended before the next call to Stripe. With `dry_run` the heal is
    applied, inspected and rolled back.
    """
    session, sub_id = db.session, obj["id"]
    check.seen.add(sub_id)
    try:
        _lock_customer(session, obj)
        row = find_subscription(session, sub_id)
        try:
            drift = _compare(row, obj, sub_id)
        except UnknownPrice as exc:  # Stripe's price maps to no tier: heal nothing, say which
            session.rollback()
            ours = row.price_id if row is not None else None
            return Drift(sub_id, {"price_id": (ours, ", ".join(exc.price_ids))}, reason=str(exc))
        if drift is None:
            session.rollback()
            return None
        _heal(row, obj, drift, check)
        if check.dry_run or not drift.healed:
            session.rollback()
        else:
            session.commit()
        return drift
    except UnknownPrice as exc:
        session.rollback()
        return Drift(sub_id, {}, reason=str(exc))
    except SQLAlchemyError as exc:
        session.rollback()
        if is_connection_error(exc):
            raise DriftFailed(describe(exc)) from None
        return Drift(sub_id, {}, reason=describe(exc))


def unknown_to_stripe(check: DriftCheck) -> list[Drift]:
    """subsvc's subscriptions that Stripe's complete listing did not name.

    Only rows whose news all predate the listing: one made by a webhook while
    the listing ran is not drift.
    """
    stmt = select(Subscription.stripe_subscription_id, Subscription.status).where(
        Subscription.last_event_created < check.started)
    rows = db.session.execute(stmt).all()
    db.session.rollback()
    return [Drift(sub_id, {"status": (status, None)}, reason="Stripe has no such subscription")
            for sub_id, status in rows if sub_id not in check.seen]


def _compare(row: Subscription | None, obj: JsonDict, sub_id: str) -> Drift | None:
    theirs = stripe_view(obj)
    if row is None:
        return Drift(sub_id, {name: (None, value) for name, value in theirs.items()})
    ours = row_view(row)
    differences = {name: (ours[name], theirs[name]) for name in FIELDS
                   if ours[name] != theirs[name]}
    return Drift(sub_id, differences) if differences else None


def _heal(row: Subscription | None, obj: JsonDict, drift: Drift, check: DriftCheck) -> None:
    event = StripeEvent(id=f"reconcile_{check.stamp}", type=HEAL_TYPE, created=check.stamp,
                        api_version=API_VERSION, livemode=obj.get("livemode") is True,
                        object=obj, raw="")
    handler = handler_for(event)
    if handler is None:
        drift.reason = "Stripe's object has no status"
        return
    handler(event, check.policy)
    db.session.flush()
    healed = find_subscription(db.session, drift.subscription)
    assert healed is not None
    left = {name: pair for name, pair in drift.differences.items()
            if row_view(healed)[name] != pair[1]}
    if not left:
        drift.healed = True
        drift.reason = "new to subsvc" if row is None else None
    elif healed.last_event_created > check.stamp:  # a webhook won meanwhile
        drift.skipped = True
        drift.reason = "an event newer than Stripe's listing stands"
    else:
        drift.reason = _why_not(left)


def _why_not(left: dict[str, tuple[Any, Any]]) -> str:
    if "current_period_end" in left:
        return "the period end only moves forward, and Stripe's is earlier"
    return f"the ordering rule kept subsvc's {', '.join(left)}"


def stripe_view(obj: JsonDict) -> dict[str, Any]:
    prices = subscription_prices(obj)
    price_id = tier_for_prices(all_tiers(db.session), prices)[0] if prices else None
    return {
        "status": obj.get("status"), "price_id": price_id,
        "cancel_at_period_end": bool(obj.get("cancel_at_period_end")),
        "cancel_at": from_epoch(as_epoch(obj.get("cancel_at"))),
        "current_period_end": from_epoch(subscription_period_end(obj)),
    }


def row_view(row: Subscription) -> dict[str, Any]:
    return {name: getattr(row, name) for name in FIELDS}


def _lock_customer(session: DbSession, obj: JsonDict) -> None:
    """The advisory lock an event about this customer takes in its claim (models/statements.py).

    Taken first, so the row is read after any live event of the customer has
    committed, and the heal and that event never interleave. On SQLite the
    transaction already holds the single write lock.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    # StripeEvent.lock_subject reads the customer the way events.py does for every event.
    subject = StripeEvent(id=obj["id"], type=HEAL_TYPE, created=0, api_version=None,
                          livemode=False, object=obj, raw="").lock_subject
    session.execute(select(func.pg_advisory_xact_lock(*advisory_lock_ids(subject))))


def show_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value
