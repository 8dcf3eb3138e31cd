"""Applying what one event says to a subscription row, under the ordering rule."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from subsvc.accounts.ordering import (
    Source,
    details_version,
    settled_status,
    status_version,
)
from subsvc.accounts.users import resolve_user
from subsvc.models import Subscription, User
from subsvc.models.base import DbSession
from subsvc.models.statements import insert_if_absent


@dataclass(frozen=True)
class Stamp:
    """Where a piece of news comes from: the event's id, created and source."""

    event_id: str
    created: int
    source: Source


def find_subscription(session: DbSession, stripe_id: str) -> Subscription | None:
    # The user comes along in the same round trip: every handler needs it.
    stmt = (select(Subscription).options(joinedload(Subscription.user))
            .where(Subscription.stripe_subscription_id == stripe_id))
    return session.scalars(stmt).one_or_none()


def get_or_create_subscription(session: DbSession, stripe_id: str, *, customer_id: str | None,
                               email: str | None = None, user: User | None = None) -> Subscription:
    """The row for `stripe_id`; a new one belongs to `user`, else the customer's (made if need
    be)."""
    sub = find_subscription(session, stripe_id)
    if sub is not None:
        return sub
    user = user or resolve_user(session, customer_id=customer_id, email=email)
    inserted: Subscription | None = insert_if_absent(session, Subscription,
                                                     new_row(stripe_id, customer_id, user.id))
    if inserted is not None:
        return inserted
    # Lost a race with another worker: its row is committed now.
    return find_subscription(session, stripe_id) or _missing(stripe_id)


def change_or_create_subscription(session: DbSession, stripe_id: str, *,
                                  customer_id: str | None, user: User,
                                  change: Callable[[Subscription], None],
                                  exists: bool = False) -> Subscription:
    """`change(sub)` applied to the row for `stripe_id`, made for `user` if it is new.

    A new row is inserted with the change already applied (INSERT … ON CONFLICT DO NOTHING):
    one statement instead of a SELECT that finds nothing, an INSERT and an UPDATE. When the
    insert does not happen (the subscription's own event came first, another worker just
    made it, or another of the change's unique values is taken) the general path runs, as
    it did before this shortcut: get_or_create_subscription, then the change and its flush.
    """
    sub: Subscription | None = None
    if not exists:  # `exists`: the caller knows the row is there; no INSERT to try
        draft = Subscription(**new_row(stripe_id, customer_id, user.id))
        change(draft)  # a transient object: never in the session, so never flushed itself
        sub = insert_if_absent(session, Subscription, row_of(draft))
    if sub is None:
        sub = get_or_create_subscription(session, stripe_id, customer_id=customer_id, user=user)
        change(sub)
    return sub


def new_row(stripe_id: str, customer_id: str | None, user_id: int) -> dict[str, Any]:
    """The columns of a subscription row no event has spoken of yet."""
    return {"stripe_subscription_id": stripe_id, "user_id": user_id,
            "stripe_customer_id": customer_id, "status_version": "", "details_version": "",
            "cancel_at_period_end": False, "last_event_created": 0}


def row_of(draft: Subscription) -> dict[str, Any]:
    """The INSERT values of a transient Subscription: the columns it has a value for."""
    return {column.key: value for column in Subscription.__table__.columns
            if (value := getattr(draft, column.key)) is not None}


def _missing(stripe_id: str) -> Subscription:  # pragma: no cover - defensive
    raise RuntimeError(f"subscription {stripe_id} vanished")


def apply_status(sub: Subscription, status: str, stamp: Stamp) -> bool:
    """Record `status` if this event outranks the one that set the current status.

    Call it after apply_details: the status shown also depends on the newest
    subscription event's word (a pause ends only by one; ordering.py).
    """
    version = status_version(status, stamp.source, stamp.created, stamp.event_id)
    _touch(sub, stamp)
    newer = version > sub.status_version
    if newer:
        sub.event_status, sub.status_version = status, version
    sub.status = settled_status(sub.event_status, sub.subscription_status)
    return newer


def outranks_details(sub: Subscription, status: str | None, stamp: Stamp) -> bool:
    version = details_version(status, stamp.source, stamp.created, stamp.event_id)
    return version > sub.details_version


def apply_details(sub: Subscription, status: str | None, stamp: Stamp, *,
                  tier_name: str | None, price_id: str | None = None,
                  cancel_at_period_end: bool = False, cancel_at: datetime | None = None) -> bool:
    """Record price, tier and cancellation if this event is the newest to speak of them."""
    if not outranks_details(sub, status, stamp):
        return False
    sub.details_version = details_version(status, stamp.source, stamp.created, stamp.event_id)
    sub.subscription_status = status if stamp.source is Source.SUBSCRIPTION else None
    sub.price_id, sub.tier = price_id, tier_name
    sub.cancel_at_period_end, sub.cancel_at = cancel_at_period_end, cancel_at
    return True


def link_checkout(sub: Subscription, user: User, session_id: str, created: int) -> None:
    """A checkout is the word on who owns the subscription; `created` is its event's, which
    bounds how long the welcome page may reveal the key (accounts/welcome.py)."""
    if sub.user_id != user.id:
        sub.user = user
    stamp_checkout(sub, session_id, created)


def stamp_checkout(sub: Subscription, session_id: str, created: int) -> None:
    """The first checkout of a subscription is the one that names it (link_checkout)."""
    if sub.checkout_session_id is None:
        sub.checkout_session_id, sub.checkout_created = session_id, created


def _touch(sub: Subscription, stamp: Stamp) -> None:
    sub.last_event_created = max(sub.last_event_created or 0, stamp.created)
