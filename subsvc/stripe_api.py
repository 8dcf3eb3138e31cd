"""subsvc's calls to Stripe's API: one configured StripeClient, rate-limited, plain-dict answers.

Used by thin events (fetch the related object), `flask stripe reconcile` and
`flask doctor`. The webhook path itself never needs it: everything else runs
offline. Every call goes through the official `stripe` library, pinned to
API_VERSION so the objects come back in the shape `events.py` reads, and at
`STRIPE_API_BASE` when set (a local stripe-mock or test server).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import stripe

log = logging.getLogger(__name__)

Json = dict[str, Any]

# Named, not taken from the library: an upgrade of `stripe` must not silently
# change the shape of the objects subsvc reads.
API_VERSION = "2026-10-28.endive"

# The types a webhook endpoint must send to subsvc (CONTRACT section 5);
# doctor checks the endpoint against it and reconcile lists events of these.
WEBHOOK_TYPES: tuple[str, ...] = (
    "checkout.session.completed",
    "customer.subscription.created", "customer.subscription.updated",
    "customer.subscription.deleted", "customer.subscription.paused",
    "customer.subscription.resumed",
    "invoice.payment_succeeded", "invoice.paid", "invoice.payment_failed",
    "customer.created", "customer.updated",
)

# Stripe allows 100 requests/s in live mode and 25 in test mode: stay well under both,
# so reconcile never starves the rest of the account's integrations.
REQUESTS_PER_SECOND = 20.0
BURST = 5
MAX_ATTEMPTS = 6  # per request, on 429
BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 8.0
PAGE_SIZE = 100


@dataclass(frozen=True)
class Profile:
    """How patient a caller is: (connect, read) timeouts and the library's network retries."""

    connect_timeout: float
    read_timeout: float
    network_retries: int
    attempts_on_429: int  # tries in all, with backoff between them


# A webhook delivery waits on the fetch (answer `pending` quickly rather than time out),
# and so does an operator running `flask doctor`.
WEBHOOK = Profile(connect_timeout=2, read_timeout=5, network_retries=0, attempts_on_429=1)
# A cron job can wait, and retries connection errors and 5xx (the library's backoff).
BATCH = Profile(connect_timeout=5, read_timeout=30, network_retries=2,
                attempts_on_429=MAX_ATTEMPTS)


class StripeCallFailed(Exception):
    """A call to Stripe did not give an answer; the message is safe to print (no key)."""


class StripeUnavailable(StripeCallFailed):
    """Stripe could not be reached, answered 5xx, or kept rate-limiting."""


class StripeRefused(StripeCallFailed):
    """Stripe refused the key (401) or its permissions (403)."""


class StripeNotFound(StripeCallFailed):
    """Stripe has no such object (404)."""


@dataclass(frozen=True)
class Answer:
    """An object or list page as Stripe sent it, and when (Stripe's `Date`, epoch seconds)."""

    data: Json
    date: int
    first_page: bool = True  # of a list: whether this page is its first


class TokenBucket:
    """At most `rate` calls a second on average, `burst` at once; shared by threads."""

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate, self.burst, self.clock, self.sleep = rate, burst, clock, sleep
        self.tokens, self.stamp = float(burst), clock()
        self.lock = threading.Lock()

    def take(self) -> None:
        with self.lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            wait = (1 - self.tokens) / self.rate if self.tokens < 1 else 0.0
            self.tokens -= 1  # may go below zero: the debt is what the wait pays for
        if wait > 0:
            self.sleep(wait)


