"""subsvc.serverlog: gunicorn's access and error log lines lose query strings and credentials.

The server test (test_server_config.py) proves the production format; these prove that formats
an operator might write instead, quoting the request line, the raw query, the Referer or a
credential header, still cannot print them.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from gunicorn.config import Config

from subsvc.serverlog import RedactingLogger, redact_query

SESSION = "cs_test_a1b2c3d4e5f6"
EMAIL = "ada%40example.com"
SIGNATURE = "t=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd"
BASIC = "b3BlcmF0b3I6YWRtaW4tdG9rZW4="  # operator:admin-token
SECRETS = (SESSION, EMAIL, "ada@example.com", SIGNATURE, BASIC, "operator", "internal-0123")


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured() -> Iterator[ListHandler]:
    """Every line of gunicorn's two (process-wide) loggers during the test."""
    handler = ListHandler()
    loggers = [logging.getLogger("gunicorn.access"), logging.getLogger("gunicorn.error")]
    for log in loggers:
        log.addHandler(handler)
    yield handler
    for log in loggers:
        log.removeHandler(handler)


def logger_with(access_log_format: str) -> RedactingLogger:
    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", access_log_format)
    return RedactingLogger(cfg)


def welcome_request() -> tuple[Any, Any, dict[str, str]]:
    query = f"session_id={SESSION}&email={EMAIL}"
    headers = [("HOST", "subsvc"), ("REFERER", f"https://subsvc/status/welcome?{query}"),
               ("STRIPE-SIGNATURE", SIGNATURE), ("X-INTERNAL-SECRET", "internal-0123"),
               ("AUTHORIZATION", f"Basic {BASIC}")]
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"/status/welcome?{query}",
               "SERVER_PROTOCOL": "HTTP/1.1", "PATH_INFO": "/status/welcome", "QUERY_STRING": query,
               "REMOTE_ADDR": "127.0.0.1", "HTTP_REFERER": f"https://subsvc/status/welcome?{query}",
               "HTTP_STRIPE_SIGNATURE": SIGNATURE, "HTTP_AUTHORIZATION": f"Basic {BASIC}",
               "HTTP_X_INTERNAL_SECRET": "internal-0123"}
    resp = SimpleNamespace(status="303 See Other", sent=0,
                           headers=[("Location", f"/status/welcome?{query}")])
    return resp, SimpleNamespace(headers=headers), environ


@pytest.mark.parametrize("fmt", [
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',  # gunicorn's default
    "%(q)s %({query_string}e)s %({raw_uri}e)s %({http_referer}e)s %({location}o)s",
    "%({stripe-signature}i)s %({x-internal-secret}i)s %({authorization}i)s",
    "%({http_stripe_signature}e)s %({http_authorization}e)s %({http_x_internal_secret}e)s",
])
def test_access_log_formats_print_no_query_and_no_credential(fmt: str,
                                                             captured: ListHandler) -> None:
    logger_with(fmt).access(*welcome_request(), timedelta(milliseconds=3))
    [line] = captured.lines
    assert [secret for secret in SECRETS if secret in line] == []
    assert "<redacted>" in line


def test_error_log_lines_quoting_a_request_lose_its_query(captured: ListHandler) -> None:
    logger = logger_with("%(r)s")
    line = f"GET /status/welcome?session_id={SESSION} HTTP/1.1"
    logger.warning("Invalid request from ip=%s: Invalid HTTP request line: '%s'", "127.0.0.1", line)
    try:
        raise ValueError(f"while serving /status/users?email={EMAIL}")
    except ValueError:
        logger.exception("Error handling request %s %s", "GET", f"/status/users?email={EMAIL}")
    text = "\n".join(captured.lines)
    assert [secret for secret in SECRETS if secret in text] == []
    assert "'GET /status/welcome?<redacted> HTTP/1.1'" in text
    assert "ValueError: while serving /status/users?<redacted>" in text


@pytest.mark.parametrize(("text", "redacted"), [
    ("GET /a?b=c HTTP/1.1", "GET /a?<redacted> HTTP/1.1"),
    ('"https://h/p?x=1&y=2"', '"https://h/p?<redacted>"'),
    ("ready? yes", "ready? yes"),
    ("why?", "why?"),
])
def test_redact_query(text: str, redacted: str) -> None:
    assert redact_query(text) == redacted
