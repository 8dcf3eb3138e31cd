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
from subsvc.errors import DatabaseUnavailable, ProcessingFailed, is_connection_error
from subsvc.events import StripeEvent
from subsvc.extensions import db
from subsvc.handlers import handler_for
from subsvc.handlers.registry import Handler
from subsvc.models import InboxEvent, InboxStatus
from subsvc.models.base import now_utc
from subsvc.models.statements import claim_locked, dialect_insert

log = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 2000


class Outcome(StrEnum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    PENDING = "pending"  # a thin event stored, its object not fetched yet (subsvc/thin.py)

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
    outcome = Outcome.PROCESSED if handler else Outcome.IGNORED
    for attempt in (1, 2):
        try:
            applied = _apply(event, handler, policy, InboxStatus(outcome), replay=replay)
            break
        except Exception as exc:
            db.session.rollback()
            _raise_failure(event, exc, may_retry=attempt == 1, started=started)
    if not applied:
        outcome = Outcome.DUPLICATE
    message = {Outcome.PROCESSED: "Successfully processed event %s (%s)",
               Outcome.IGNORED: "Ignored event %s (%s)",
               Outcome.DUPLICATE: "Duplicate event %s (%s)"}[outcome]
    log.info(message, event.id, event.type, extra=log_fields(event, outcome, started))
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


def _apply(event: StripeEvent, handler: Handler | None, policy: Policy, status: InboxStatus, *,
           replay: bool) -> bool:
    """Claim, handle and commit in one transaction; False (rolled back) for a duplicate."""
    if not _claim(event, status, replay=replay):
        db.session.rollback()
        return False
    if handler is not None:
        event.require_usable()  # a failure like any handler's: recorded, then answered 500
        handler(event, policy)
    db.session.commit()
    return True


def _raise_failure(event: StripeEvent, exc: Exception, *, may_retry: bool,
                   started: float) -> None:
    """Raise the 5xx for `exc`; return only when one retry on a fresh connection is worth it."""
    if not is_connection_error(exc):
        error = describe(exc)
        log.error("Failed to process event %s (%s): %s", event.id, event.type, error,
                  exc_info=exc, extra=log_fields(event, "failed", started, error))
        _record_failure(event, error)
        raise ProcessingFailed(event_id=event.id) from None
    # The pool is not pinged before use (a round trip per event): a connection
    # gone stale while the database restarted fails once, the pool is
    # invalidated, and one retry on a fresh connection heals it.
    if may_retry and getattr(exc, "connection_invalidated", False):
        return
    log.error("Database unavailable while processing event %s (%s)", event.id, event.type,
              extra=log_fields(event, "database_unavailable", started, type(exc).__name__))
    raise DatabaseUnavailable(event_id=event.id) from None


def _claim(event: StripeEvent, status: InboxStatus, *, replay: bool) -> bool:
    """Insert the inbox row with its final status; False when the event is a duplicate.

    The row is written as processed/ignored up front: it only ever commits
    together with the handler's effects, so no second UPDATE is needed.
    """
    session = db.session
    values = {
        "event_id": event.id, "type": event.type, "api_version": event.api_version,
        "livemode": event.livemode, "stripe_created": event.created, "status": status,
        "attempts": 1, "payload": event.raw, "processed_at": now_utc(), "received_at": now_utc(),
        **event.subject_ids,
    }
    # A handled event also takes its customer's lock: events of one customer
    # apply one at a time (no lost update, never two users for one customer).
    subject = event.lock_subject if status is InboxStatus.PROCESSED else None
    if claim_locked(session, InboxEvent, values, subject) is not None:
        return True
    # Seen before. Lock the row so that two redeliveries of a failed event
    # cannot both run it (FOR UPDATE is a no-op on SQLite, already serialised).
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
    stmt = dialect_insert(session, table).values(
        event_id=event.id, type=event.type, api_version=event.api_version,
        livemode=event.livemode, stripe_created=event.created, status=InboxStatus.FAILED,
        attempts=1, last_error=error, payload=event.raw, received_at=now_utc(),
        **event.subject_ids,
    )
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


def describe(exc: BaseException) -> str:
    """A one-line cause for the inbox and the log, without SQL text or parameters."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    return f"{type(cause).__name__}: {cause}"[:MAX_ERROR_LENGTH]