class StripeApi:
    """The calls subsvc makes, each rate-limited and retried with backoff on 429."""

    def __init__(self, key: str, base: str | None = None, *, profile: Profile = BATCH,
                 bucket: TokenBucket | None = None, backoff: float = BACKOFF_SECONDS,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        http = stripe.RequestsClient(timeout=(profile.connect_timeout, profile.read_timeout))
        self.client = stripe.StripeClient(
            key, stripe_version=API_VERSION, http_client=http,
            base_addresses={"api": base} if base else None,
            max_network_retries=profile.network_retries,
        )
        self.host = urllib.parse.urlsplit(base or stripe.DEFAULT_API_BASE).netloc
        self.bucket = bucket or TokenBucket(REQUESTS_PER_SECOND, BURST)
        self.backoff, self.sleep, self.attempts = backoff, sleep, profile.attempts_on_429

    # --- the calls ----------------------------------------------------------

    def retrieve(self, object_type: str, object_id: str) -> Answer:
        """One object by its Stripe type (`subscription`, `invoice`, …); else StripeNotFound."""
        v1 = self.client.v1
        services: dict[str, Any] = {
            "subscription": v1.subscriptions, "invoice": v1.invoices,
            "checkout.session": v1.checkout.sessions, "customer": v1.customers,
        }
        service = services.get(object_type)
        if service is None:
            raise StripeNotFound(f"subsvc does not fetch {object_type} objects")
        return self._call(lambda: service.retrieve(object_id))

    def pages(self, kind: str, params: Mapping[str, Any]) -> Iterator[Answer]:
        """Every page of a list (`events`, `subscriptions`, `webhook_endpoints`), newest first.

        Follows Stripe's cursor pagination: while `has_more`, the next page
        starts after the last id of this one.
        """
        service = getattr(self.client.v1, kind)
        query = {"limit": PAGE_SIZE, **params}
        while True:
            page = self._call(lambda: service.list(dict(query)))
            yield dataclasses.replace(page, first_page="starting_after" not in query)
            items = page.data.get("data") or []
            if not page.data.get("has_more") or not items:
                return
            query["starting_after"] = items[-1]["id"]

    # --- mechanics ----------------------------------------------------------

    def _call(self, request: Callable[[], Any]) -> Answer:
        for attempt in range(1, self.attempts + 1):
            self.bucket.take()
            try:
                return _answer(request())
            except stripe.RateLimitError as exc:
                if attempt == self.attempts:
                    raise StripeUnavailable(f"Stripe kept answering 429 at {self.host}") from None
                self.sleep(self._delay(attempt, exc.headers))
            except stripe.StripeError as exc:
                raise self._failure(exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int, headers: Mapping[str, str] | None) -> float:
        retry_after = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
        if retry_after and retry_after.strip().isdigit():
            return min(float(retry_after), MAX_BACKOFF_SECONDS)
        # Exponential, with jitter so that several callers do not retry in step.
        delay: float = min(self.backoff * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)
        return delay * random.uniform(0.5, 1.0)

    def _failure(self, exc: stripe.StripeError) -> StripeCallFailed:
        # Own messages throughout: the library's can carry a masked key and long advice.
        status = exc.http_status
        if isinstance(exc, stripe.APIConnectionError):
            return StripeUnavailable(f"cannot reach Stripe at {self.host}")
        if isinstance(exc, stripe.AuthenticationError):
            return StripeRefused("Stripe refused STRIPE_SECRET_KEY (401)")
        if isinstance(exc, stripe.PermissionError):
            return StripeRefused("STRIPE_SECRET_KEY lacks a permission this needs (403)")
        if status == 404:
            return StripeNotFound("Stripe has no such object (404)")
        if status is not None and status >= 500:
            return StripeUnavailable(f"Stripe answered {status}")
        return StripeCallFailed(f"Stripe answered {status}: {type(exc).__name__}")


def _answer(obj: Any) -> Answer:
    """The JSON exactly as Stripe sent it (not the library's typed view) and Stripe's `Date`."""
    response = getattr(obj, "last_response", None)
    if response is not None and response.body:
        data = json.loads(response.body)
    else:  # pragma: no cover - every service call records its response
        data = obj.to_dict(for_json=True)
    return Answer(data=data, date=_date(response.headers if response is not None else {}))


def _date(headers: Mapping[str, str]) -> int:
    raw = headers.get("Date") or headers.get("date")
    if raw:
        try:
            return int(parsedate_to_datetime(raw).timestamp())
        except (TypeError, ValueError):
            pass
    return int(time.time())


_clients: dict[tuple[str, str | None, Profile], StripeApi] = {}
_clients_lock = threading.Lock()


def api_from_config(config: Mapping[str, Any], profile: Profile = BATCH) -> StripeApi | None:
    """The StripeApi for the configured key and base, or None without STRIPE_SECRET_KEY.

    One per (key, base, profile) and process, so a webhook worker reuses its
    connection pool and rate limit across requests.
    """
    key = config.get("STRIPE_SECRET_KEY")
    if not key:
        return None
    cache_key = (key, config.get("STRIPE_API_BASE"), profile)
    with _clients_lock:
        if cache_key not in _clients:
            _clients[cache_key] = StripeApi(key, config.get("STRIPE_API_BASE"), profile=profile)
        return _clients[cache_key]
