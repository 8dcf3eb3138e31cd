"""Nobody gets a key that is not theirs: the account and key takeover attacks of issue 6.

Each attack is what a payer can do without Stripe's help: type someone else's email into
Checkout (as typed, upper-cased, or with a Unicode look-alike), put someone else's id in
`client_reference_id` (a Payment Link takes it from the URL), leave the payment unpaid, or
hold on to an old session id. Events are real, correctly signed deliveries; the visitor does
everything the welcome page offers (`open_welcome` opens the link and presses its button).
"""
from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from subsvc import simulate as sim
from subsvc.extensions import db
from subsvc.models import User
from tests.builders import (
    FULL_KEY,
    checkout,
    deliver_ok,
    invoice_event,
    open_welcome,
    status_of,
    subscription_event,
    subscription_row,
    users,
)
from tests.conftest import ADMIN_TOKEN, now

HOUR = 3600
KELVIN = "\u212a"  # KELVIN SIGN: str.lower() turns it into an ASCII "k"

VICTIM_EMAIL = "kate@example.com"
ATTACKER_EMAILS = {
    "exact": VICTIM_EMAIL,
    "upper-case": VICTIM_EMAIL.upper(),
    "kelvin-sign": KELVIN + VICTIM_EMAIL[1:],
}


def victim() -> sim.Customer:
    return dataclasses.replace(sim.Customer.make("kate"), email=VICTIM_EMAIL)


def attacker(email: str = "mallory@example.com", external_id: str = "user_mallory") -> sim.Customer:
    return dataclasses.replace(sim.Customer.make("mallory"), email=email, external_id=external_id)


def subscribe(client: FlaskClient, c: sim.Customer, *, at: int | None = None,
              **session: Any) -> None:
    """A completed checkout followed by its subscription, both signed and delivered."""
    at = now() - 60 if at is None else at
    deliver_ok(client, checkout(c, at=at, **session))
    deliver_ok(client, subscription_event("customer.subscription.created", c, at=at + 1,
                                          period=(at, sim.add_interval(at))))


def owner_of(client: FlaskClient, key: str) -> dict[str, Any] | None:
    response = client.get("/status/api/me", headers={"Authorization": f"Bearer {key}"})
    return response.get_json() if response.status_code == 200 else None


def user_row(app: Flask, customer_id: str) -> User:
    with app.app_context():
        return db.session.scalars(select(User).where(User.stripe_customer_id == customer_id)).one()


def key_state(app: Flask, customer_id: str) -> tuple[str | None, Any]:
    user = user_row(app, customer_id)
    return user.api_key_hash, user.api_key_revealed_at


def assert_no_key_of(client: FlaskClient, body: str, c: sim.Customer) -> None:
    """No key on the page opens the victim's account, and nothing of theirs is on it."""
    for key in FULL_KEY.findall(body):
        owner = owner_of(client, key)
        assert owner is None or (owner["email"], owner["external_id"]) != (c.email, c.external_id)
    assert c.email not in body and c.external_id not in body


def assert_victim_reveals_own_key(client: FlaskClient, c: sim.Customer, tier: str = "pro") -> None:
    body = open_welcome(client, c.session)
    [key] = FULL_KEY.findall(body)
    owner = owner_of(client, key)
    assert owner is not None
    assert (owner["email"], owner["tier"]) == (c.email, tier)


# --- an email alone never links ----------------------------------------------------------------


@pytest.mark.parametrize("email", ATTACKER_EMAILS.values(), ids=ATTACKER_EMAILS.keys())
@pytest.mark.parametrize("victim_first", ["checkout", "invoice"])
def test_checkout_with_the_victims_email_never_reveals_the_victims_key(
        app: Flask, client: FlaskClient, email: str, victim_first: str) -> None:
    v, a = victim(), attacker(email, external_id="")
    if victim_first == "checkout":
        subscribe(client, v)
    else:  # Stripe sent the victim's first invoice (with their email) before their checkout
        deliver_ok(client, invoice_event("invoice.paid", v, at=now() - 120))
    before = key_state(app, v.customer)
    assert before[0] is not None and before[1] is None

    subscribe(client, a, client_reference_id=None)
    assert_no_key_of(client, open_welcome(client, a.session), v)

    assert key_state(app, v.customer) == before  # not spent, not replaced
    victim_user = user_row(app, v.customer)
    assert (victim_user.email, victim_user.stripe_customer_id) == (v.email, v.customer)
    assert subscription_row(app, a.subscription).user_id != victim_user.id
    if victim_first == "invoice":
        deliver_ok(client, checkout(v, at=now() - 30))
    assert_victim_reveals_own_key(client, v)
    assert subscription_row(app, v.subscription).user_id == victim_user.id


