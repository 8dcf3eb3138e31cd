from __future__ import annotations

import dataclasses
import re
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from subsvc import simulate as sim
from subsvc.accounts.api_keys import hash_key
from tests.builders import FULL_KEY, basic, deliver, user_row
from tests.conftest import ADMIN_TOKEN, PRO, now
from tests.pages import assert_page, facts, text_of

PENDING_REFRESH = '<meta http-equiv="refresh" content="5; url=/status/welcome?session_id='
REVEAL_FORM = '<form method="post" action="/status/welcome"'
ALREADY_SHOWN = "already shown"


def subscribe(client: FlaskClient, email: str = "ada@example.com", *,
              customer: sim.Customer | None = None, **sub_fields: Any) -> sim.Customer:
    """A real checkout: signed checkout.session.completed, then customer.subscription.created."""
    c = dataclasses.replace(customer or sim.Customer.make("ada"), email=email)
    start = now() - 60  # well within WELCOME_REVEAL_HOURS
    session = sim.checkout_session(customer=c.customer, subscription=c.subscription, email=c.email,
                                   client_reference_id=c.external_id, tier="pro",
                                   session_id=c.session, created=start - 60)
    sub = sim.subscription(customer=c.customer, sub_id=c.subscription, price_id=PRO,
                           lookup_key="pro_monthly", period_start=start,
                           period_end=sim.add_interval(start), **sub_fields)
    for event in (sim.event("checkout.session.completed", session, created=start),
                  sim.event("customer.subscription.created", sub, created=start + 1)):
        assert deliver(client, event).get_json()["status"] == "processed"
    return c


def welcome(client: FlaskClient, session_id: str) -> Any:
    """The welcome link opened: a plain GET."""
    return client.get("/status/welcome", query_string={"session_id": session_id})


def press_reveal(client: FlaskClient, session_id: str) -> Any:
    """The welcome page's "Show my API key" button pressed: its form's POST."""
    return client.post("/status/welcome", data={"session_id": session_id})


def only_key(body: str) -> str:
    keys = FULL_KEY.findall(body)
    assert len(keys) == 1
    return keys[0]


def reveal(client: FlaskClient, c: sim.Customer) -> str:
    return only_key(press_reveal(client, c.session).get_data(as_text=True))


def key_state(app: Flask, email: str) -> tuple[str | None, Any]:
    user = user_row(app, email)
    return user.api_key_hash, user.api_key_revealed_at


def assert_private(response: Any) -> None:
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


# --- GET/POST /status -----------------------------------------------------------------------------


def test_lookup_form_asks_for_the_key_in_a_password_field(client: FlaskClient) -> None:
    response = client.get("/status")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert '<form method="post"' in body
    assert re.search(r'<input id="api_key" name="api_key" type="password" autocomplete="off"', body)


