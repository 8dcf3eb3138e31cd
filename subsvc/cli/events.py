"""`flask events list` and `flask events replay`: the inbox seen and re-run from the shell.

A replay goes through inbox.receive, the very function the webhook calls, so it
is applied, committed and (on failure) recorded exactly like a delivery.
"""
from __future__ import annotations

import json
from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy import select

from subsvc.cli.common import policy
from subsvc.errors import DatabaseUnavailable, InvalidPayload, ProcessingFailed
from subsvc.events import parse_event
from subsvc.extensions import db
from subsvc.inbox import receive
from subsvc.models import InboxEvent, InboxStatus
from subsvc.status.payloads import iso

group = AppGroup("events", help="Inspect and re-run inbox events.")

ERROR_WIDTH = 100


@group.command("list")
@click.option("--status", type=click.Choice([s.value for s in InboxStatus]), help="Only this status.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def list_command(status: str | None, limit: int, as_json: bool) -> None:
    """Newest first: received, event id, type, status, attempts and, if failed, the error."""
    stmt = select(InboxEvent).order_by(InboxEvent.received_at.desc(), InboxEvent.id.desc())
    if status:
        stmt = stmt.where(InboxEvent.status == status)
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
    todo = [tuple(row) for row in db.session.execute(stmt)]
    db.session.rollback()
    if event_id and not todo:
        raise click.ClickException(f"no event {event_id} in the inbox")
    if not todo:
        click.echo("No failed events.")
    failed = sum(not _replay_one(*row) for row in todo)
    if failed:
        raise click.ClickException(f"{failed} of {len(todo)} events failed")


def _replay_one(event_id: str, type_: str, payload: str) -> bool:
    name = f"{event_id} ({type_})"
    try:
        outcome = receive(parse_event(payload), policy(), replay=True)
    except InvalidPayload:
        click.echo(f"{name}: failed (the stored payload is not a Stripe event)")
        return False
    except ProcessingFailed:
        error = db.session.scalar(select(InboxEvent.last_error).where(InboxEvent.event_id == event_id))
        db.session.rollback()
        click.echo(f"{name}: failed ({_shorten(error or 'unknown error')})")
        return False
    except DatabaseUnavailable:
        raise click.ClickException("the database is unavailable") from None
    click.echo(f"{name}: {outcome}")
    return True


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
