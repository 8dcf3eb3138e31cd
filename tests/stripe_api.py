"""A local HTTP server that plays the part of Stripe's API that subsvc calls.

Real HTTP on 127.0.0.1, so the `stripe` library is exercised end to end
(its request encoding, error mapping and headers): list endpoints with
Stripe's cursor pagination (`limit`, `starting_after`, `has_more`) and
filters, retrieve endpoints, Stripe's error bodies, a check of the
`Authorization` header, and a 429 on every Nth request when asked. Objects
are in Stripe's shapes (built by subsvc.simulate, checked against stripe/openapi
`openapi/fixtures3.json`). It plays Stripe; it knows nothing of subsvc's code.
"""
from __future__ import annotations

import copy
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from subsvc import simulate as sim

Json = dict[str, Any]

SECRET_KEY = "sk_test_51FakeStripeKeyForSubsvcTests0123456789abcdef"
MAX_LIMIT = 100
DEFAULT_LIMIT = 10
# Where each retrievable object lives: URL path -> the `object` value stored there.
RETRIEVABLE = {
    "/v1/subscriptions/": "subscription", "/v1/invoices/": "invoice",
    "/v1/checkout/sessions/": "checkout.session", "/v1/customers/": "customer",
    "/v1/events/": "event",
}


@dataclass(frozen=True)
class Seen:
    """One request as the server saw it."""

    method: str
    path: str
    query: Json
    authorized: bool
    stripe_version: str | None
    status: int


class FakeStripe:
    """Stripe's account state (objects, events, webhook endpoints) and the HTTP server over it."""

    def __init__(self, *, key: str = SECRET_KEY, page_cap: int = MAX_LIMIT,
                 rate_limit_every: int = 0) -> None:
        self.key, self.page_cap, self.rate_limit_every = key, page_cap, rate_limit_every
        self.objects: dict[str, dict[str, Json]] = {}
        self.events: dict[str, Json] = {}
        self.delivered: set[str] = set()
        self.webhook_endpoints: list[Json] = []
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    # --- the account -------------------------------------------------------

    def put(self, obj: Json) -> None:
        """Store (or replace) an object: its current state, as retrieve and list return it."""
        with self.lock:
            self.objects.setdefault(obj["object"], {})[obj["id"]] = copy.deepcopy(obj)

    def add_event(self, event: Json, *, delivered: bool = False) -> None:
        with self.lock:
            self.events[event["id"]] = copy.deepcopy(event)
            if delivered:
                self.delivered.add(event["id"])

    def add_webhook_endpoint(self, url: str, enabled_events: list[str], *,
                             status: str = "enabled") -> Json:
        endpoint = {"id": sim.new_id("we"), "object": "webhook_endpoint", "api_version": None,
                    "application": None, "created": int(time.time()), "description": None,
                    "enabled_events": enabled_events, "livemode": False, "metadata": {},
                    "status": status, "url": url}
        with self.lock:
            self.webhook_endpoints.append(endpoint)
        return endpoint

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def requests_to(self, path_prefix: str) -> list[Seen]:
        with self.lock:
            return [seen for seen in self.seen if seen.path.startswith(path_prefix)]

    # --- answering ---------------------------------------------------------

    def answer(self, method: str, path: str, query: Json, auth: str | None,
               version: str | None) -> tuple[int, Json]:
        with self.lock:
            number = len(self.seen) + 1
            authorized = auth == f"Bearer {self.key}"
            status, body = self._route(method, path, query, authorized, number)
            self.seen.append(Seen(method, path, query, authorized, version, status))
            return status, copy.deepcopy(body)

    def _route(self, method: str, path: str, query: Json, authorized: bool,
               number: int) -> tuple[int, Json]:
        if not authorized:
            return 401, _error("Invalid API Key provided: sk_test_****")
        if self.rate_limit_every and number % self.rate_limit_every == 0:
            return 429, _error("Too many requests hit the API too quickly.", code="rate_limit")
        if method != "GET":
            return 404, _error(f"Unrecognized request URL ({method}: {path}).")
        if path == "/v1/events":
            return 200, self._page(path, self._events(query), query)
        if path == "/v1/subscriptions":
            return 200, self._page(path, self._subscriptions(query), query)
        if path == "/v1/webhook_endpoints":
            return 200, self._page(path, list(reversed(self.webhook_endpoints)), query)
        for prefix, kind in RETRIEVABLE.items():
            if path.startswith(prefix) and "/" not in path[len(prefix):]:
                found = (self.events if kind == "event" else self.objects.get(kind, {})).get(
                    path[len(prefix):])
                if found is None:
                    return 404, _error(f"No such {kind}: '{path[len(prefix):]}'",
                                       code="resource_missing", param="id")
                return 200, found
        return 404, _error(f"Unrecognized request URL (GET: {path}).")

    def _events(self, query: Json) -> list[Json]:
        types = set(query.get("types") or ([query["type"]] if "type" in query else []))
        since = int((query.get("created") or {}).get("gte", 0))
        wanted = query.get("delivery_success")
        found = [event for event in self.events.values()
                 if (not types or event["type"] in types) and event["created"] >= since
                 and (wanted is None or (event["id"] in self.delivered) == (wanted == "true"))]
        return _newest_first(found)

    def _subscriptions(self, query: Json) -> list[Json]:
        status = query.get("status")
        subs = list(self.objects.get("subscription", {}).values())
        if status != "all":  # Stripe's default leaves canceled subscriptions out
            subs = [s for s in subs if (s["status"] == status if status else
                                        s["status"] != "canceled")]
        return _newest_first(subs)

    def _page(self, path: str, items: list[Json], query: Json) -> Json:
        limit = min(int(query.get("limit", DEFAULT_LIMIT)), MAX_LIMIT, self.page_cap)
        after = query.get("starting_after")
        start = 0
        if after is not None:
            ids = [item["id"] for item in items]
            start = ids.index(after) + 1 if after in ids else len(items)
        data = items[start:start + limit]
        return {"object": "list", "data": data, "has_more": start + limit < len(items),
                "url": path}


