"""The one way an HTML answer is made: pages, and every error on a page path.

Everything under /status except its JSON API (/status/api/…) is a page; everything else
(webhooks, health, metrics, the API) answers JSON. The security headers are set on every
answer to a page path after the fact (`secure_pages`), so no path to a response (a view,
an error handler, Werkzeug's routing 404/405) can miss them.
"""
from __future__ import annotations

from typing import Any

from flask import Response, make_response, render_template, request

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
PAGE_ROOT, API_ROOT = "/status", "/status/api"

# What a visitor reads for an error status; the code names nothing internal.
ERROR_TEXTS = {
    400: ("This request could not be handled", "Check the address or the form and try again."),
    401: ("Sign-in required", "This page needs credentials."),
    403: ("Not allowed", "This request is not allowed here."),
    404: ("Page not found", "There is no page at this address. Check the link."),
    405: ("Not available this way", "This page cannot be used like that. Open it from a link."),
    413: ("Too much data", "The form sent more data than this page accepts."),
    500: ("Something went wrong", "Please try again in a moment."),
    503: ("Temporarily unavailable", "Please try again in a moment."),
}


def is_page_path(path: str) -> bool:
    under_status = path == PAGE_ROOT or path.startswith(PAGE_ROOT + "/")
    return under_status and not (path == API_ROOT or path.startswith(API_ROOT + "/"))


def page(template: str, status: int = 200, headers: dict[str, str] | None = None,
         **context: Any) -> Response:
    response = make_response(render_template(f"status/{template}", **context), status)
    response.headers.update(headers or {})
    return response


def message(status: int, title: str, text: str, headers: dict[str, str] | None = None) -> Response:
    return page("message.html", status, headers, title=title, text=text)


def error_page(status: int, headers: dict[str, str] | None = None) -> Response:
    """The page for an error status: the same layout and headers as every other page."""
    title, text = ERROR_TEXTS.get(status, ERROR_TEXTS[500 if status >= 500 else 400])
    return message(status, title, text, headers)


def secure_pages(response: Response) -> Response:
    """An after-request hook of the whole app (views.py registers it), errors included."""
    if is_page_path(request.path):
        response.headers.update(PAGE_HEADERS)
    return response
