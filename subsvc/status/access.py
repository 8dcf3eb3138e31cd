"""Credential checks for the status blueprint: bearer API key, bearer or Basic admin token,
and the same-origin check of the welcome page's reveal."""
from __future__ import annotations

import hmac
from urllib.parse import urlsplit

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


# Sec-Fetch-Site values of a request that no other site started: a form on our own page,
# or the visitor's own action (typed, bookmarked, reloaded).
OWN_FETCH_SITES = frozenset({"same-origin", "none"})


def is_cross_site(request: Request) -> bool:
    """Whether another site's page made the browser send this request.

    Browsers set Sec-Fetch-Site themselves (page script cannot), so when it is present it
    decides; "same-site" counts as foreign, as a sibling subdomain may be someone else's.
    Older browsers send only Origin: a foreign or opaque ("null") one is refused. It is
    compared with the Host the request came in on, not the scheme, which a TLS-terminating
    proxy changes. With neither header (curl, scripts) nothing suggests a third-party page.
    """
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site.strip().lower() not in OWN_FETCH_SITES
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    try:
        netloc = urlsplit(origin.strip()).netloc
    except ValueError:  # e.g. "http://[::1": not an origin at all
        return True
    return netloc.lower() != request.host.lower()
