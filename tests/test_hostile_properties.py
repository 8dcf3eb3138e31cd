"""The whole class of broken input, at both webhook endpoints: hand-written cases, then hypothesis.

Invariants for every hostile request: a 4xx (never a 5xx), a JSON object with no stack
trace or SQL text, and not one row written. A verified event whose *data* is odd may be
processed or fail, but a failure is always the recorded kind (inbox row failed, 500
processing_failed) and never a crash.
"""
from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder, TestResponse

from subsvc import simulate as sim
from tests.builders import (
    INTERNAL_URL,
    LEAKS,
    PUBLIC_URL,
    checkout,
    deep_json,
    inbox_row,
    internal_headers,
    signed_headers,
    snapshot,
    subscription_event,
)
from tests.conftest import WEBHOOK_SECRET

Json = dict[str, Any]
MIB = 1024 * 1024
HYPOTHESIS = settings(max_examples=20, deadline=None, database=None, derandomize=True,
                      suppress_health_check=[HealthCheck.function_scoped_fixture,
                                             HealthCheck.too_slow])


def headers_for(url: str, body: bytes, content_type: str = "application/json") -> dict[str, str]:
    headers = signed_headers(body) if url == PUBLIC_URL else internal_headers()
    return {**headers, "Content-Type": content_type}


