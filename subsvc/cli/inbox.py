"""`flask events list|replay|prune`: the inbox seen, re-run and trimmed from the shell.

The module is named for what it works on, inbox rows (subsvc/events.py is Stripe's
events); the command group keeps the name `events` that CONTRACT section 6 gives it.

A replay goes through inbox.receive, the very function the webhook calls, so it
is applied, committed and (on failure) recorded exactly like a delivery.
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import delete, select

from subsvc.cli.common import policy
from subsvc.errors import DatabaseUnavailable, InvalidPayload, ProcessingFailed
from subsvc.events import parse_event
from subsvc.extensions import db
from subsvc.models import InboxEvent, InboxStatus
from subsvc.models.base import iso, now_utc
from subsvc.stripe_api import api_from_config
from subsvc.thin import receive_event

group = AppGroup("events", help="Inspect and re-run inbox events.")

ERROR_WIDTH = 100
# More events than this replay under a progress bar, with only failures listed.
PROGRESS_THRESHOLD = 20
# Stripe retries a delivery for up to 3 days and its Events API keeps 30: a
# younger event may still arrive again, and must then still be a duplicate.
MIN_PRUNE_DAYS = 30
PRUNE_BATCH = 5000


@group.command("list")
@click.option("--status", type=click.Choice([s.value for s in InboxStatus]),
              help="Only this status.")
@click.option("--type", "type_", metavar="TYPE", help="Only this event type, e.g. invoice.paid.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def list_command(status: str | None, type_: str | None, limit: int, as_json: bool) -> None:
    """Newest first: received, event id, type, status, attempts and, if failed, the error."""
    stmt = select(InboxEvent).order_by(InboxEvent.received_at.desc(), InboxEvent.id.desc())
    if status:
        stmt = stmt.where(InboxEvent.status == status)
    if type_:
        stmt = stmt.where(InboxEvent.type == type_)
    rows = list(db.session.scalars(stmt.limit(limit)))
    if as_json:
        click.echo(json.dumps([_as_dict(row) for row in rows], indent=2))
        return
    if not rows:
        click.echo("No events.")
    for row in rows:
        line = (f"{iso(row.received_at)}  {row.event_id}  {row.type:<29}  {row.status:<9}  "
                f"attempts={row.attempts}")
        if row.status == InboxStatus.FAILED and row.last_error:
            line += f"  {_shorten(row.last_error)}"
        click.echo(line)


@group.command("replay")
@click.argument("event_id", required=False)
@click.option("--failed", "all_failed", is_flag=True, help="Re-run every failed event.")
def replay_command(event_id: str | None, all_failed: bool) -> None:
    """Re-run one event (even one already processed) or every failed one, oldest first."""
    if bool(event_id) == all_failed:
        raise click.UsageError("give an event ID or --failed (not both)")
    stmt = select(InboxEvent.event_id, InboxEvent.type, InboxEvent.payload)
    if event_id:
        stmt = stmt.where(InboxEvent.event_id == event_id)
    else:
        stmt = stmt.where(InboxEvent.status == InboxStatus.FAILED).order_by(
            InboxEvent.stripe_created, InboxEvent.id)
    # Plain tuples: receive() commits or rolls back, which would expire ORM rows.
    todo = [(eid, kind, payload) for eid, kind, payload in db.session.execute(stmt)]
    db.session.rollback()
    if event_id and not todo:
        raise click.ClickException(f"no event {event_id} in the inbox")
    if not todo:
        click.echo("No failed events.")
        return
    outcomes = _replay_all(todo)
    if len(todo) > 1:
        click.echo("Replayed " + ", ".join(f"{n} {outcome}" for outcome, n in outcomes.items()))
    if outcomes["failed"]:
        raise click.ClickException(f"{outcomes['failed']} of {len(todo)} events failed")


def _replay_all(todo: list[tuple[str, str, str]]) -> Counter[str]:
    """Replay each event; list each outcome, or under a progress bar only the failures."""
    outcomes: Counter[str] = Counter()
    quiet = len(todo) > PROGRESS_THRESHOLD
    with click.progressbar(todo, label="Replaying", file=sys.stderr,
                           hidden=not quiet) as rows:
        items: Iterable[tuple[str, str, str]] = rows
        for event_id, type_, payload in items:
            outcome, detail = _replay_one(event_id, payload)
            outcomes[outcome] += 1
            if not quiet or outcome == "failed":
                click.echo(f"{event_id} ({type_}): {outcome}" + (f" ({detail})" if detail else ""))
    return outcomes


def _replay_one(event_id: str, payload: str) -> tuple[str, str | None]:
    """(outcome, why it failed) of one event run through the inbox."""
    try:
        api = api_from_config(current_app.config)  # a thin event fetches its object again
        return str(receive_event(parse_event(payload), policy(), api, replay=True)), None
    except InvalidPayload:
        return "failed", "the stored payload is not a Stripe event"
    except ProcessingFailed:
        error = db.session.scalar(
            select(InboxEvent.last_error).where(InboxEvent.event_id == event_id))
        db.session.rollback()
        return "failed", _shorten(error or "unknown error")
    except DatabaseUnavailable:
        raise click.ClickException("the database is unavailable") from None


@group.command("prune")
@click.option("--older-than", "days", type=click.IntRange(min=MIN_PRUNE_DAYS), required=True,
              metavar="DAYS", help=f"Age in days, at least {MIN_PRUNE_DAYS}.")
@click.option("--dry-run", is_flag=True, help="Count what would go; delete nothing.")
def prune_command(days: int, dry_run: bool) -> None:
    """Delete processed and ignored events received more than DAYS ago; never a failed one.

    Deletes in batches, each its own transaction, so webhook deliveries are not
    held up behind one long delete (on SQLite, behind its single write lock).
    """
    cutoff = now_utc() - timedelta(days=days)
    prunable = (InboxEvent.status.in_([InboxStatus.PROCESSED, InboxStatus.IGNORED])
                & (InboxEvent.received_at < cutoff))
    if dry_run:
        count = len(db.session.scalars(select(InboxEvent.id).where(prunable)).all())
        db.session.rollback()
        click.echo(f"Would delete {count} events received before {iso(cutoff)}.")
        return
    deleted = 0
    while ids := db.session.scalars(select(InboxEvent.id).where(prunable).limit(PRUNE_BATCH)).all():
        db.session.execute(delete(InboxEvent).where(InboxEvent.id.in_(ids)))
        db.session.commit()
        deleted += len(ids)
    db.session.rollback()
    click.echo(f"Deleted {deleted} events received before {iso(cutoff)}.")


def _shorten(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= ERROR_WIDTH else line[: ERROR_WIDTH - 1] + "…"


def _as_dict(row: InboxEvent) -> dict[str, Any]:
    return {
        "event_id": row.event_id, "type": row.type, "status": row.status, "attempts": row.attempts,
        "received_at": iso(row.received_at), "processed_at": iso(row.processed_at),
        "stripe_created": row.stripe_created, "api_version": row.api_version,
        "livemode": row.livemode, "last_error": row.last_error,
    }
