"""The inbox: each Stripe event applied exactly once, in one transaction with its effects.

This is the one place that commits or rolls back event processing. The
claim is an INSERT … ON CONFLICT DO NOTHING on the unique event id, so the
database, not a prior SELECT, decides duplicates: of concurrent deliveries of
one id, one inserts and the others wait for its commit, then see a duplicate
(or, if it rolled back, insert themselves and process).
"""
from __future__ import annotations

import logging
import time
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from subsvc.accounts.entitlement import Policy
from subsvc.errors import DatabaseUnavailable, ProcessingFailed, describe, is_connection_error
from subsvc.events import StripeEvent
from subsvc.extensions import db
from subsvc.handlers import handler_for
from subsvc.handlers.registry import Handler
from subsvc.models import InboxEvent, InboxStatus
from subsvc.models.base import now_utc
from subsvc.models.statements import claim_locked, dialect_insert

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    PENDING = "pending"  # a thin event stored, its object not fetched yet (subsvc/thin.py)


LOG_MESSAGES = {Outcome.PROCESSED: "Successfully processed event %s (%s)",
                Outcome.IGNORED: "Ignored event %s (%s)",
                Outcome.DUPLICATE: "Duplicate event %s (%s)"}

# Rows a delivery runs again: a failure, or a thin event still waiting for its object.
RERUNNABLE = frozenset({InboxStatus.FAILED, InboxStatus.PENDING})


def receive(event: StripeEvent, policy: Policy, *, replay: bool = False) -> Outcome:
    """Store and apply `event` once; commits.

    Returns the outcome. Raises ProcessingFailed after recording the failure
    (error text, attempts) when a handler fails, and DatabaseUnavailable when
    the database cannot be reached: both are answered 5xx so Stripe retries.
    With `replay`, an event already processed is applied again.
    """
    started = time.perf_counter()
    handler = handler_for(event) if _mode_accepted(event, policy) else None
    try:
        outcome = _apply_reconnecting(event, handler, policy, replay=replay)
    except Exception as exc:
        db.session.rollback()
        if is_connection_error(exc):
            log.error("Database unavailable while processing event %s (%s)", event.id, event.type,
                      extra=log_fields(event, "database_unavailable", started, type(exc).__name__))
            raise DatabaseUnavailable(event_id=event.id) from None
        error = describe(exc)
        log.error("Failed to process event %s (%s): %s", event.id, event.type, error,
                  exc_info=exc, extra=log_fields(event, "failed", started, error))
        _record_failure(event, error)
        raise ProcessingFailed(event_id=event.id) from None
    log.info(LOG_MESSAGES[outcome], event.id, event.type,
             extra=log_fields(event, outcome, started))
    return outcome


def log_fields(event: StripeEvent, outcome: str, started: float, error: str | None = None
               ) -> dict[str, object]:
    """The structured fields of an event's log line (JSON logs carry them as fields)."""
    return {"event_id": event.id, "type": event.type, "outcome": str(outcome),
            "duration_ms": round((time.perf_counter() - started) * 1000, 3), "error": error}


def _mode_accepted(event: StripeEvent, policy: Policy) -> bool:
    """STRIPE_LIVEMODE: an event of the other mode is stored and ignored, never applied.

    Test-mode customers and subscriptions are not the live ones (a test checkout must not
    upgrade a live user who shares its email), so a service pinned to one mode keeps the
    other out of its state; the inbox row still records the delivery.
    """
    if policy.accepts_mode(event.livemode):
        return True
    log.warning("Event %s (%s) is a %s-mode event; this service takes only %s-mode events "
                "(STRIPE_LIVEMODE): ignoring it", event.id, event.type,
                _mode(event.livemode), _mode(bool(policy.livemode)))
    return False


def _mode(livemode: bool) -> str:
    return "live" if livemode else "test"


