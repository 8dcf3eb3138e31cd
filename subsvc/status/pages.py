"""HTML pages of the status blueprint: key look-up, operator look-up and the post-checkout welcome.

Only the welcome page writes: it reveals a user's first API key, once (CONTRACT section 4).
"""
from __future__ import annotations

import logging
import re
from typing import Any

from flask import Response, current_app, make_response, render_template, request
from sqlalchemy import select

from subsvc.accounts.api_keys import reveal_key_once, user_for_key
from subsvc.accounts.entitlement import Policy
from subsvc.accounts.users import find_user_by_email
from subsvc.events import is_storable_email
from subsvc.extensions import db
from subsvc.models import Subscription, User
from subsvc.status.access import has_admin_basic
from subsvc.status.blueprint import bp
from subsvc.status.payloads import user_status

log = logging.getLogger(__name__)

# Stripe Checkout Session ids look like cs_test_a1B2… / cs_live_…; the column holds 255.
CHECKOUT_SESSION_ID = re.compile(r"cs_[A-Za-z0-9_]{1,252}")
# Every page may carry a key or personal data: never cache it, never leak the URL (it holds
# the checkout session id or an email) as a referrer. The pages run no script and load
# nothing, so the policy allows inline styles and same-origin forms only.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
}
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="subsvc"'}


def page(template: str, status: int = 200, headers: dict[str, str] | None = None,
         **context: Any) -> Response:
    response = make_response(render_template(f"status/{template}", **context), status)
    response.headers.update({**PAGE_HEADERS, **(headers or {})})
    return response


def status_page(user: User, *, operator: bool) -> Response:
    info = user_status(db.session, user, Policy.from_config(current_app.config))
    return page("status.html", info=info, operator=operator)


def message(status: int, title: str, text: str, headers: dict[str, str] | None = None) -> Response:
    return page("message.html", status, headers, title=title, text=text)


@bp.get("")
def lookup() -> Response:
    return page("lookup.html")


@bp.post("")
def lookup_result() -> Response:
    # The submitted key is never passed to a template, so no page can echo it.
    key = request.form.get("api_key", "").strip()
    user = user_for_key(db.session, key) if key else None
    if user is None:
        log.warning("Status page look-up with a missing or unknown API key")
        return page("lookup.html", 401, error="That API key is not valid. Check it and try again.")
    return status_page(user, operator=False)


@bp.get("/users")
def user_page() -> Response:
    expected = current_app.config["STATUS_ADMIN_TOKEN"]
    if not expected:
        return message(503, "Operator look-ups are off",
                       "Set STATUS_ADMIN_TOKEN to enable look-ups by email.")
    if not has_admin_basic(request, expected):
        log.warning("Operator status page: missing or wrong credentials")
        return message(401, "Sign-in required",
                       "Sign in with any user name and the admin token as password.", BASIC_CHALLENGE)
    email = request.args.get("email", "").strip()
    if not email:
        return page("operator_lookup.html")
    # An email no user can have (NUL, over 320 characters) is not even looked up.
    user = find_user_by_email(db.session, email) if is_storable_email(email) else None
    if user is None:
        return page("operator_lookup.html", 404, email=email, error="No user has that email.")
    return status_page(user, operator=True)


@bp.get("/welcome")
def welcome() -> Response:
    session_id = request.args.get("session_id", "")
    if not CHECKOUT_SESSION_ID.fullmatch(session_id):
        return message(400, "This link is incomplete",
                       "Open the link from your checkout confirmation again, "
                       "or contact support if this keeps happening.")
    user = user_for_checkout(session_id)
    if user is None:
        # Stripe redirects the browser before (or while) it delivers the webhook.
        return page("welcome_pending.html")
    # HEAD (link checkers, prefetchers) must not spend the one-time reveal on an unseen body.
    key = reveal_key_once(db.session, user) if request.method == "GET" else None
    if key is not None:
        db.session.commit()  # the blueprint's only state change; commit before showing the key
        log.info("Revealed API key on the welcome page for user %s", user.id)
    return page("welcome.html", user=user, key=key)


def user_for_checkout(session_id: str) -> User | None:
    stmt = (select(User).join(Subscription, Subscription.user_id == User.id)
            .where(Subscription.checkout_session_id == session_id))
    return db.session.scalars(stmt).one_or_none()