@pytest.fixture(params=[PUBLIC_URL, INTERNAL_URL], ids=["public", "internal"])
def url(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def post(client: FlaskClient, url: str, body: bytes, **kwargs: Any) -> TestResponse:
    headers = kwargs.pop("headers", None) or headers_for(url, body)
    return client.post(url, data=body, headers=headers, **kwargs)


def assert_refused(app: Flask, response: TestResponse, before: Any,
                   codes: tuple[int, ...] = (400, 413)) -> None:
    """4xx in `codes`, a JSON object, nothing leaked, nothing written."""
    text = response.get_data(as_text=True)
    assert response.status_code in codes, (response.status_code, text)
    assert isinstance(response.get_json(), dict) and "error" in response.get_json()
    assert not LEAKS.search(text), text
    assert snapshot(app) == before


def assert_never_a_crash(app: Flask, response: TestResponse, event_id: str) -> None:
    """200, a 4xx, or a *recorded* failure: 500 processing_failed with the inbox row failed."""
    text = response.get_data(as_text=True)
    assert not LEAKS.search(text), text
    if response.status_code == 500:
        assert response.get_json() == {"error": "processing_failed", "event_id": event_id}
        row = inbox_row(app, event_id)
        assert row.status == "failed" and row.last_error
        assert not LEAKS.search(row.last_error), row.last_error
    else:
        assert response.status_code in (200, 400), text


def event_bytes(mutate: Callable[[Json], Any] = lambda e: None) -> bytes:
    event = subscription_event("customer.subscription.created", sim.Customer.make("h"))
    mutate(event)
    return sim.dumps(event)


# --- hand-written table ------------------------------------------------------------------

def _set(path: str, value: Any) -> Callable[[Json], None]:
    *parents, key = path.split(".")

    def mutate(event: Json) -> None:
        target = event
        for step in parents:
            target = target[step]
        target[key] = value
    return mutate


def _drop(path: str) -> Callable[[Json], None]:
    *parents, key = path.split(".")

    def mutate(event: Json) -> None:
        target = event
        for step in parents:
            target = target[step]
        del target[key]
    return mutate


BODIES: dict[str, bytes] = {
    "empty": b"",
    "random-bytes": bytes(range(256)) * 4,
    "nul-bytes": b"\x00" * 64,
    "non-utf8": b'{"id": "evt_\xff\xfe", "object": "event"}',
    "utf16": json.dumps({"object": "event"}).encode("utf-16"),
    "truncated": event_bytes()[:200],
    "truncated-at-the-end": event_bytes()[:-1],
    "trailing-garbage": event_bytes() + b"}",
    "two-objects": event_bytes() + event_bytes(),
    "array": b"[]",
    "string": b'"evt_1"',
    "number": b"42",
    "null": b"null",
    "true": b"true",
    "not-an-event": b'{"id": "cus_1", "object": "customer"}',
    "no-id": event_bytes(_drop("id")),
    "no-type": event_bytes(_drop("type")),
    "no-data": event_bytes(_drop("data")),
    "no-data-object": event_bytes(_drop("data.object")),
    "id-number": event_bytes(_set("id", 42)),
    "id-list": event_bytes(_set("id", ["evt_1"])),
    "id-null": event_bytes(_set("id", None)),
    "id-not-evt": event_bytes(_set("id", "cus_1")),
    "id-with-newline": event_bytes(_set("id", "evt_1\nINFO forged log line")),
    "type-number": event_bytes(_set("type", 7)),
    "type-empty": event_bytes(_set("type", "")),
    "type-with-newline": event_bytes(_set("type", "invoice.paid\nforged")),
    "data-list": event_bytes(_set("data", [])),
    "data-object-list": event_bytes(_set("data.object", [])),
    "data-object-string": event_bytes(_set("data.object", "sub_1")),
    "created-huge": event_bytes(_set("created", 10**30)),
    "created-5000-digits": event_bytes(lambda e: None).replace(
        b'"created":', b'"created":' + b"9" * 5000 + b',"x":', 1),
    "created-1e400": event_bytes(_set("created", "@")).replace(b'"@"', b"1e400"),
    "created-nan": event_bytes(_set("created", "@")).replace(b'"@"', b"NaN"),
    "created-float": event_bytes(_set("created", 1.5)),
    "created-string": event_bytes(_set("created", "1767268800")),
    "deep-nesting": deep_json(5_000),
    "deep-objects": b'{"a":' * 3_000 + b"1" + b"}" * 3_000,
}


def test_broken_body_is_refused(app: Flask, client: FlaskClient, url: str) -> None:
    # One app for the whole table: a fresh database per case would cost more than the cases.
    before = snapshot(app)
    for case, body in BODIES.items():
        response = post(client, url, body)
        assert response.status_code == 400, case
        assert_refused(app, response, before, codes=(400,))


MULTIPART = b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\nb\r\n--x--"


def test_wrong_content_type_with_a_broken_body_is_refused(
        app: Flask, client: FlaskClient, url: str) -> None:
    """The signature over the raw bytes, not the header, is what is trusted (so a signed event
    is processed whatever its Content-Type, as Stripe's are): a bad body stays refused."""
    before = snapshot(app)
    for content_type in ("text/plain", "application/x-www-form-urlencoded",
                         "multipart/form-data; boundary=x", ""):
        for body in (b"a=b&c=d", MULTIPART):
            response = post(client, url, body, headers=headers_for(url, body, content_type))
            assert_refused(app, response, before, codes=(400,))


def test_body_one_byte_over_the_limit_is_413_with_content_length(
        app: Flask, client: FlaskClient, url: str) -> None:
    before = snapshot(app)
    body = event_bytes() + b" " * MIB

    assert_refused(app, post(client, url, body), before, codes=(413,))


def test_body_one_byte_over_the_limit_is_413_without_content_length(
        app: Flask, client: FlaskClient, url: str) -> None:
    """As a chunked body arrives from the server: no CONTENT_LENGTH, input terminated."""
    before = snapshot(app)
    body = event_bytes()
    body += b" " * (MIB + 1 - len(body))
    environ = EnvironBuilder(path=url, method="POST", headers=headers_for(url, body),
                             input_stream=io.BytesIO(body)).get_environ()
    del environ["CONTENT_LENGTH"]
    environ["wsgi.input_terminated"] = True

    assert_refused(app, client.open(environ), before, codes=(413,))


SIGNATURE_HEADERS: dict[str, Callable[[bytes], list[tuple[str, str]]]] = {
    "missing": lambda body: [],
    "empty": lambda body: [("Stripe-Signature", "")],
    "garbled": lambda body: [("Stripe-Signature", "t=abc,v1=")],
    "only-commas": lambda body: [("Stripe-Signature", ",,,,")],
    "no-equals": lambda body: [("Stripe-Signature", "t,v1")],
    "timestamp-huge": lambda body: [("Stripe-Signature", f"t={10**400},v1=00")],
    "very-long": lambda body: [("Stripe-Signature", "v1=" + "a" * 8000)],
    "non-ascii": lambda body: [("Stripe-Signature", "t=1,v1=\u00e9")],
    "repeated-garbage": lambda body: [("Stripe-Signature", "t=1,v1=00"),
                                      ("Stripe-Signature", "t=2,v1=11")],
    "repeated-valid-after-garbage": lambda body: [
        ("Stripe-Signature", "t=1,v1=00"), ("Stripe-Signature", sim.sign(body, WEBHOOK_SECRET))],
    "wrong-secret": lambda body: [("Stripe-Signature", sim.sign(body, "whsec_" + "x" * 32))],
}


def test_missing_repeated_or_garbled_signature_is_invalid_signature(
        app: Flask, client: FlaskClient) -> None:
    before = snapshot(app)
    body = event_bytes()
    for case, make in SIGNATURE_HEADERS.items():
        headers = [("Content-Type", "application/json"), *make(body)]
        response = client.post(PUBLIC_URL, data=body, headers=headers)
        assert response.get_json() == {"error": "invalid_signature"}, case
        assert_refused(app, response, before, codes=(400,))


def test_wrong_method_is_405_json(app: Flask, client: FlaskClient, url: str) -> None:
    before = snapshot(app)
    body = event_bytes()
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = client.open(url, method=method, data=body, headers=headers_for(url, body))
        assert response.get_json() == {"error": "method_not_allowed"}, method
        assert_refused(app, response, before, codes=(405,))


# --- properties --------------------------------------------------------------------------

JSON_SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                | st.text(max_size=20))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=12)
# Values that do not fit: huge or negative numbers, long strings, NUL, lone surrogates,
# control characters, and the wrong JSON types.
HOSTILE = st.one_of(
    st.integers(min_value=2**63 - 2, max_value=10**40), st.integers(max_value=-1),
    st.sampled_from(["", "\u0000", "evt_\u0000", "\udcff", "a\nb", "x" * 400, "\u212a" * 200,
                     "e" * 321 + "@example.com", 10**30, -(10**30), 1e308, True, None]),
    st.text(max_size=300), st.floats(allow_nan=False), JSON_VALUES,
)


