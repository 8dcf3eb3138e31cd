"""Two-tier mode: the edge hands a verified event to the core over HTTP.

The core's answer is relayed as it is, except that a core failure becomes 502
and an unreachable core 503, so Stripe retries either way.

The request carries the internal secret, so it goes to INTERNAL_WEBHOOK_URL and nowhere
else: redirects are not followed (a 3xx is a misconfigured core: 502), proxy variables
(HTTP_PROXY, HTTPS_PROXY, ...) are ignored, and only http(s) can be opened (the setting
is checked at start-up too, subsvc/config.py).
"""
from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any

from subsvc.errors import ForwardingFailed
from subsvc.events import StripeEvent

log = logging.getLogger(__name__)

# Per socket operation (connect, each read); well below gunicorn's 30 s worker timeout,
# so a stalled core is answered 503 (Stripe retries) before the worker is killed.
TIMEOUT_SECONDS = 10
MAX_ANSWER_BYTES = 64 * 1024  # the core answers a small JSON object


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


def _opener() -> urllib.request.OpenerDirector:
    """http(s) only, no proxies, no redirects (build_opener would add file:, ftp:, data:).

    UnknownHandler makes any other scheme an URLError (answered 503) instead of None.
    """
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler({}), urllib.request.UnknownHandler(),
                    urllib.request.HTTPHandler(), urllib.request.HTTPSHandler(),
                    urllib.request.HTTPDefaultErrorHandler(), _NoRedirect(),
                    urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


OPENER = _opener()


def forward(event: StripeEvent, url: str, secret: str) -> tuple[dict[str, Any], int]:
    """POST the event to the core; returns the core's JSON body and status."""
    request = urllib.request.Request(
        url, data=event.raw.encode(), method="POST",
        headers={"Content-Type": "application/json", "X-Internal-Secret": secret},
    )
    try:
        with OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
            status, body = response.status, _body(response.read(MAX_ANSWER_BYTES))
    except urllib.error.HTTPError as exc:
        with exc:
            status, body = exc.code, _body(exc.read(MAX_ANSWER_BYTES))
    except (OSError, ValueError) as exc:
        log.error("Core unreachable for event %s (%s): %s", event.id, event.type,
                  type(exc).__name__)
        raise ForwardingFailed(503, event_id=event.id) from None
    if not _is_core_answer(status, body, event):
        log.error("Core answered %s for event %s (%s)", status, event.id, event.type)
        raise ForwardingFailed(502, event_id=event.id)
    return body, status


def _is_core_answer(status: int, body: dict[str, Any], event: StripeEvent) -> bool:
    """A 2xx about this event, or a 4xx that blames the event; all else is a core fault.

    401/404/405 mean the core is misconfigured, not that the event is bad; a 3xx or a
    200 that is not the core's answer (another server at that URL) is no delivery either.
    """
    if 200 <= status < 300:
        return isinstance(body.get("status"), str) and body.get("event_id") == event.id
    return 400 <= status < 500 and status not in (401, 404, 405)


def _body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