def test_a_look_alike_email_gets_a_user_of_its_own_with_that_exact_address(
        app: Flask, client: FlaskClient) -> None:
    v, a = victim(), attacker(ATTACKER_EMAILS["kelvin-sign"], external_id="")
    subscribe(client, v)
    subscribe(client, a, client_reference_id=None)
    assert user_row(app, a.customer).email == ATTACKER_EMAILS["kelvin-sign"]
    assert user_row(app, v.customer).email == VICTIM_EMAIL


def test_an_email_held_by_another_customer_is_not_copied_and_the_operator_is_warned(
        app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    v, a = victim(), attacker(VICTIM_EMAIL.upper(), external_id="")
    subscribe(client, v)
    with caplog.at_level(logging.WARNING, logger="subsvc"):
        subscribe(client, a, client_reference_id=None)

    own = user_row(app, a.customer)
    assert own.email is None and own.id != user_row(app, v.customer).id
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(own.id) in m and str(user_row(app, v.customer).id) in m for m in warnings)
    assert not any("@" in m or "example.com" in m.lower() for m in warnings)


def test_an_email_alone_never_links_to_a_user_holding_a_key(
        app: Flask, client: FlaskClient, runner: FlaskCliRunner) -> None:
    """A user made beforehand who was given a key by the operator has no customer, but is taken."""
    assert runner.invoke(args=["users", "create", VICTIM_EMAIL]).exit_code == 0
    rotated = runner.invoke(args=["keys", "rotate", VICTIM_EMAIL])
    assert rotated.exit_code == 0
    operator_key = rotated.output.strip().splitlines()[-1]
    a = attacker(VICTIM_EMAIL, external_id="")

    subscribe(client, a, client_reference_id=None)

    assert len(users(app)) == 2
    owner = owner_of(client, operator_key)
    assert owner is not None and (owner["email"], owner["tier"]) == (VICTIM_EMAIL, "free")
    assert_no_key_of(client, open_welcome(client, a.session), victim())


def test_unpaid_checkout_with_the_victims_email_reveals_nothing_of_theirs(
        app: Flask, client: FlaskClient) -> None:
    v, a = victim(), attacker(VICTIM_EMAIL, external_id="")
    subscribe(client, v)
    before = key_state(app, v.customer)
    deliver_ok(client, checkout(a, at=now() - 30, client_reference_id=None,
                                payment_status="unpaid"))

    assert_no_key_of(client, open_welcome(client, a.session), v)
    assert key_state(app, v.customer) == before
    assert_victim_reveals_own_key(client, v)


def test_emails_compare_by_ascii_lower_casing_only(client: FlaskClient,
                                                   runner: FlaskCliRunner) -> None:
    for email in (VICTIM_EMAIL, "JOSÉ@example.com"):
        assert runner.invoke(args=["users", "create", email]).exit_code == 0
    assert status_of(client, "KATE@Example.COM")["email"] == VICTIM_EMAIL
    assert status_of(client, "JOSÉ@EXAMPLE.com")["email"] == "josÉ@example.com"
    for look_alike in (ATTACKER_EMAILS["kelvin-sign"], "josé@example.com"):
        response = client.get("/status/api/users", query_string={"email": look_alike},
                              headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert response.status_code == 404, look_alike


# --- client_reference_id links, but never reveals another identity's key ----------------------


def test_attacker_set_client_reference_id_never_reveals_the_victims_key(
        app: Flask, client: FlaskClient) -> None:
    v = victim()
    subscribe(client, v)
    before = key_state(app, v.customer)
    a = attacker(external_id=v.external_id)  # ?client_reference_id=user_kate on a Payment Link

    subscribe(client, a)

    assert_no_key_of(client, open_welcome(client, a.session), v)
    assert key_state(app, v.customer) == before
    assert_victim_reveals_own_key(client, v)


def test_a_user_made_beforehand_is_linked_but_its_key_is_not_revealed_by_the_welcome_page(
        app: Flask, client: FlaskClient, runner: FlaskCliRunner) -> None:
    """The record existed before the checkout under the operator's identity, so whoever holds
    the session id may be someone who only knows that user's id: the operator hands out its key."""
    c = victim()
    made = runner.invoke(args=["users", "create", c.email, "--external-id", c.external_id])
    assert made.exit_code == 0
    # Stripe's subscription event comes first and makes a stub; the checkout merges it in.
    deliver_ok(client, subscription_event("customer.subscription.created", c, at=now() - 60,
                                          period=(now(), sim.add_interval(now()))))
    deliver_ok(client, checkout(c, at=now() - 30))

    [user] = users(app)
    assert (user.email, user.stripe_customer_id, user.api_key_prefix is not None) == (
        c.email, c.customer, True)
    body = open_welcome(client, c.session)
    assert not FULL_KEY.search(body) and c.email not in body
    assert "support" in body
    assert key_state(app, c.customer)[1] is None


def test_events_about_the_checkouts_own_customer_before_it_still_reveal(
        app: Flask, client: FlaskClient) -> None:
    """Stripe often sends customer.subscription.created first: its stub is this customer's."""
    c = victim()
    deliver_ok(client, subscription_event("customer.subscription.created", c, at=now() - 60,
                                          period=(now(), sim.add_interval(now()))))
    deliver_ok(client, checkout(c, at=now() - 30))
    assert_victim_reveals_own_key(client, c)


# --- old session ids ------------------------------------------------------------------------------


@pytest.mark.parametrize(("config_overrides", "age", "revealed"), [
    ({}, 25 * HOUR, False),
    ({}, 23 * HOUR, True),
    ({"WELCOME_REVEAL_HOURS": 1}, 2 * HOUR, False),
    ({"WELCOME_REVEAL_HOURS": 1}, 30 * 60, True),
], indirect=["config_overrides"], ids=["24h-25h-old", "24h-23h-old", "1h-2h-old", "1h-30min-old"])
def test_a_session_id_reveals_only_within_welcome_reveal_hours(
        app: Flask, client: FlaskClient, age: int, revealed: bool) -> None:
    c = victim()
    subscribe(client, c, at=now() - age)
    body = open_welcome(client, c.session)
    assert bool(FULL_KEY.search(body)) is revealed
    assert (key_state(app, c.customer)[1] is not None) is revealed
    if not revealed:
        assert "support" in body and c.email not in body


# --- a plain GET neither shows nor spends --------------------------------------------------------


def test_a_plain_get_neither_shows_nor_spends_the_key(app: Flask, client: FlaskClient) -> None:
    c = victim()
    subscribe(client, c)
    before = key_state(app, c.customer)
    for _ in range(3):  # a link preview, a prefetch, the visitor
        response = client.get("/status/welcome", query_string={"session_id": c.session})
        body = response.get_data(as_text=True)
        assert response.status_code == 200
        assert not FULL_KEY.search(body)
        assert '<form method="post"' in body
    assert key_state(app, c.customer) == before
    assert_victim_reveals_own_key(client, c)


@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "cross-site"},
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost"},
], ids=["sec-fetch-cross-site", "foreign-origin", "opaque-origin", "cross-site-wins"])
def test_a_cross_site_post_cannot_spend_the_reveal(app: Flask, client: FlaskClient,
                                                   headers: dict[str, str]) -> None:
    c = victim()
    subscribe(client, c)
    before = key_state(app, c.customer)
    response = client.post("/status/welcome", data={"session_id": c.session}, headers=headers)
    assert response.status_code == 403
    assert not FULL_KEY.search(response.get_data(as_text=True))
    assert key_state(app, c.customer) == before


