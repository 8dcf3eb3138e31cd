"""`flask doctor`: the environment checklist of CONTRACT section 3.

One line per problem and never a secret's value: only names, lengths and prefixes.
"""
from __future__ import annotations

import urllib.parse
from collections import Counter
from collections.abc import Mapping
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import text

from subsvc.accounts.tiers import FREE, all_tiers
from subsvc.config import SECRET_MIN_LENGTH
from subsvc.extensions import db
from subsvc.health import database_revisions, head_revisions, migrations_dir
from subsvc.inbox import describe

STRIPE_KEY_PREFIXES = ("sk_", "rk_")  # secret and restricted keys


def check_settings(config: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(problems, notes) about the secrets and URLs; pure, so it needs no database."""
    problems, notes = [], []
    secrets = config["STRIPE_WEBHOOK_SECRET"]
    if not secrets:
        problems.append("STRIPE_WEBHOOK_SECRET is not set: /api/webhooks/stripe answers 503")
    for n, secret in enumerate(secrets, start=1):
        if not secret.startswith("whsec_"):
            problems.append(f"STRIPE_WEBHOOK_SECRET entry {n} of {len(secrets)} does not start with whsec_")
        elif len(secret) < SECRET_MIN_LENGTH:
            problems.append(f"STRIPE_WEBHOOK_SECRET entry {n} of {len(secrets)} is {len(secret)} "
                            f"characters; use at least {SECRET_MIN_LENGTH}")
    internal, url = config["INTERNAL_WEBHOOK_SECRET"], config["INTERNAL_WEBHOOK_URL"]
    if not internal:
        problems.append("INTERNAL_WEBHOOK_SECRET is not set: the internal endpoint answers 503"
                        + (" and forwarding to INTERNAL_WEBHOOK_URL fails" if url else ""))
    elif len(internal) < SECRET_MIN_LENGTH:
        problems.append(f"INTERNAL_WEBHOOK_SECRET is {len(internal)} characters; "
                        f"use at least {SECRET_MIN_LENGTH}")
    if url:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append("INTERNAL_WEBHOOK_URL is not an http(s) URL")
    token = config["STATUS_ADMIN_TOKEN"]
    if not token:
        notes.append("STATUS_ADMIN_TOKEN is not set: admin look-ups are off")
    elif len(token) < SECRET_MIN_LENGTH:
        problems.append(f"STATUS_ADMIN_TOKEN is {len(token)} characters; "
                        f"use at least {SECRET_MIN_LENGTH}")
    key = config["STRIPE_SECRET_KEY"]
    if key and not key.startswith(STRIPE_KEY_PREFIXES):
        problems.append("STRIPE_SECRET_KEY is not a secret key (sk_…) or restricted key (rk_…)")
    return problems, notes


def check_database() -> list[str]:
    """Reachable, migrated to head, tiers seeded; later checks need the earlier ones."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # whatever the driver raises, the answer is "unreachable"
        db.session.rollback()
        return [f"database unreachable: {describe(exc).splitlines()[0]}"]
    try:
        current = database_revisions()
    except Exception:  # no alembic_version table: never migrated
        db.session.rollback()
        return ["database has no migrations applied: run `flask db upgrade`"]
    head = head_revisions(migrations_dir())
    if current != head:
        return [f"database at migration {', '.join(sorted(current)) or 'none'}, code at "
                f"{', '.join(sorted(head))}: run `flask db upgrade`"]
    return check_tiers()


def check_tiers() -> list[str]:
    tiers = all_tiers(db.session)
    if not tiers:
        return ["no tiers: run `flask seed tiers`"]
    problems = []
    free = next((tier for tier in tiers if tier.name == FREE), None)
    if free is None:
        problems.append("no 'free' tier, the tier of everyone without a subscription: run `flask seed tiers`")
    else:
        problems += [f"tier {tier.name} ranks below 'free' (rank {tier.rank} < {free.rank})"
                     for tier in tiers if tier.rank < free.rank]
    shared = [rank for rank, count in Counter(tier.rank for tier in tiers).items() if count > 1]
    for rank in shared:
        names = ", ".join(tier.name for tier in tiers if tier.rank == rank)
        problems.append(f"tiers {names} share rank {rank}: which one wins is ambiguous")
    owners: dict[str, list[str]] = {}
    for tier in tiers:
        for price in tier.prices or []:
            owners.setdefault(price, []).append(tier.name)
    problems += [f"price {price} is listed by tiers {', '.join(names)}"
                 for price, names in owners.items() if len(names) > 1]
    return problems


@click.command("doctor")
@with_appcontext
def doctor_command() -> None:
    """Check settings, database, migrations and tiers; exit 1 when anything is wrong."""
    problems, notes = check_settings(current_app.config)
    problems += check_database()
    for note in notes:
        click.echo(f"note: {note}")
    for problem in problems:
        click.echo(f"problem: {problem}")
    if problems:
        raise click.ClickException(f"{len(problems)} problem(s) found")
    click.echo("All checks passed.")


group = doctor_command
