"""Blueprint `health`: /healthz (process up) and /readyz (database reachable and migrated)."""
from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from subsvc.errors import is_connection_error
from subsvc.extensions import db, reconnecting

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


@cache
def head_revisions(migrations_dir: str) -> frozenset[str]:
    return frozenset(ScriptDirectory(migrations_dir).get_heads())


def migrations_dir() -> str:
    return str(Path(current_app.extensions["migrate"].directory).resolve())


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
        # Only a reachable database can be "not migrated".
        reachable = not is_connection_error(exc) and is_reachable()
        reason = "migrations_pending" if reachable else "database_unavailable"
        log.warning("Not ready: %s (%s)", reason, type(exc).__name__)
        return jsonify({"status": "unavailable", "error": reason}), 503
    if current != head_revisions(migrations_dir()):
        return jsonify({"status": "unavailable", "error": "migrations_pending"}), 503
    return jsonify({"status": "ok"})


def is_reachable() -> bool:
    """After a failed revision query: is the database there at all (just not migrated)?"""
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        db.session.rollback()
