"""`flask seed tiers [--file]` and `flask seed demo`."""
from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import AppGroup

from subsvc.accounts.tiers import default_tiers, seed_tiers
from subsvc.extensions import db

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
