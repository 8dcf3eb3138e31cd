"""`flask seed tiers [--file]` and `flask seed demo`."""
from __future__ import annotations

import json
import time
from pathlib import Path

import click
from flask.cli import AppGroup

from subsvc.accounts.tiers import UnknownTier, default_tiers, seed_tiers
from subsvc.cli.common import policy, user_or_fail
from subsvc.cli.demo import DEMO_USERS, feed_demo
from subsvc.errors import ProcessingFailed
from subsvc.extensions import db
from subsvc.status.payloads import user_status

group = AppGroup("seed", help="Seed tiers and demo data.")


@group.command("tiers")
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON tier file; its tiers are upserted by name.")
def tiers_command(path: Path | None) -> None:
    """Without --file: add the built-in tiers that are missing (never overwrites)."""
    if path is None:
        specs, overwrite = default_tiers(), False
    else:
        try:
            data = json.loads(path.read_text())
            specs = data["tiers"]
            if not isinstance(specs, list):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise click.ClickException(f'{path}: expected {{"tiers": [...]}}') from None
        overwrite = True
    try:
        changed = seed_tiers(db.session, specs, overwrite=overwrite)
    except ValueError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"Tiers added or updated: {', '.join(changed)}" if changed else "Tiers up to date.")


@group.command("demo")
def demo_command() -> None:
    """A few demo users fed through the inbox as real events; running it again changes nothing."""
    try:
        counts = feed_demo(policy(), now=int(time.time()))
    except UnknownTier as exc:
        raise click.ClickException(f"{exc}: run `flask seed tiers` first") from None
    except ProcessingFailed as exc:
        raise click.ClickException(
            f"demo event {exc.extra.get('event_id')} failed; see `flask events list --status failed`"
        ) from None
    summary = ", ".join(f"{count} {outcome}" for outcome, count in counts.items() if count)
    click.echo(f"Demo events: {summary}")
    for user in DEMO_USERS:
        status = user_status(db.session, user_or_fail(user.email), policy())
        sub = status["subscription"] or {}
        click.echo(f"{status['email']:<20} tier {status['tier']:<9} subscription {sub.get('status')}")
    click.echo("Show a user's API key with `flask keys rotate EMAIL`.")
