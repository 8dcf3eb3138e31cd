"""Blueprint `health`: /healthz (process up) and /readyz (database reachable and migrated)."""
from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import select, text

from subsvc.extensions import db, reconnecting
from subsvc.migrations import head_revisions, migrations_dir
from subsvc.models import InboxEvent, InboxStatus
from subsvc.models.base import now_utc

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


def newest_processed_age() -> float | None:
    """Seconds since the newest processed event was applied; None before the first.

    By id, newest first: the primary key's index finds it at once however long
    the history, where max(processed_at) would scan the whole table.
    """
    newest = db.session.scalar(
        select(InboxEvent.processed_at).where(InboxEvent.status == InboxStatus.PROCESSED)
        .order_by(InboxEvent.id.desc()).limit(1))
    return None if newest is None else round(max(0.0, (now_utc() - newest).total_seconds()), 3)


def database_revisions() -> frozenset[str]:
    rows = db.session.execute(text("SELECT version_num FROM alembic_version")).scalars()
    return frozenset(rows)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
@reconnecting
def readyz() -> ResponseReturnValue:
    try:
        current = database_revisions()
    except Exception as exc:  # any failure here means "not ready", never a trace
        if getattr(exc, "connection_invalidated", False):
            raise  # a dead pooled connection: @reconnecting tries a fresh one
        db.session.rollback()
        reason = "migrations_pending" if is_reachable() else "database_unavailable"
        log.warning("Not ready: %s (%s)", reason, type(exc).__name__)
        return jsonify({"status": "unavailable", "error": reason}), 503
    if current != head_revisions(migrations_dir()):
        return jsonify({"status": "unavailable", "error": "migrations_pending"}), 503
    age = newest_processed_age()
    db.session.rollback()  # end the read: on SQLite every transaction holds the write lock
    return jsonify({"status": "ok", "newest_processed_event_age_seconds": age})


def is_reachable() -> bool:
    """After a failed revision query: is the database there at all (just not migrated)?"""
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        db.session.rollback()