def test_posting_a_key_shows_its_owners_status_without_the_key(client: FlaskClient) -> None:
    c = subscribe(client)
    key = reveal(client, c)
    response = client.post("/status", data={"api_key": f"  {key}\n"})
    body = assert_page(response, 200)
    account, limits = facts(body, "account"), facts(body, "limits")
    shown = {name: account[name] for name in ("Tier", "Paid", "Subscription", "Email", "API key")}
    assert shown == {
        "Tier": "pro", "Paid": "Yes", "Subscription": "active", "Email": "ada@example.com",
        "API key": f"{key[:16]}…"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", account["Renews on"])
    assert limits == {"Widgets": "10", "Widget configurations": "1 of 10"}
    assert "cancel" not in body.lower()
    assert key not in body and not FULL_KEY.search(body)


def test_a_user_whose_subscription_ended_is_on_the_free_tier_unpaid(client: FlaskClient) -> None:
    c = subscribe(client)
    key = reveal(client, c)
    ended = sim.subscription(customer=c.customer, sub_id=c.subscription, status="canceled",
                             price_id=PRO, period_start=now() - 60,
                             period_end=now() + 3600)
    deliver(client, sim.event("customer.subscription.deleted", ended, created=now()))
    body = assert_page(client.post("/status", data={"api_key": key}), 200)
    account = facts(body, "account")
    assert (account["Tier"], account["Paid"], account["Subscription"]) == (
        "free", "No, the free tier", "canceled")
    assert account["Ended"] == "The subscription has ended."
    assert facts(body, "limits") == {"Widgets": "1", "Widget configurations": "1 of 1"}
@pytest.mark.parametrize("form", [
    {}, {"api_key": ""}, {"api_key": "   "}, {"api_key": "sk_subsvc_" + "x" * 43},
    {"api_key": "not-a-key-<b>bold</b>"},
])
def test_a_missing_or_unknown_key_gets_the_form_again_with_401(client: FlaskClient,
                                                               form: dict[str, str]) -> None:
    subscribe(client)
    response = client.post("/status", data=form)
    body = response.get_data(as_text=True)
    assert response.status_code == 401
    assert 'role="alert"' in body and "not valid" in body
    assert 'name="api_key" type="password"' in body and "value=" not in body
    if form.get("api_key", "").strip():
        assert form["api_key"] not in body
    assert "<b>" not in body


def test_a_cancelling_subscription_is_noted_on_the_status_page(client: FlaskClient) -> None:
    c = subscribe(client, cancel_at_period_end=True)
    body = client.post("/status", data={"api_key": reveal(client, c)}).get_data(as_text=True)
    ends = facts(body, "account")["Ends on"]
    assert text_of(body, "cancel-notice") == (f"Cancels at the end of the current period ({ends}). "
                                              "The pro tier stays until then.")
    assert "Renews on" not in facts(body, "account")


def test_a_cancel_at_date_of_its_own_is_the_end_date(client: FlaskClient) -> None:
    cancel_at = now() + 5 * 86400  # a Customer Portal cancel: not at the period end
    c = subscribe(client, cancel_at=cancel_at)
    body = client.post("/status", data={"api_key": reveal(client, c)}).get_data(as_text=True)
    expected = datetime.fromtimestamp(cancel_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert facts(body, "account")["Ends on"] == expected
    assert text_of(body, "cancel-notice") == (f"Set to cancel on {expected}. "
                                              "The pro tier stays until then.")


# --- GET /status/users ----------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["ops", "", "anyone@example.com"])
def test_operators_see_a_users_status_with_basic_auth(client: FlaskClient, username: str) -> None:
    c = subscribe(client)
    response = client.get("/status/users", query_string={"email": "ADA@example.com "},
                          headers=basic(username, ADMIN_TOKEN))
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert_private(response)
    for shown in ("User status", c.subscription, c.external_id, "price_pro_monthly", ">pro<"):
        assert shown in body
    assert not FULL_KEY.search(body)


@pytest.mark.parametrize("headers", [
    {},
    basic("ops", "wrong-token"),
    basic(ADMIN_TOKEN, ""),
    {"Authorization": f"Bearer {ADMIN_TOKEN}"},
    {"Authorization": "Basic !!not-base64!!"},
], ids=["missing", "wrong", "token-as-username", "bearer", "garbled"])
def test_operator_page_challenges_without_the_admin_password(client: FlaskClient,
                                                             headers: dict[str, str]) -> None:
    subscribe(client)
    response = client.get("/status/users", query_string={"email": "ada@example.com"},
                          headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="subsvc"'
    assert "ada@example.com" not in response.get_data(as_text=True)


@pytest.mark.parametrize("config_overrides",
                         [{"STATUS_ADMIN_TOKEN": None}, {"STATUS_ADMIN_TOKEN": ""}])
def test_operator_page_is_off_without_an_admin_token(client: FlaskClient) -> None:
    response = client.get("/status/users", query_string={"email": "ada@example.com"},
                          headers=basic("ops", ""))
    assert response.status_code == 503
    assert "STATUS_ADMIN_TOKEN" in response.get_data(as_text=True)


def test_operator_page_answers_404_for_an_unknown_email(client: FlaskClient) -> None:
    subscribe(client)
    response = client.get("/status/users", query_string={"email": "nobody@example.com"},
                          headers=basic("ops", ADMIN_TOKEN))
    assert response.status_code == 404
    assert "No user has that email." in response.get_data(as_text=True)


def test_operator_page_without_an_email_shows_the_search_form(client: FlaskClient) -> None:
    response = client.get("/status/users", headers=basic("ops", ADMIN_TOKEN))
    assert response.status_code == 200
    assert 'name="email" type="email"' in response.get_data(as_text=True)


def test_pages_escape_data_from_stripe(client: FlaskClient) -> None:
    subscribe(client, email="ada<b>x</b>@example.com")
    response = client.get("/status/users", query_string={"email": "ada<b>x</b>@example.com"},
                          headers=basic("ops", ADMIN_TOKEN))
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "ada&lt;b&gt;x&lt;/b&gt;@example.com" in body and "<b>" not in body


# --- GET /status/welcome --------------------------------------------------------------------------


def test_pressing_the_button_replaces_the_unseen_key_with_one_shown_once(
        app: Flask, client: FlaskClient) -> None:
    c = subscribe(client)
    unseen_hash, revealed_at = key_state(app, c.email)
    assert unseen_hash is not None and revealed_at is None

    offer = welcome(client, c.session)
    offered = offer.get_data(as_text=True)
    assert offer.status_code == 200
    assert_private(offer)
    assert REVEAL_FORM in offered and f'value="{c.session}"' in offered
    assert not FULL_KEY.search(offered)
    assert key_state(app, c.email) == (unseen_hash, None)

    response = press_reveal(client, c.session)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert_private(response)
    assert "won't be shown again" in body
    key = only_key(body)

    new_hash, revealed_at = key_state(app, c.email)
    assert new_hash == hash_key(key) != unseen_hash
    assert revealed_at is not None
    me = client.get("/status/api/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200 and me.get_json()["email"] == c.email


@pytest.mark.parametrize("view", [welcome, press_reveal], ids=["get", "post"])
def test_later_welcome_views_say_the_key_was_already_shown(app: Flask, client: FlaskClient,
                                                           view: Any) -> None:
    c = subscribe(client)
    key = reveal(client, c)
    response = view(client, c.session)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert_private(response)
    assert ALREADY_SHOWN in body and "flask keys rotate" in body
    assert not FULL_KEY.search(body) and REVEAL_FORM not in body
    assert key_state(app, c.email)[0] == hash_key(key)


def test_another_checkout_of_the_same_user_does_not_reveal_again(client: FlaskClient) -> None:
    first = subscribe(client)
    key = reveal(client, first)
    again = dataclasses.replace(first, subscription=sim.new_id("sub"),
                                session=f"cs_test_b2{'x' * 56}")
    subscribe(client, customer=again)
    for view in (welcome, press_reveal):
        body = view(client, again.session).get_data(as_text=True)
        assert ALREADY_SHOWN in body and not FULL_KEY.search(body)
    assert client.get("/status/api/me",
                      headers={"Authorization": f"Bearer {key}"}).status_code == 200


def test_welcome_does_not_reveal_after_the_operator_rotated_the_key(client: FlaskClient,
                                                                    runner: FlaskCliRunner) -> None:
    c = subscribe(client)
    rotated = runner.invoke(args=["keys", "rotate", c.email])
    assert rotated.exit_code == 0
    for view in (welcome, press_reveal):
        body = view(client, c.session).get_data(as_text=True)
        assert ALREADY_SHOWN in body and not FULL_KEY.search(body)


def test_welcome_does_not_undo_a_revoked_key(app: Flask, client: FlaskClient,
                                             runner: FlaskCliRunner) -> None:
    c = subscribe(client)
    assert runner.invoke(args=["keys", "revoke", c.email]).exit_code == 0
    for view in (welcome, press_reveal):
        body = view(client, c.session).get_data(as_text=True)
        assert "revoked" in body and not FULL_KEY.search(body)
    assert key_state(app, c.email) == (None, None)


def test_welcome_waits_for_the_webhook_then_reveals(client: FlaskClient) -> None:
    c = sim.Customer.make("early")
    response = welcome(client, c.session)
    assert response.status_code == 200
    assert PENDING_REFRESH in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    subscribe(client, c.email, customer=c)
    assert REVEAL_FORM in welcome(client, c.session).get_data(as_text=True)
    assert FULL_KEY.search(press_reveal(client, c.session).get_data(as_text=True))


@pytest.mark.parametrize("query", [
    {}, {"session_id": ""}, {"session_id": "sub_1Qx8abc"}, {"session_id": "cs_"},
    {"session_id": "cs_test_<script>"}, {"session_id": "cs_" + "a" * 300},
    {"session_id": " cs_test_a1abc"},
])
def test_welcome_rejects_a_missing_or_malformed_session_id(
        client: FlaskClient, query: dict[str, str]) -> None:
    for response in (client.get("/status/welcome", query_string=query),
                     client.post("/status/welcome", data=query)):
        body = response.get_data(as_text=True)
        assert response.status_code == 400
        assert "<script>" not in body and PENDING_REFRESH not in body


def test_a_head_request_does_not_spend_the_reveal(app: Flask, client: FlaskClient) -> None:
    c = subscribe(client)
    response = client.head("/status/welcome", query_string={"session_id": c.session})
    assert response.status_code == 200
    assert key_state(app, c.email)[1] is None
    assert FULL_KEY.search(press_reveal(client, c.session).get_data(as_text=True))


def test_concurrent_button_presses_reveal_exactly_one_key(app: Flask, client: FlaskClient) -> None:
    c = subscribe(client)
    barrier = threading.Barrier(2, timeout=10)
    bodies: list[str] = []

    def view() -> None:
        own_client = app.test_client()
        barrier.wait()
        bodies.append(press_reveal(own_client, c.session).get_data(as_text=True))

    threads = [threading.Thread(target=view) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(bodies) == 2
    shown = [key for body in bodies for key in FULL_KEY.findall(body)]
    assert len(shown) == 1
    assert sum(ALREADY_SHOWN in body for body in bodies) == 1
    assert key_state(app, c.email)[0] == hash_key(shown[0])
