"""LOG_FORMAT: text or one JSON object per line on stdout, with the contract's messages verbatim."""
from __future__ import annotations

import json
import logging

import pytest
from flask import Flask

from subsvc import simulate as sim
from tests.builders import checkout, deliver
from tests.conftest import ADMIN_TOKEN, INTERNAL_SECRET, WEBHOOK_SECRET, own_app


def deliver_with_format(database_url: str, fmt: str) -> dict[str, object]:
    # Built inside the test, so the log handler binds to the captured stdout.
    with own_app(database_url, LOG_FORMAT=fmt) as app:
        event = checkout(sim.Customer.make(f"log-{fmt}"))
        assert deliver(app.test_client(), event).status_code == 200
    return event


def test_json_format_logs_one_object_per_line(app: Flask, database_url: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    event = deliver_with_format(database_url, "json")

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    messages = [line["message"] for line in lines]
    assert f"Forwarding event {event['id']} (checkout.session.completed)" in messages
    assert f"Successfully processed event {event['id']} (checkout.session.completed)" in messages
    assert all({"ts", "level", "logger", "message"} <= line.keys() for line in lines)
    assert WEBHOOK_SECRET not in json.dumps(lines)


def test_text_format_logs_plain_lines(app: Flask, database_url: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    event = deliver_with_format(database_url, "text")

    assert f"INFO subsvc.inbox: Successfully processed event {event['id']}" in \
        capsys.readouterr().out


def test_json_lines_carry_the_event_fields_as_fields(app: Flask, database_url: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    event = deliver_with_format(database_url, "json")

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    (done,) = [line for line in lines if line["message"].startswith("Successfully processed")]
    assert {key: done[key] for key in ("event_id", "type", "outcome")} == {
        "event_id": event["id"], "type": "checkout.session.completed", "outcome": "processed"}
    assert isinstance(done["duration_ms"], float) and done["duration_ms"] >= 0
    assert "error" not in done


def test_a_failed_event_logs_its_error_as_a_field(app: Flask, database_url: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with own_app(database_url, LOG_FORMAT="json") as json_app:
        event = checkout(sim.Customer.make("log-fail"), tier="no-such-tier")
        assert deliver(json_app.test_client(), event).status_code == 500
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    (failed,) = [line for line in lines if line["message"].startswith("Failed to process")]
    assert (failed["event_id"], failed["outcome"]) == (event["id"], "failed")
    assert "no-such-tier" in failed["error"]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_handler_redacts_secrets_keys_sessions_and_signatures(
        database_url: str, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    key = "sk_subsvc_AbCdEf" + "x" * 37
    signature = "t=1700000000,v1=" + "ab" * 32 + ",v0=" + "cd" * 32
    log = logging.getLogger("subsvc.test")
    with own_app(database_url, LOG_FORMAT=fmt):  # installs the handler under test
        log.warning("secrets %s %s %s", WEBHOOK_SECRET, INTERNAL_SECRET, ADMIN_TOKEN)
        log.warning("key %s session cs_test_a1B2c3D4e5 header %s auth Bearer %s", key, signature,
                    key)
        try:
            raise ValueError(f"boom with {INTERNAL_SECRET}")
        except ValueError:
            log.exception("failed /status/welcome?session_id=anything_at_all&x=1")

    out = capsys.readouterr().out
    for secret in (WEBHOOK_SECRET, INTERNAL_SECRET, ADMIN_TOKEN, key, "cs_test_a1B2c3D4e5",
                   "ab" * 32, "cd" * 32, "anything_at_all"):
        assert secret not in out
    assert "sk_subsvc_AbCdEf[redacted]" in out  # the display prefix stays, for support
    assert out.count("[redacted]") >= 9
    if fmt == "json":
        levels = [json.loads(line)["level"] for line in out.splitlines()]
        assert levels == ["WARNING", "WARNING", "ERROR"]