@pytest.mark.parametrize("headers", [
    {}, {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}, {"Sec-Fetch-Site": "none"},
], ids=["no-fetch-metadata", "same-origin", "typed-by-user"])
def test_a_same_site_post_reveals_once_without_caching(client: FlaskClient,
                                                       headers: dict[str, str]) -> None:
    c = victim()
    subscribe(client, c)
    response = client.post("/status/welcome", data={"session_id": c.session}, headers=headers)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert len(FULL_KEY.findall(response.get_data(as_text=True))) == 1
    again = client.post("/status/welcome", data={"session_id": c.session}, headers=headers)
    assert not FULL_KEY.search(again.get_data(as_text=True))
    assert "already shown" in again.get_data(as_text=True)


# --- nothing personal for a caller holding only a session id ----------------------------------


def test_the_welcome_page_never_shows_an_email_or_other_personal_data(
        client: FlaskClient, runner: FlaskCliRunner) -> None:
    c = victim()
    subscribe(client, c)
    bodies = [open_welcome(client, c.session), open_welcome(client, c.session)]  # shown, then spent
    assert FULL_KEY.search(bodies[0]) and not FULL_KEY.search(bodies[1])
    assert runner.invoke(args=["keys", "revoke", c.email]).exit_code == 0
    bodies.append(open_welcome(client, c.session))
    for body in bodies:
        for personal in (c.email, "kate@", c.external_id, c.customer, c.subscription):
            assert personal not in body


# --- the "setting up" page refreshes for at most a minute --------------------------------------


def test_the_setting_up_page_refreshes_for_at_most_a_minute(client: FlaskClient) -> None:
    c = victim()
    url, waited, pages = f"/status/welcome?session_id={c.session}", 0, 0
    while True:
        body = client.get(url).get_data(as_text=True)
        refresh = re.search(r'<meta http-equiv="refresh" content="(\d+);\s*url=([^"]+)">', body)
        if refresh is None:
            break
        pages += 1
        assert pages <= 60, "the page keeps refreshing"
        waited += int(refresh.group(1))
        url = refresh.group(2).replace("&amp;", "&")
        assert url.startswith("/status/welcome?") and c.session in url
    assert 0 < waited <= 60
    assert "reload" in body.lower() and "support" in body
    subscribe(client, c)
    assert '<form method="post"' in client.get(url).get_data(as_text=True)
    assert FULL_KEY.search(open_welcome(client, c.session))
