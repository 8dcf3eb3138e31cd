"""Two-tier mode: the edge hands a verified event to the core over HTTP.

The core's answer is relayed as it is, except that a core failure becomes 502
and an unreachable core 503, so Stripe retries either way.
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

TIMEOUT_SECONDS = 20


def forward(event: StripeEvent, url: str, secret: str) -> tuple[dict[str, Any], int]:
    """POST the event to the core; returns the core's JSON body and status."""
    request = urllib.request.Request(
        url, data=event.raw.encode(), method="POST",
        headers={"Content-Type": "application/json", "X-Internal-Secret": secret},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return _body(response.read()), response.status
    except urllib.error.HTTPError as exc:
        status, body = exc.code, _body(exc.read())
    except (OSError, ValueError) as exc:
        log.error("Core unreachable for event %s (%s): %s", event.id, event.type,
                  type(exc).__name__)
        raise ForwardingFailed(503, event_id=event.id) from None
    if status >= 500 or status in (401, 404, 405):
        # 401/404/405 mean the core is misconfigured, not that the event is bad.
        log.error("Core answered %s for event %s (%s)", status, event.id, event.type)
        raise ForwardingFailed(502, event_id=event.id)
    return body, status


def _body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
