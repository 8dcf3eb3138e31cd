"""`flask doctor`: the environment checklist of CONTRACT section 3.

One line per problem and never a secret's value: only names, lengths and prefixes.
"""
from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import text

from subsvc.accounts.tiers import all_tiers, tier_set_problems
from subsvc.config import SECRET_MIN_LENGTH
from subsvc.errors import describe
from subsvc.extensions import db
from subsvc.health import database_revisions
from subsvc.migrations import head_revisions, migrations_dir
from subsvc.stripe_api import (
    WEBHOOK,
    WEBHOOK_TYPES,
    StripeApi,
    StripeCallFailed,
    StripeRefused,
    StripeUnavailable,
    api_from_config,
)

WEBHOOK_PATH = "/api/webhooks/stripe"

MIN_SECRET_LENGTH = SECRET_MIN_LENGTH  # every secret and token (CONTRACT section 3)
STRIPE_KEY_PREFIXES = ("sk_", "rk_")  # secret and restricted keys
QUOTES = "'\"`"


def secret_problems(name: str, value: str, *, prefix: str | None = None) -> list[str]:
    """What is wrong with one secret's shape; never its value.

    Quotes and whitespace pasted along with a secret are the most common cause
    of signature failures: the quotes become part of the secret. One cause
    gives one line, so a quoted whsec_ secret is not also "missing its prefix".
    """
    if value[:1] in QUOTES or value[-1:] in QUOTES:
        return [f"{name} is wrapped in quotes: remove them, they become part of the secret"]
    problems = []
    if any(char.isspace() for char in value):
        problems.append(f"{name} contains whitespace: copy the secret again")
    if prefix and not value.startswith(prefix):
        # Another kind of value pasted here: its length says nothing more.
        problems.append(f"{name} does not start with {prefix}")
    elif len(value) < MIN_SECRET_LENGTH:
        problems.append(f"{name} is {len(value)} characters; use at least {MIN_SECRET_LENGTH}")
    return problems


def check_settings(config: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(problems, notes) about the secrets and URLs; pure, so it needs no database."""
    problems, notes = [], []
    secrets = config["STRIPE_WEBHOOK_SECRET"]
    internal, url = config["INTERNAL_WEBHOOK_SECRET"], config["INTERNAL_WEBHOOK_URL"]
    # One process needs only the webhook secret; an edge that forwards (URL set)
    # needs both; a core behind another edge needs only the internal secret.
    if not secrets and not internal:
        problems.append("STRIPE_WEBHOOK_SECRET is not set, nor INTERNAL_WEBHOOK_SECRET: "
                        "no endpoint accepts events")
    elif not secrets:
        notes.append("STRIPE_WEBHOOK_SECRET is not set: fine for a core behind another edge "
                     "(/api/webhooks/stripe answers 503)")
    elif not internal and url:
        problems.append("INTERNAL_WEBHOOK_SECRET is not set: forwarding to INTERNAL_WEBHOOK_URL "
                        "fails")
    elif not internal:
        notes.append("INTERNAL_WEBHOOK_SECRET is not set: fine in one process "
                     "(the internal endpoint answers 503)")
    for n, secret in enumerate(secrets, start=1):
        name = f"STRIPE_WEBHOOK_SECRET entry {n} of {len(secrets)}"
        problems += secret_problems(name, secret, prefix="whsec_")
    if internal:
        problems += secret_problems("INTERNAL_WEBHOOK_SECRET", internal)
    if url:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append("INTERNAL_WEBHOOK_URL is not an http(s) URL")
    token = config["STATUS_ADMIN_TOKEN"]
    if not token:
        notes.append("STATUS_ADMIN_TOKEN is not set: admin look-ups are off")
    else:
        problems += secret_problems("STATUS_ADMIN_TOKEN", token)
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
    return tier_set_problems(all_tiers(db.session))


def price_map() -> list[str]:
    """Which prices buy which tier, one note per tier, so an operator can eyeball the mapping."""
    return [f"tier {tier.name} (rank {tier.rank}): "
            + (", ".join(tier.prices) if tier.prices else "no prices (metadata.tier only)")
            for tier in all_tiers(db.session)]


def check_webhook_endpoints(api: StripeApi) -> tuple[list[str], list[str]]:
    """(problems, notes): an enabled endpoint at …/api/webhooks/stripe sends every handled type.

    Stripe does not know which of its endpoints is this service, so every
    endpoint whose path is subsvc's is checked. Unreachable Stripe is a note:
    doctor runs offline too.
    """
    try:
        endpoints = [endpoint for page in api.pages("webhook_endpoints", {})
                     for endpoint in page.data.get("data") or []]
    except StripeUnavailable as exc:
        return [], [f"Stripe unreachable ({exc}): webhook endpoint not checked"]
    except StripeRefused as exc:
        return [f"{exc}: webhook endpoint not checked"], []
    except StripeCallFailed as exc:
        return [], [f"{exc}: webhook endpoint not checked"]
    ours = [e for e in endpoints
            if urllib.parse.urlsplit(str(e.get("url") or "")).path.rstrip("/") == WEBHOOK_PATH]
    if not ours:
        return [f"no Stripe webhook endpoint ends in {WEBHOOK_PATH}: Stripe sends subsvc "
                "nothing (add one in the Dashboard, Developers > Webhooks)"], []
    problems, notes = [], []
    for endpoint in ours:
        url, events = _without_query(str(endpoint["url"])), endpoint.get("enabled_events") or []
        missing = [] if "*" in events else [t for t in WEBHOOK_TYPES if t not in events]
        if endpoint.get("status") != "enabled":
            problems.append(f"webhook endpoint {url} is {endpoint.get('status')}: enable it")
        if missing:
            problems.append(f"webhook endpoint {url} does not send: {', '.join(missing)}")
        if endpoint.get("status") == "enabled" and not missing:
            notes.append(f"webhook endpoint {url} is enabled and sends every handled type")
    return problems, notes


def _without_query(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts._replace(query="", fragment="", netloc=parts.netloc.rpartition("@")[2]).geturl()


@click.command("doctor")
@with_appcontext
def doctor_command() -> None:
    """Check settings, database, migrations and tiers; exit 1 when anything is wrong."""
    problems, notes = check_settings(current_app.config)
    database_problems = check_database()
    if not database_problems:
        notes += price_map()
    problems += database_problems
    # Answer quickly (no retries); a key of the wrong kind is a problem above already.
    api = api_from_config(current_app.config, WEBHOOK)
    if api is not None and str(current_app.config["STRIPE_SECRET_KEY"]).startswith(
            STRIPE_KEY_PREFIXES):
        db.session.rollback()  # no transaction (on SQLite: the write lock) across a Stripe call
        endpoint_problems, endpoint_notes = check_webhook_endpoints(api)
        problems, notes = problems + endpoint_problems, notes + endpoint_notes
    for note in notes:
        click.echo(f"note: {note}")
    for problem in problems:
        click.echo(f"problem: {problem}")
    if problems:
        raise click.ClickException(f"{len(problems)} problem(s) found")
    click.echo("All checks passed.")
