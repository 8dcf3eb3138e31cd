"""`flask stripe reconcile`: what Stripe knows and subsvc missed, fed through the same inbox.

Three passes, each safe to repeat:
1. events Stripe could not deliver (Events API, `delivery_success=false`, of
   the handled types, since DAYS ago) go through inbox.receive exactly like a
   webhook delivery, so one already seen stays a duplicate;
2. pending thin events fetch their object and are applied (subsvc/thin.py);
3. every subscription (`status=all`) is compared with subsvc's row and a
   difference healed through the ordering rule (subsvc/drift.py).
No database transaction stays open across a call to Stripe: on SQLite it
would hold the write lock and stall the webhooks meanwhile.
"""
from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from subsvc.accounts.entitlement import Policy
from subsvc.accounts.ordering import fetched_created
from subsvc.drift import Drift, DriftCheck, DriftFailed, check_subscription, unknown_to_stripe
from subsvc.errors import DatabaseUnavailable, InvalidPayload, ProcessingFailed
from subsvc.events import parse_event
from subsvc.extensions import db
from subsvc.inbox import Outcome
from subsvc.models import InboxEvent, InboxStatus
from subsvc.stripe_api import (
    WEBHOOK_TYPES,
    Answer,
    StripeApi,
    StripeCallFailed,
    StripeUnavailable,
)
from subsvc.thin import receive_event

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
DAY_SECONDS = 86_400
EVENT_RETENTION_DAYS = 30  # how long Stripe's Events API keeps events


class StripeUnreachable(Exception):
    """Stripe did not answer the first call: nothing was changed."""


@dataclass
class Report:
    dry_run: bool
    since_days: int
    events: Counter[str] = field(default_factory=Counter)
    event_failures: list[dict[str, str]] = field(default_factory=list)
    thin: Counter[str] = field(default_factory=Counter)
    thin_left: list[str] = field(default_factory=list)
    checked: int = 0
    drift: list[Drift] = field(default_factory=list)
    cut_short: str | None = None  # why the run stopped before the end

    @property
    def unhealed(self) -> list[Drift]:
        return [d for d in self.drift if not d.healed and not d.skipped]

    @property
    def ok(self) -> bool:
        """Nothing left that reconcile could not heal or apply."""
        return not (self.cut_short or self.unhealed or self.event_failures or self.thin_left)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "dry_run": self.dry_run, "since_days": self.since_days,
            "cut_short": self.cut_short,
            "events": {"outcomes": dict(self.events), "failed": self.event_failures},
            "thin_events": {"outcomes": dict(self.thin), "still_pending": self.thin_left},
            "subscriptions": {"checked": self.checked,
                              "drift": [d.as_dict() for d in self.drift]},
        }


def reconcile(api: StripeApi, policy: Policy, *, since_days: int, dry_run: bool = False,
              progress: Progress = lambda line: None) -> Report:
    """Run the three passes.

    Raises StripeUnreachable (or the StripeCallFailed, for a refused key) when
    Stripe fails the very first call, before anything changed; a failure later
    cuts the report short instead.
    """
    report = Report(dry_run=dry_run, since_days=since_days)
    started = False
    try:
        for page in api.pages("events", _event_query(since_days)):
            started = True
            _feed(page.data.get("data") or [], policy, report, api)
            if _is_long(page):
                progress(f"events: {sum(report.events.values())} listed")
        started = True
        _apply_pending(api, policy, report)
        _check_subscriptions(api, policy, report, progress)
    except StripeCallFailed as exc:
        if not started and isinstance(exc, StripeUnavailable):  # the first call: no change
            raise StripeUnreachable(str(exc)) from None
        if not started:
            raise
        report.cut_short = f"Stripe failed a call ({exc}); the rest was not checked"
    except (DatabaseUnavailable, DriftFailed):
        db.session.rollback()
        report.cut_short = "the database became unavailable; the rest was not checked"
    return report


def _event_query(since_days: int) -> dict[str, Any]:
    return {"types": list(WEBHOOK_TYPES), "delivery_success": False,
            "created": {"gte": int(time.time()) - since_days * DAY_SECONDS}}


def _feed(events: list[dict[str, Any]], policy: Policy, report: Report, api: StripeApi) -> None:
    for data in events:
        try:
            event = parse_event(json.dumps(data))
        except InvalidPayload:
            report.events["unreadable"] += 1
            continue
        if report.dry_run:
            report.events["new" if _is_new(event.id) else "seen"] += 1
            continue
        try:
            report.events[str(receive_event(event, policy, api))] += 1
        except ProcessingFailed:
            report.events["failed"] += 1
            report.event_failures.append({"event_id": event.id, "type": event.type,
                                          "error": _last_error(event.id)})


def _apply_pending(api: StripeApi, policy: Policy, report: Report) -> None:
    rows = db.session.execute(
        select(InboxEvent.event_id, InboxEvent.payload)
        .where(InboxEvent.status == InboxStatus.PENDING)
        .order_by(InboxEvent.stripe_created, InboxEvent.id)).all()
    db.session.rollback()  # plain tuples; nothing held while Stripe is asked
    for event_id, payload in rows:
        if report.dry_run:
            report.thin["pending"] += 1
            report.thin_left.append(event_id)
            continue
        try:
            outcome: Outcome | str = receive_event(parse_event(payload), policy, api)
        except (InvalidPayload, ProcessingFailed):
            outcome = Outcome.PENDING if _still_pending(event_id) else "failed"
        report.thin[str(outcome)] += 1
        if outcome in (Outcome.PENDING, "failed"):
            report.thin_left.append(event_id)


def _check_subscriptions(api: StripeApi, policy: Policy, report: Report,
                         progress: Progress) -> None:
    check = DriftCheck(policy=policy, dry_run=report.dry_run)
    for page in api.pages("subscriptions", {"status": "all"}):
        check.page_fetched(fetched_created(page.date))
        for obj in page.data.get("data") or []:
            report.checked += 1
            drift = check_subscription(obj, check)
            if drift is not None:
                report.drift.append(drift)
                _log_drift(drift)
        if _is_long(page):
            progress(f"subscriptions: {report.checked} checked")
    for drift in unknown_to_stripe(check):
        report.drift.append(drift)
        _log_drift(drift)


def _is_long(page: Answer) -> bool:
    # Progress only on runs of several pages: an hourly cron job stays quiet.
    return bool(page.data.get("has_more")) or not page.first_page


def _log_drift(drift: Drift) -> None:
    fields = ", ".join(f"{name} {ours} -> {theirs}"
                       for name, (ours, theirs) in drift.differences.items())
    if drift.healed:
        log.info("Reconcile healed %s: %s", drift.subscription, fields)
    elif drift.skipped:
        log.info("Reconcile left %s: %s", drift.subscription, drift.reason)
    else:
        log.warning("Reconcile could not heal %s (%s): %s", drift.subscription, fields,
                    drift.reason)


def _is_new(event_id: str) -> bool:
    found = db.session.scalar(select(InboxEvent.status).where(InboxEvent.event_id == event_id))
    db.session.rollback()
    return found is None or found in (InboxStatus.FAILED, InboxStatus.PENDING)


def _last_error(event_id: str) -> str:
    error = db.session.scalar(select(InboxEvent.last_error)
                              .where(InboxEvent.event_id == event_id))
    db.session.rollback()
    return " ".join((error or "unknown error").split())[:200]


def _still_pending(event_id: str) -> bool:
    status = db.session.scalar(select(InboxEvent.status).where(InboxEvent.event_id == event_id))
    db.session.rollback()
    return status == InboxStatus.PENDING