def _newest_first(items: list[Json]) -> list[Json]:
    return sorted(items, key=lambda item: (item.get("created", 0), item["id"]), reverse=True)


def _error(message: str, *, type_: str = "invalid_request_error", code: str | None = None,
           param: str | None = None) -> Json:
    error: Json = {"message": message, "type": type_}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return {"error": error}


def parse_query(raw: str) -> Json:
    """Stripe's form encoding: `types[0]=a&types[1]=b`, `created[gte]=1`, plain `limit=10`."""
    query: Json = {}
    for key, value in urllib.parse.parse_qsl(raw, keep_blank_values=True):
        match = re.fullmatch(r"(\w+)\[(\w*)\]", key)
        if match is None:
            query[key] = value
        elif match.group(2).isdigit() or match.group(2) == "":
            query.setdefault(match.group(1), []).append(value)
        else:
            query.setdefault(match.group(1), {})[match.group(2)] = value
    return query


class _Handler(BaseHTTPRequestHandler):
    stripe: FakeStripe  # set on the subclass made per server

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def _serve(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        status, body = self.stripe.answer(
            self.command, parts.path, parse_query(parts.query),
            self.headers.get("Authorization"), self.headers.get("Stripe-Version"))
        raw = json.dumps(body).encode()
        self.send_response(status)  # also sends `Date`, which subsvc stamps fetches with
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("Request-Id", sim.new_id("req"))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass


@contextmanager
def fake_stripe(**options: Any) -> Iterator[FakeStripe]:
    """A FakeStripe serving on a free port until the block ends."""
    stripe_state = FakeStripe(**options)
    handler = type("Handler", (_Handler,), {"stripe": stripe_state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    stripe_state.server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stripe_state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def stripe_settings(fake: FakeStripe) -> dict[str, str]:
    """The settings that point subsvc's Stripe client at `fake`."""
    return {"STRIPE_SECRET_KEY": SECRET_KEY, "STRIPE_API_BASE": fake.url}
