"""The ApiError family and the handlers that turn every failure into {"error": code}.

No answer carries a stack trace, a secret or SQL text: unexpected exceptions
are logged with their traceback and answered with a bare code.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

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


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class NotFound(ApiError):
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


def is_api_path() -> bool:
    return not request.path.startswith("/status") or request.path.startswith("/status/api")


def _render(status: int, code: str, **extra: Any) -> ResponseReturnValue:
    if not is_api_path():
        # The operator and customer pages get a page, not JSON.
        title = "Temporarily unavailable" if status == 503 else "Something went wrong"
        text = ("Please try again in a moment." if status >= 500
                else f"The request could not be handled ({code}).")
        return render_template("status/message.html", title=title, text=text), status
    return jsonify({"error": code, **extra}), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def on_api_error(exc: ApiError) -> ResponseReturnValue:
        return _render(exc.status, exc.code, **exc.extra)

    @app.errorhandler(HTTPException)
    def on_http_error(exc: HTTPException) -> ResponseReturnValue:
        if not is_api_path():
            return exc
        codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        status = exc.code or 500
        return _render(status, codes.get(status, (exc.name or "error").lower().replace(" ", "_")))

    @app.errorhandler(Exception)
    def on_unexpected(exc: Exception) -> ResponseReturnValue:
        if is_connection_error(exc):
            log.error("Database unavailable on %s %s: %s", request.method, request.path,
                      type(exc.orig if isinstance(exc, DBAPIError) else exc).__name__)
            return _render(503, DatabaseUnavailable.code)
        log.exception("Unhandled error on %s %s", request.method, request.path)
        return _render(500, "internal_error")