@HYPOTHESIS
@given(body=st.binary(max_size=600))
def test_random_bytes_are_refused(app: Flask, client: FlaskClient, url: str, body: bytes) -> None:
    before = snapshot(app)

    assert_refused(app, post(client, url, body), before, codes=(400,))


@HYPOTHESIS
@given(value=JSON_VALUES)
def test_json_that_is_not_an_event_is_refused(app: Flask, client: FlaskClient, url: str,
                                              value: Any) -> None:
    before = snapshot(app)

    assert_refused(app, post(client, url, json.dumps(value).encode()), before, codes=(400,))


@HYPOTHESIS
@given(field=st.sampled_from(["id", "type", "created", "api_version", "livemode", "object",
                              "data"]), value=HOSTILE)
def test_hostile_envelope_is_refused_or_processed_never_a_crash(
        app: Flask, client: FlaskClient, url: str, field: str, value: Any) -> None:
    before = snapshot(app)
    event = json.loads(event_bytes())
    event[field] = value

    response = post(client, url, sim.dumps(event))

    if response.status_code == 400:
        assert_refused(app, response, before, codes=(400,))
    else:  # the value happened to be a valid one (a short printable type, say)
        assert response.status_code == 200, response.get_data(as_text=True)


DATA_FIELDS = ["id", "customer", "status", "items", "cancel_at", "current_period_end",
               "customer_email", "customer_details", "client_reference_id", "subscription",
               "metadata", "mode", "payment_status"]


@HYPOTHESIS
@given(kind=st.sampled_from(["subscription", "checkout"]), field=st.sampled_from(DATA_FIELDS),
       value=HOSTILE)
def test_hostile_data_is_processed_or_a_recorded_failure(
        app: Flask, client: FlaskClient, url: str, kind: str, field: str, value: Any) -> None:
    c = sim.Customer.make("d")
    event = (subscription_event("customer.subscription.created", c) if kind == "subscription"
             else checkout(c))
    event["data"]["object"][field] = value

    response = post(client, url, sim.dumps(event))

    assert_never_a_crash(app, response, event["id"])