def _apply_reconnecting(event: StripeEvent, handler: Handler | None, policy: Policy, *,
                        replay: bool) -> Outcome:
    """_apply, and once more on a fresh connection when the pooled one was found dead.

    The pool is not pinged before use (a round trip per event): a connection
    gone stale while the database restarted fails once, the pool is
    invalidated, and one retry on a fresh connection heals it.
    """
    try:
        return _apply(event, handler, policy, replay=replay)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        db.session.rollback()
    return _apply(event, handler, policy, replay=replay)


def _apply(event: StripeEvent, handler: Handler | None, policy: Policy, *,
           replay: bool) -> Outcome:
    """Claim, handle and commit in one transaction; DUPLICATE (rolled back) when seen before."""
    status = InboxStatus.IGNORED if handler is None else InboxStatus.PROCESSED
    if not _claim(event, status, replay=replay):
        db.session.rollback()
        return Outcome.DUPLICATE
    if handler is not None:
        event.require_usable()  # a failure like any handler's: recorded, then answered 500
        handler(event, policy)
    db.session.commit()
    return Outcome(status)


def row_values(event: StripeEvent, status: InboxStatus, **fields: object) -> dict[str, object]:
    """The inbox row of `event` as its first write makes it: claim, failure or pending thin event.

    The one list of the row's columns, so that every writer fills them alike.
    """
    return {
        "event_id": event.id, "type": event.type, "api_version": event.api_version,
        "livemode": event.livemode, "stripe_created": event.created, "status": status,
        "payload": event.raw, "received_at": now_utc(), **event.subject_ids, **fields,
    }


def _claim(event: StripeEvent, status: InboxStatus, *, replay: bool) -> bool:
    """Insert the inbox row with its final status; False when the event is a duplicate.

    The row is written as processed/ignored up front: it only ever commits
    together with the handler's effects, so no second UPDATE is needed.
    """
    values = row_values(event, status, attempts=1, processed_at=now_utc())
    # A handled event also takes its customer's lock: events of one customer
    # apply one at a time (no lost update, never two users for one customer).
    subject = event.lock_subject if status is InboxStatus.PROCESSED else None
    if claim_locked(db.session, InboxEvent, values, subject) is not None:
        return True
    return _claim_again(event, status, replay=replay)


def _claim_again(event: StripeEvent, status: InboxStatus, *, replay: bool) -> bool:
    """The row exists: take it when it failed or is pending (any row on replay), else False."""
    session = db.session
    # Lock the row so that two redeliveries of a failed event cannot both run
    # it (FOR UPDATE is a no-op on SQLite, already serialised).
    row = session.scalars(
        select(InboxEvent).where(InboxEvent.event_id == event.id).with_for_update()
    ).one()
    if row.status not in RERUNNABLE and not replay:
        return False
    row.status, row.attempts = status, row.attempts + 1
    row.last_error, row.processed_at = None, now_utc()
    _fill_subject_ids(row, event)
    session.flush()
    return True


def _fill_subject_ids(row: InboxEvent, event: StripeEvent) -> None:
    """A thin event's row learns its customer and subscription once its object is fetched."""
    for column, value in event.subject_ids.items():
        if value is not None:
            setattr(row, column, value)


def _record_failure(event: StripeEvent, error: str) -> None:
    """Keep the failure on its own, after the event's work rolled back."""
    table = InboxEvent.__table__
    session = db.session
    values = row_values(event, InboxStatus.FAILED, attempts=1, last_error=error)
    stmt = dialect_insert(session, table).values(**values)
    # Only a failed (or pending thin) row is updated: had another worker
    # processed the event meanwhile, its success stands.
    subjects = {column: func.coalesce(stmt.excluded[column], table.c[column])
                for column in event.subject_ids}
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.event_id],
        set_={"attempts": table.c.attempts + 1, "last_error": error,
              "status": InboxStatus.FAILED, **subjects},
        where=table.c.status.in_(RERUNNABLE),
    )
    try:
        session.execute(stmt)
        session.commit()
    except Exception:
        session.rollback()
        log.exception("Could not record the failure of event %s (%s)", event.id, event.type)
