"""`flask users create` and `flask users show`."""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup
from sqlalchemy.exc import IntegrityError

from subsvc.accounts.users import create_user
from subsvc.cli.common import policy, user_or_fail
from subsvc.extensions import db
from subsvc.status.payloads import user_status

group = AppGroup("users", help="Manage and inspect users.")


@group.command("create")
@click.argument("email")
@click.option("--external-id", help="Your product's user id (Checkout's client_reference_id).")
def create_command(email: str, external_id: str | None) -> None:
    if "@" not in email:
        raise click.ClickException(f"not an email address: {email}")
    try:
        user = create_user(db.session, email, external_id)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise click.ClickException("a user with that email or external id exists") from None
    click.echo(f"Created user {user.email}"
               + (f" ({user.external_id})" if user.external_id else ""))


@group.command("show")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print the status JSON.")
def show_command(email: str, as_json: bool) -> None:
    status = user_status(db.session, user_or_fail(email), policy())
    if as_json:
        click.echo(json.dumps(status, indent=2))
        return
    sub = status["subscription"] or {}
    click.echo(f"email:        {status['email']}")
    click.echo(f"external id:  {status['external_id'] or '-'}")
    entitled = "entitled" if status["entitled"] else "not entitled"
    click.echo(f"tier:         {status['tier']} ({entitled})")
    click.echo(f"subscription: {sub.get('id', '-')} {sub.get('status', '')}".rstrip())
    if sub:
        click.echo(f"price:        {sub['price_id'] or '-'}")
        click.echo(f"period end:   {sub['current_period_end'] or '-'}"
                   + ("  (cancels at period end)" if sub["cancel_at_period_end"] else ""))
    prefix = status["api_key_prefix"]
    click.echo(f"api key:      {prefix + '…' if prefix else '-'}")
