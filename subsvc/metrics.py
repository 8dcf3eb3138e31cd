"""Prometheus metrics at GET /metrics, summed across every gunicorn worker.

Counters and the duration histogram live in prometheus-client's multiprocess
mode when PROMETHEUS_MULTIPROC_DIR is set (gunicorn.conf.py sets it up): each
worker writes its own memory-mapped file and a scrape, whichever worker serves
it, adds them all up, including workers that have since exited. Without it
(tests in one process, `flask run`) the process's own registry is used.

What the inbox holds (failed events waiting, the newest processed event) is
read from the database at scrape time rather than counted: the database is
the truth, shared by every worker and every container.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from functools import cache
from typing import Any

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import func, select

from subsvc.extensions import db
from subsvc.health import newest_processed_age
from subsvc.models import InboxEvent, InboxStatus

bp = Blueprint("metrics", __name__)

# Flask endpoint -> the `endpoint` label.
WEBHOOK_ENDPOINTS = {
    "webhooks.stripe_webhook": "stripe",
    "webhooks.internal_stripe_webhook": "internal",
}

DELIVERIES = Counter(
    "subsvc_webhook_deliveries", "Webhook deliveries by endpoint and outcome (the answer's "
    "status, e.g. processed, or its error code, e.g. invalid_signature).",
    ["endpoint", "outcome"])
SIGNATURE_FAILURES = Counter(
    "subsvc_webhook_signature_failures", "Deliveries to the Stripe endpoint whose signature did "
    "not verify (wrong or rolled secret, stale timestamp, forgery).")
DURATION = Histogram(
    "subsvc_webhook_duration_seconds", "Time to answer a webhook delivery, by endpoint.",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))


def init_app(app: Flask) -> None:
    app.before_request(_start_clock)
    app.after_request(_count_delivery)
    app.register_blueprint(bp)


def _start_clock() -> None:
    if request.endpoint in WEBHOOK_ENDPOINTS:
        g.webhook_started = time.perf_counter()


def _count_delivery(response: Response) -> Response:
    endpoint = WEBHOOK_ENDPOINTS.get(request.endpoint or "")
    started = g.get("webhook_started")
    if endpoint is None or started is None:
        return response
    _duration(endpoint).observe(time.perf_counter() - started)
    outcome = g.pop("webhook_outcome", None) or delivery_outcome(response)
    _deliveries(endpoint, outcome).inc()
    if outcome == "invalid_signature" and endpoint == "stripe":
        SIGNATURE_FAILURES.inc()
    return response


def note_outcome(outcome: str) -> None:
    """The view's own word for a delivery it answered 200, so that counting it need not parse
    the answer's JSON back (delivery_outcome does for the others)."""
    g.webhook_outcome = outcome


# The labelled children, looked up once each: `labels()` takes a lock and builds a key.
@cache
def _duration(endpoint: str) -> Any:
    return DURATION.labels(endpoint)


@cache
def _deliveries(endpoint: str, outcome: str) -> Any:
    return DELIVERIES.labels(endpoint, outcome)


def delivery_outcome(response: Response) -> str:
    """The answer's `status` (processed, duplicate, …) or `error` code: both are our own words."""
    body = response.get_json(silent=True) if response.is_json else None
    if isinstance(body, dict):
        word = body.get("status") if response.status_code < 400 else body.get("error")
        if isinstance(word, str) and word.isidentifier():
            return word
    return f"http_{response.status_code}"


class InboxCollector(Collector):
    """Gauges read from the inbox table at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        failed = db.session.scalar(
            select(func.count()).select_from(InboxEvent)
            .where(InboxEvent.status == InboxStatus.FAILED))
        age = newest_processed_age()
        db.session.rollback()  # end the read: on SQLite it holds the write lock
        yield GaugeMetricFamily(
            "subsvc_inbox_failed_events",
            "Events whose processing failed and that wait for Stripe's retry or a replay.",
            value=failed or 0)
        if age is not None:
            yield GaugeMetricFamily(
                "subsvc_newest_processed_event_age_seconds",
                "Seconds since the newest processed event was applied: alert when it grows.",
                value=age)


def registry() -> Any:
    """The registry a scrape reads: every worker's files in multiprocess mode, else this process."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    scrape = CollectorRegistry()
    multiprocess.MultiProcessCollector(scrape)  # type: ignore[no-untyped-call]
    return scrape


@bp.get("/metrics")
def metrics() -> Response:
    # A registry of its own for the inbox gauges, per scrape: two scrapes at
    # once (gthread workers) never share a collector.
    inbox = CollectorRegistry()
    inbox.register(InboxCollector())
    text = generate_latest(registry()) + generate_latest(inbox)
    return Response(text, mimetype=CONTENT_TYPE_LATEST)
