"""GET /metrics from gunicorn with several workers: after a known load, the sums are exact,
whichever worker answers the scrape, and a worker killed meanwhile takes none of its counts along.
"""
from __future__ import annotations

import os
import signal
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from subsvc import simulate as sim
from tests.builders import checkout
from tests.server import Server, deliver_all, fresh_database, gunicorn, new_customer

pytestmark = pytest.mark.server

WORKERS = 3
SCRAPES = 6  # enough that more than one worker answers one
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(server: Server) -> Samples:
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def deliveries(found: Samples, endpoint: str, outcome: str) -> float:
    key = ("subsvc_webhook_deliveries_total", (("endpoint", endpoint), ("outcome", outcome)))
    return found.get(key, 0.0)


def test_metrics_add_up_across_workers_and_survive_a_worker_kill(tmp_path: Path) -> None:
    with fresh_database("sqlite", tmp_path) as url, \
            gunicorn(url, tmp_path, workers=WORKERS) as server:
        unique = [checkout(new_customer()) for _ in range(12)]
        internal = [checkout(new_customer()) for _ in range(3)]
        failing = [checkout(new_customer(), tier="no-such-tier") for _ in range(2)]
        forged = [checkout(new_customer()) for _ in range(4)]

        def post_forged(event: dict) -> object:
            body, headers = sim.signed_request(event, "whsec_not_the_secret_0123456789abcdef")
            return server.request("POST", "/api/webhooks/stripe", body, headers)

        load = ([(server.post_event, e) for e in unique + failing]
                + [(server.post_internal, e) for e in internal]
                + [(post_forged, e) for e in forged])
        deliver_all(load, threads=8)
        deliver_all([(server.post_event, e) for e in unique[:5]], threads=5)  # redeliveries

        victim = server.wait_for_workers(WORKERS)[0]
        os.kill(victim, signal.SIGKILL)
        server.wait_for_workers(WORKERS, excluding={victim})

        scrapes = [scrape(server) for _ in range(SCRAPES)]

    expected = {
        ("stripe", "processed"): 12, ("stripe", "duplicate"): 5,
        ("stripe", "processing_failed"): 2, ("stripe", "invalid_signature"): 4,
        ("internal", "processed"): 3,
    }
    for found in scrapes:
        assert {key: deliveries(found, *key) for key in expected} == expected
        assert found[("subsvc_webhook_signature_failures_total", ())] == 4
        assert found[("subsvc_webhook_duration_seconds_count", (("endpoint", "stripe"),))] == 23
        assert found[("subsvc_webhook_duration_seconds_count", (("endpoint", "internal"),))] == 3
        assert found[("subsvc_inbox_failed_events", ())] == 2
        assert found[("subsvc_newest_processed_event_age_seconds", ())] < 120
