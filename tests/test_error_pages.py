"""One way to answer: every page path answers a page with the pages' headers and layout, errors
included; every other path (the JSON API, webhooks, health, metrics) answers JSON."""
from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.builders import basic
from tests.conftest import ADMIN_TOKEN
from tests.pages import PAGE_HEADERS, assert_page

BIG_FORM = {"api_key": "x" * (1024 * 1024 + 1)}  # over MAX_CONTENT_LENGTH (1 MiB)


def boom() -> str:
    raise RuntimeError("a bug in a view")


@pytest.fixture
def failing_page(app: Flask) -> FlaskClient:
    """The app with one more page that fails as a bug would: an unhandled exception."""
    app.add_url_rule("/status/boom", "boom", boom)
    app.add_url_rule("/status/api/boom", "api_boom", boom)
    return app.test_client()


PAGE_ERRORS = [
    ("GET", "/status/nope", {}, {}, 404, "Page not found"),
    ("GET", "/status/users/nope", {}, {}, 404, "Page not found"),
    ("DELETE", "/status", {}, {}, 405, "Not available this way"),
    ("PUT", "/status/welcome", {}, {}, 405, "Not available this way"),
    ("GET", "/status/welcome", {}, {}, 400, "This link is incomplete"),
    ("GET", "/status/users", {}, {}, 401, "Sign-in required"),
    ("POST", "/status/welcome", {"Sec-Fetch-Site": "cross-site"}, {"session_id": "cs_test_a1"},
     403, "This request came from another site"),
    ("POST", "/status", {}, BIG_FORM, 413, "Too much data"),
]


@pytest.mark.parametrize(("method", "path", "headers", "form", "status", "title"), PAGE_ERRORS,
                         ids=[f"{m} {p} {s}" for m, p, _, _, s, _ in PAGE_ERRORS])
def test_page_errors_are_pages_with_the_pages_headers(
        client: FlaskClient, method: str, path: str, headers: dict[str, str],
        form: dict[str, str], status: int, title: str) -> None:
    response = client.open(path, method=method, headers=headers, data=form)
    body = assert_page(response, status)
    assert f"<h1>{title}</h1>" in body
    if status == 405:
        assert "GET" in response.headers["Allow"]


def test_a_bug_on_a_page_is_a_500_page_and_on_the_api_json(failing_page: FlaskClient) -> None:
    body = assert_page(failing_page.get("/status/boom"), 500)
    assert "<h1>Something went wrong</h1>" in body and "a bug in a view" not in body
    api = failing_page.get("/status/api/boom")
    assert (api.status_code, api.get_json()) == (500, {"error": "internal_error"})


@pytest.mark.parametrize(("method", "path", "form"), [
    ("GET", "/status/welcome?session_id=cs_test_a1b2c3", {}),
    ("POST", "/status/welcome", {"session_id": "cs_test_a1b2c3"}),
    ("POST", "/status", {"api_key": "sk_subsvc_whatever"}),
])
def test_the_database_down_is_a_503_page_with_the_pages_headers(
        unreachable: FlaskClient, method: str, path: str, form: dict[str, str]) -> None:
    body = assert_page(unreachable.open(path, method=method, data=form), 503)
    assert "<h1>Temporarily unavailable</h1>" in body


def test_the_operator_page_with_the_database_down_is_a_503_page(unreachable: FlaskClient) -> None:
    response = unreachable.get("/status/users?email=a@example.com",
                               headers=basic("ops", ADMIN_TOKEN))
    assert_page(response, 503)


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/status/api/nope", 404, "not_found"),
    ("GET", "/status/api", 404, "not_found"),
    ("DELETE", "/status/api/me", 405, "method_not_allowed"),
    ("GET", "/status/api/me", 401, "unauthorized"),
    ("GET", "/api/webhooks/stripe", 405, "method_not_allowed"),
    ("GET", "/subscriptions/internal/stripe-webhook", 405, "method_not_allowed"),
    ("POST", "/healthz", 405, "method_not_allowed"),
    ("POST", "/metrics", 405, "method_not_allowed"),
    ("GET", "/nope", 404, "not_found"),
    ("GET", "/statusnope", 404, "not_found"),
])
def test_api_paths_answer_json(client: FlaskClient, method: str, path: str, status: int,
                               code: str) -> None:
    response = client.open(path, method=method)
    assert (response.status_code, response.mimetype) == (status, "application/json")
    assert response.get_json()["error"] == code
    assert "Content-Security-Policy" not in response.headers


@pytest.mark.parametrize(("path", "kwargs"), [
    ("/status", {}),
    ("/status/users", {"headers": basic("ops", ADMIN_TOKEN)}),
    ("/status/welcome?session_id=cs_test_a1b2c3", {}),
])
def test_working_pages_carry_the_same_headers(client: FlaskClient, path: str,
                                              kwargs: dict[str, Any]) -> None:
    response = client.get(path, **kwargs)
    assert_page(response, 200)
    assert {name: response.headers[name] for name in PAGE_HEADERS} == PAGE_HEADERS
