"""JSON status API for product back ends and operators."""
from __future__ import annotations

from flask import Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from subsvc.accounts.entitlement import Policy
from subsvc.accounts.users import find_user_by_email
from subsvc.errors import InvalidPayload, NotFound, Unauthorized
from subsvc.events import is_storable_email
from subsvc.extensions import db, reconnecting
from subsvc.status.access import bearer_token, require_admin_bearer
from subsvc.status.blueprint import bp
from subsvc.status.payloads import status_for_key, user_status

API_PREFIX = "/status/api/"


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
    status = status_for_key(db.session, token, policy()) if token else None
    if status is None:
        raise Unauthorized()
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
        raise NotFound()
    return jsonify(user_status(db.session, user, policy()))


def policy() -> Policy:
    return Policy.from_config(current_app.config)
