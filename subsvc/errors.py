"""The ApiError family and the handlers that turn every failure into {"error": code}.

No answer carries a stack trace, a secret or SQL text: unexpected exceptions
are logged with their traceback and answered with a bare code.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from subsvc.status.html import error_page, is_page_path

log = logging.getLogger(__name__)


class ApiError(Exception):
    status: int = 500
    code: str = "internal_error"

    def __init__(self, **extra: Any) -> None:
        super().__init__(self.code)
        self.extra = extra


class InvalidSignature(ApiError):
    status, code = 400, "invalid_signature"


class InvalidPayload(ApiError):
    status, code = 400, "invalid_payload"


class BadCredentials(ApiError):
    """401: a missing or wrong key, token or shared secret (Werkzeug's Unauthorized is a page)."""
    status, code = 401, "unauthorized"


class UserNotFound(ApiError):
    """No user answers an operator's look-up (not Werkzeug's NotFound: no route matched)."""

    status, code = 404, "not_found"


class NotConfigured(ApiError):
    status, code = 503, "not_configured"


class ProcessingFailed(ApiError):
    status, code = 500, "processing_failed"


class ForwardingFailed(ApiError):
    # CONTRACT section 4 keeps the body code `processing_failed` for forwarding;
    # the status (502 core failed, 503 core unreachable) tells them apart.
    code = "processing_failed"

    def __init__(self, status: int, **extra: Any) -> None:
        super().__init__(**extra)
        self.status = status


class DatabaseUnavailable(ApiError):
    status, code = 503, "database_unavailable"


def is_connection_error(exc: BaseException) -> bool:
    """True for 'the database is unreachable', as opposed to a bad statement."""
    return isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or isinstance(exc, OperationalError)
    )


# The inbox keeps an error's text in `last_error`; a cause longer than this is cut.
MAX_ERROR_LENGTH = 2000


def describe(exc: BaseException) -> str:
    """A one-line cause for the inbox, the log and the CLI, without SQL text or parameters.

    A database error's own message carries the statement and its values (emails, payloads);
    the driver's exception beneath it says what went wrong without them.
    """
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    return f"{type(cause).__name__}: {cause}"[:MAX_ERROR_LENGTH]


def is_api_path() -> bool:
    return not is_page_path(request.path)


def _render(status: int, code: str, headers: dict[str, str] | None = None,
            **extra: Any) -> ResponseReturnValue:
    if not is_api_path():
        # The operator and customer pages get a page, not JSON: status/html.py, the one
        # way every page is made, so an error page carries the same layout and headers.
        return error_page(status, headers)
    return jsonify({"error": code, **extra}), status, headers or {}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def on_api_error(exc: ApiError) -> ResponseReturnValue:
        return _render(exc.status, exc.code, **exc.extra)

    @app.errorhandler(HTTPException)
    def on_http_error(exc: HTTPException) -> ResponseReturnValue:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        status = exc.code or 500
        # Keep what the status needs said (Allow on a 405), not Werkzeug's Content-Type.
        headers = {key: value for key, value in exc.get_headers()
                   if key.lower() != "content-type"}
        return _render(status, codes.get(status, (exc.name or "error").lower().replace(" ", "_")),
                       headers)

    @app.errorhandler(Exception)
    def on_unexpected(exc: Exception) -> ResponseReturnValue:
        if is_connection_error(exc):
            log.error("Database unavailable on %s %s: %s", request.method, request.path,
                      type(exc.orig if isinstance(exc, DBAPIError) else exc).__name__)
            return _render(503, DatabaseUnavailable.code)
        log.exception("Unhandled error on %s %s", request.method, request.path)
        return _render(500, "internal_error")
