"""Small pieces every command shares: the policy from config, a user by email."""
from __future__ import annotations

import click
from flask import current_app

from subsvc.accounts.entitlement import Policy
from subsvc.accounts.users import find_user_by_email
from subsvc.extensions import db
from subsvc.models import User


def policy() -> Policy:
    return Policy.from_config(current_app.config)


def user_or_fail(email: str) -> User:
    user = find_user_by_email(db.session, email)
    if user is None:
        raise click.ClickException(f"no user with email {email}")
    return user
