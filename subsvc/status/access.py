"""Credential checks for the status blueprint: bearer API key, bearer or Basic admin token."""
from __future__ import annotations

import hmac

from flask import Request

from subsvc.accounts.api_keys import user_for_key
from subsvc.errors import NotConfigured, Unauthorized
from subsvc.extensions import db
from subsvc.models import User


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def require_key_owner(request: Request) -> User:
    token = bearer_token(request)
    user = user_for_key(db.session, token) if token else None
    if user is None:
        raise Unauthorized()
    return user


def is_admin_token(given: str | None, expected: str | None) -> bool:
    if not expected:
        raise NotConfigured()
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def require_admin_bearer(request: Request, expected: str | None) -> None:
    if not is_admin_token(bearer_token(request), expected):
        raise Unauthorized()


def has_admin_basic(request: Request, expected: str | None) -> bool:
    auth = request.authorization
    password = auth.password if auth is not None and auth.type == "basic" else None
    return is_admin_token(password, expected)
