"""Thin events (`"object": "v2.core.event"`): stored at once, applied once their object is fetched.

An event destination with thin payloads sends no object, only
`related_object` {id, type, url} and an ISO-8601 `created`. Its v1 types are
the snapshot types with a `v1.` prefix. With the Stripe API at hand the
related object is fetched and applied by the ordinary handler, as if a
snapshot event of the unprefixed type had carried it (how a fetched object
ranks against snapshot events: accounts/ordering.py). Without it the event
waits in the inbox as `pending` for `flask stripe reconcile`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from subsvc.accounts.entitlement import Policy
from subsvc.accounts.ordering import fetched_created
from subsvc.errors import DatabaseUnavailable, InvalidPayload, is_connection_error
from subsvc.events import (
    EVENT_ID,
    ID_WIDTH,
    MAX_CREATED,
    TYPE_WIDTH,
    JsonDict,
    StripeEvent,
    is_storable,
)
from subsvc.extensions import db
from subsvc.handlers.registry import is_handled_type
from subsvc.inbox import Outcome, receive, row_values
from subsvc.models import InboxEvent, InboxStatus
from subsvc.models.statements import insert_if_absent
from subsvc.stripe_api import API_VERSION, Answer, StripeApi, StripeCallFailed

log = logging.getLogger(__name__)

V1_PREFIX = "v1."
# Objects whose current state is the news (stamped at the fetch); the others
# (invoices, checkouts) keep the thin event's `created`: see ordering.py.
CURRENT_STATE_TYPES = frozenset({"subscription"})


@dataclass(frozen=True)
class RelatedObject:
    id: str
    type: str


@dataclass(frozen=True)
class ThinEvent(StripeEvent):
    related: RelatedObject | None = None

    @property
    def snapshot_type(self) -> str:
        """`v1.customer.subscription.updated` -> `customer.subscription.updated`."""
        return self.type.removeprefix(V1_PREFIX)

    @property
    def subject_ids(self) -> dict[str, str | None]:
        """Only the related object says whom a thin event is about (until it is fetched)."""
        related = self.related
        return {
            "stripe_customer_id": related.id if related and related.type == "customer" else None,
            "stripe_subscription_id":
                related.id if related and related.type == "subscription" else None,
        }


def parse_thin_event(data: JsonDict, text: str) -> ThinEvent:
    """Shape-check a thin event notification; raises InvalidPayload."""
    # The same limits as a snapshot event's envelope (events.py): what the inbox row holds.
    event_id, type_ = data.get("id"), data.get("type")
    if not (isinstance(event_id, str) and EVENT_ID.fullmatch(event_id)
            and is_storable(type_, TYPE_WIDTH)):
        raise InvalidPayload()
    return ThinEvent(
        id=event_id, type=type_, created=_epoch(data.get("created")), api_version=None,
        livemode=data.get("livemode") is True, object={}, raw=text,
        related=_related(data.get("related_object")),
    )


def _epoch(value: Any) -> int:
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidPayload()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidPayload() from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return min(max(0, int(moment.timestamp())), MAX_CREATED)


def _related(value: Any) -> RelatedObject | None:
    # Optional in Stripe's schema: some thin events are about no one object.
    if not isinstance(value, dict):
        return None
    object_id, object_type = value.get("id"), value.get("type")
    if not (is_storable(object_id, ID_WIDTH) and is_storable(object_type, TYPE_WIDTH)):
        raise InvalidPayload()
    return RelatedObject(object_id, object_type)


def receive_event(event: StripeEvent, policy: Policy, api: StripeApi | None, *,
                  replay: bool = False) -> Outcome:
    """inbox.receive for any event: a thin one goes through receive_thin first."""
    if isinstance(event, ThinEvent):
        return receive_thin(event, policy, api, replay=replay)
    return receive(event, policy, replay=replay)


def receive_thin(event: ThinEvent, policy: Policy, api: StripeApi | None, *,
                 replay: bool = False) -> Outcome:
    """Store, then fetch and apply; PENDING when the object cannot be fetched now.

    A type subsvc does not handle is stored and `ignored` like any other. The
    pending row is committed before the fetch, so no transaction (on SQLite:
    the write lock) is held while Stripe is asked. Raises what inbox.receive
    raises when the handler or the database fails.
    """
    if event.related is None or not is_handled_type(event.snapshot_type):
        return receive(event, policy, replay=replay)
    status = _store_pending(event)
    if status in (InboxStatus.PROCESSED, InboxStatus.IGNORED) and not replay:
        log.info("Duplicate event %s (%s)", event.id, event.type)
        return Outcome.DUPLICATE
    if api is None:
        log.info("Thin event %s (%s) kept pending: STRIPE_SECRET_KEY is not set",
                 event.id, event.type)
        return Outcome.PENDING
    try:
        answer = api.retrieve(event.related.type, event.related.id)
    except StripeCallFailed as exc:
        log.warning("Thin event %s (%s) kept pending: %s", event.id, event.type, exc)
        return Outcome.PENDING
    # The row exists: pending or failed runs (inbox.RERUNNABLE); one another worker
    # has processed meanwhile is a duplicate.
    return receive(as_snapshot(event, answer), policy, replay=replay)


def as_snapshot(event: ThinEvent, answer: Answer) -> StripeEvent:
    """The snapshot event the thin one stands for, carrying the fetched object."""
    assert event.related is not None
    current = event.related.type in CURRENT_STATE_TYPES
    return StripeEvent(
        id=event.id, type=event.snapshot_type,
        created=fetched_created(answer.date) if current else event.created,
        api_version=API_VERSION, livemode=event.livemode, object=answer.data, raw=event.raw,
    )


def _store_pending(event: ThinEvent) -> str:
    """Insert the inbox row as pending unless it exists; the row's status. Commits."""
    session = db.session
    table = InboxEvent.__table__
    values = row_values(event, InboxStatus.PENDING, attempts=0)  # no api_version: a thin event
    try:
        if insert_if_absent(session, table, values, returning=table.c.id) is not None:
            status: str = InboxStatus.PENDING
            log.info("Stored thin event %s (%s) as pending", event.id, event.type)
        else:
            status = session.scalars(
                select(InboxEvent.status).where(InboxEvent.event_id == event.id)).one()
        session.commit()
        return status
    except Exception as exc:
        session.rollback()
        if is_connection_error(exc):
            log.error("Database unavailable while storing event %s (%s)", event.id, event.type)
            raise DatabaseUnavailable(event_id=event.id) from None
        raise
