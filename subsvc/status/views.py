"""The `status` blueprint, all its routes: the JSON API and the HTML pages.

The JSON API (/status/api/…) answers product back ends and operators. The pages are the
key look-up, the operator look-up and the post-checkout welcome; only the welcome page
writes: a POST from its own button reveals a user's first API key, once, under the rules
of accounts/welcome.py (CONTRACT section 4).
"""
from __future__ import annotations

import logging
import re
import time

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from subsvc.accounts.api_keys import user_for_key
from subsvc.accounts.entitlement import Policy
from subsvc.accounts.users import find_user_by_email
from subsvc.accounts.welcome import (
    Welcome,
    checkout_subscription,
    reveal_for_checkout,
    welcome_state,
)
from subsvc.errors import BadCredentials, InvalidPayload, NotConfigured, UserNotFound
from subsvc.events import is_storable_email
from subsvc.extensions import db, reconnecting
from subsvc.models import User
from subsvc.status.access import (
    bearer_token,
    has_admin_basic,
    is_cross_site,
    require_admin_bearer,
)
from subsvc.status.detail import account_summary, user_detail
from subsvc.status.html import message, page, secure_pages
from subsvc.status.payloads import status_for_key, user_status

log = logging.getLogger(__name__)

bp = Blueprint("status", __name__, url_prefix="/status")

API_PREFIX = "/status/api/"
# Stripe Checkout Session ids look like cs_test_a1B2… / cs_live_…; the column holds 255.
CHECKOUT_SESSION_ID = re.compile(r"cs_[A-Za-z0-9_]{1,252}")
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="subsvc"'}
PENDING_REFRESH_SECONDS = 5
PENDING_REFRESHES = 12  # 12 x 5 s: the "setting up" page refreshes for at most a minute

# Every answer on a page path, whoever made it, gets the pages' security headers.
bp.after_app_request(secure_pages)


def policy() -> Policy:
    return Policy.from_config(current_app.config)


# --- the JSON API ---------------------------------------------------------------------------


@bp.after_app_request
def no_store(response: Response) -> Response:
    """Every /status/api answer, errors too: they carry a user's data or say whose key works.

    App-wide (not only this blueprint's routes), so a 404 or 405 under the prefix, which
    matches no route of the blueprint, gets the header as well.
    """
    if request.path.startswith(API_PREFIX):
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/api/me")
@reconnecting
def me() -> ResponseReturnValue:
    # One SELECT by key hash (status/payloads.py), rather than finding the user first.
    token = bearer_token(request)
    status = None
    if token:
        with db.engine.connect() as connection:
            status = status_for_key(connection, token, policy())
    if status is None:
        raise BadCredentials()
    return jsonify(status)


@bp.get("/api/users")
@reconnecting
def user_by_email() -> ResponseReturnValue:
    require_admin_bearer(request)
    email = request.args.get("email", "").strip()
    if not email:
        raise InvalidPayload(detail="email is required")
    # An email no user can have (NUL, over 320 characters) is not even looked up.
    user = find_user_by_email(db.session, email) if is_storable_email(email) else None
    if user is None:
        raise UserNotFound()
    return jsonify(user_status(db.session, user, policy()))


# --- the pages ------------------------------------------------------------------------------


def status_page(user: User, *, operator: bool) -> Response:
    if operator:
        return page("operator_status.html", info=user_detail(db.session, user, policy()))
    return page("status.html", info=account_summary(db.session, user, policy()))


@bp.get("")
def lookup() -> Response:
    return page("lookup.html")


@bp.post("")
@reconnecting
def lookup_result() -> Response:
    # The submitted key is never passed to a template, so no page can echo it.
    key = request.form.get("api_key", "").strip()
    user = user_for_key(db.session, key) if key else None
    if user is None:
        log.warning("Status page look-up with a missing or unknown API key")
        return page("lookup.html", 401, error="That API key is not valid. Check it and try again.")
    return status_page(user, operator=False)


@bp.get("/users")
@reconnecting
def user_page() -> Response:
    try:
        signed_in = has_admin_basic(request)  # logs a wrong token (status/access.py)
    except NotConfigured:
        return message(503, "Operator look-ups are off",
                       "Set STATUS_ADMIN_TOKEN (at least 32 characters) to enable look-ups "
                       "by email.")
    if not signed_in:
        return message(401, "Sign-in required",
                       "Sign in with any user name and the admin token as password.",
                       BASIC_CHALLENGE)
    email = request.args.get("email", "").strip()
    if not email:
        return page("operator_lookup.html")
    # An email no user can have (NUL, over 320 characters) is not even looked up.
    user = find_user_by_email(db.session, email) if is_storable_email(email) else None
    if user is None:
        return page("operator_lookup.html", 404, email=email, error="No user has that email.")
    return status_page(user, operator=True)


@bp.get("/welcome")
@reconnecting
def welcome() -> Response:
    """Say where the key stands; offer a button when it can be revealed, never reveal here.

    Link previews, prefetchers and mail scanners GET (and HEAD) links unasked, so a GET that
    revealed would spend the one-time reveal on a body nobody sees, or show it to them.
    """
    session_id = request.args.get("session_id", "")
    if not CHECKOUT_SESSION_ID.fullmatch(session_id):
        return bad_welcome_link()
    state = welcome_state(checkout_subscription(db.session, session_id), now=int(time.time()),
                          window_hours=current_app.config["WELCOME_REVEAL_HOURS"])
    if state is Welcome.PENDING:
        return pending(session_id, request.args.get("attempt", 0, type=int))
    return page("welcome.html", state=state, session_id=session_id)


@bp.post("/welcome")
def welcome_reveal() -> Response:
    """The visitor pressed "Show my API key": reveal it once (row-locked) and never cache it.

    Refused with 403 when another site's page sent the form (is_cross_site), so a third
    party holding a session id cannot make the visitor's browser spend the reveal.
    """
    if is_cross_site(request):
        log.warning("Refused a cross-site POST to the welcome page")
        return message(403, "This request came from another site",
                       "Open the link from your checkout confirmation and press the button there.")
    session_id = request.form.get("session_id", "")
    if not CHECKOUT_SESSION_ID.fullmatch(session_id):
        return bad_welcome_link()
    state, key = reveal_for_checkout(db.session, session_id, now=int(time.time()),
                                     window_hours=current_app.config["WELCOME_REVEAL_HOURS"])
    if key is not None:
        db.session.commit()  # the blueprint's only state change; commit before showing the key
    if state is Welcome.PENDING:
        return pending(session_id, 0)
    return page("welcome.html", state=state, key=key)


def bad_welcome_link() -> Response:
    return message(400, "This link is incomplete",
                   "Open the link from your checkout confirmation again, "
                   "or contact support if this keeps happening.")


def pending(session_id: str, attempt: int) -> Response:
    """Stripe redirects the browser before (or while) it delivers the webhook: refresh, with
    a counter in the URL, for at most PENDING_REFRESHES x PENDING_REFRESH_SECONDS (a minute).
    A meta refresh, as the pages run no script (CSP)."""
    attempt = min(max(attempt, 0), PENDING_REFRESHES)
    next_url = (url_for("status.welcome", session_id=session_id, attempt=attempt + 1)
                if attempt < PENDING_REFRESHES else None)
    return page("welcome_pending.html", next_url=next_url, seconds=PENDING_REFRESH_SECONDS)
