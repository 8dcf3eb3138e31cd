"""Credential checks for the status blueprint: bearer API key, bearer or Basic admin token,
and the same-origin check of the welcome page's reveal.

A wrong admin token is logged as one WARNING line per attempt with a fixed message
("Admin token rejected on <path> from <address>"), never the token given: a line per
failure is what log-based alerting counts (a rate over a window) without any state in
the service, and a guesser cannot outrun it since each guess costs a request that the
access log records anyway. A request with no admin credentials at all (a browser's first
visit to the operator page, before its sign-in prompt) is not a guess: INFO.
"""
from __future__ import annotations

import hmac
import logging
from urllib.parse import urlsplit

from flask import Request

from subsvc.credentials import require_secret
from subsvc.errors import BadCredentials

log = logging.getLogger(__name__)


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def admin_token() -> str:
    """STATUS_ADMIN_TOKEN; raises NotConfigured when unset or shorter than 32 characters."""
    return require_secret("STATUS_ADMIN_TOKEN")


def is_admin_token(request: Request, given: str | None) -> bool:
    expected = admin_token()
    if given is None:
        log.info("Admin look-up without credentials on %s from %s", request.path,
                 request.remote_addr)
        return False
    if hmac.compare_digest(given.encode(), expected.encode()):
        return True
    log.warning("Admin token rejected on %s from %s", request.path, request.remote_addr)
    return False


def require_admin_bearer(request: Request) -> None:
    if not is_admin_token(request, bearer_token(request)):
        raise BadCredentials()


def has_admin_basic(request: Request) -> bool:
    auth = request.authorization
    password = auth.password if auth is not None and auth.type == "basic" else None
    return is_admin_token(request, password or None)


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
