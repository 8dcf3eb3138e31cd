"""`flask keys rotate` and `flask keys revoke`."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from subsvc.accounts.api_keys import revoke_key, rotate_key
from subsvc.cli.common import user_or_fail
from subsvc.extensions import db

group = AppGroup("keys", help="Issue and revoke API keys.")


@group.command("rotate")
@click.argument("email")
def rotate_command(email: str) -> None:
    """Issue a new key (printed alone on the last line) and invalidate the old one."""
    user = user_or_fail(email)
    key = rotate_key(user)  # counts as shown: the welcome page never reveals another
    db.session.commit()
    click.echo(f"New API key for {user.email} (shown once; the old key no longer works):", err=True)
    click.echo(key)


@group.command("revoke")
@click.argument("email")
def revoke_command(email: str) -> None:
    user = user_or_fail(email)
    revoke_key(user)
    db.session.commit()
    click.echo(f"Revoked the API key of {user.email}.")
