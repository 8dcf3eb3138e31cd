"""`flask stripe simulate` (`stripe trigger` without a network) and `flask stripe reconcile`.

simulate builds a realistic event (a subsvc.simulate Journey), signs it with the
first configured webhook secret and POSTs it to a running subsvc, like Stripe would.
reconcile (subsvc/reconcile.py) asks Stripe's API what subsvc missed.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError

from subsvc import simulate as sim
from subsvc.accounts.tiers import all_tiers, tier_for_price
from subsvc.accounts.users import find_user_by_email
from subsvc.cli.common import policy
from subsvc.cli.report import render_report
from subsvc.extensions import db
from subsvc.models import SubscriptionStatus, Tier
from subsvc.reconcile import EVENT_RETENTION_DAYS, StripeUnreachable, reconcile
from subsvc.stripe_api import StripeCallFailed, api_from_config

group = AppGroup("stripe", help="Talk Stripe to a running subsvc; reconcile with Stripe.")

DEFAULT_URL = "http://127.0.0.1:8000/api/webhooks/stripe"
TIMEOUT_SECONDS = 10


@group.command("simulate")
@click.argument("type_", metavar="TYPE")
@click.option("--email", default="customer@example.com", show_default=True)
@click.option("--tier", "tier_name", help="Use the first price of this tier (default: pro).")
@click.option("--price", "price_id", help="Use this Stripe price id.")
@click.option("--customer", help="Stripe customer id (default: the known user's, else derived "
                                 "from the email).")
@click.option("--subscription", help="Stripe subscription id (default: the known user's newest, "
                                     "else derived from the email).")
@click.option("--status", type=click.Choice([s.value for s in SubscriptionStatus]),
              help="The subscription's status, for customer.subscription.* events.")
@click.option("--url", default=DEFAULT_URL, show_default=True)
@click.option("--api-version", "api",
              type=click.Choice([*sim.API_NAMES, *sim.API_NAMES.values()]),
              default="new", show_default=True,
              help="The payload shape: "
              + ", ".join(f"{k} ({v})" for k, v in sim.API_NAMES.items()))
def simulate_command(type_: str, email: str, tier_name: str | None, price_id: str | None,
                     customer: str | None, subscription: str | None, status: str | None,
                     url: str, api: str) -> None:
    """Build a TYPE event, sign it and POST it; any unhandled TYPE makes an `ignored` event."""
    secrets = current_app.config["STRIPE_WEBHOOK_SECRET"]
    if not secrets:
        raise click.ClickException(
            "STRIPE_WEBHOOK_SECRET is not set: nothing to sign the event with")
    if tier_name and price_id:
        raise click.UsageError("give --tier or --price, not both")
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise click.UsageError("--url must be an http(s) URL")
    price, tier = _choose_price(tier_name, price_id)
    known_customer, known_subscription = _known_story(email)
    customer = customer or known_customer
    subscription = subscription or known_subscription
    # End the read before POSTing: on SQLite every transaction holds the write
    # lock (BEGIN IMMEDIATE), which the server needs to apply the event.
    db.session.rollback()
    c = sim.Customer.from_email(email, customer=customer, subscription=subscription)
    j = sim.Journey(c, sim.API_NAMES.get(api, api), plan=price, tier=tier)
    event = j.event(type_, int(time.time()), status=status)
    body, headers = sim.signed_request(event, secrets[0])
    click.echo(f"Sending {type_} {event['id']} for {c.email} (customer {c.customer}, "
               f"subscription {c.subscription}, price {price['id']}) to {_without_userinfo(url)}")
    code, answer = _post(url, body, headers)
    click.echo(f"HTTP {code} {answer}")
    if not 200 <= code < 300:
        raise click.ClickException(f"the endpoint answered {code}")


def _choose_price(tier_name: str | None, price_id: str | None) -> tuple[sim.Json, str | None]:
    """The price object and the tier the Checkout Session names in its metadata."""
    tiers = _tiers()
    if price_id:
        tier = tier_for_price(tiers, {"id": price_id})
        return sim.price(price_id=price_id), tier.name if tier else None
    name = tier_name or "pro"
    chosen = next((tier for tier in tiers if tier.name == name), None)
    if chosen is None:
        known = ", ".join(tier.name for tier in tiers) or "none; run `flask seed tiers`"
        raise click.ClickException(f"no tier named {name} (known: {known})")
    return sim.tier_price(chosen.name, chosen.prices), chosen.name


def _known_story(email: str) -> tuple[str | None, str | None]:
    """The customer and newest subscription of the user with this email, if there is one.

    So that `simulate … --email ada@example.com` continues Ada's story (her
    customer, her subscription) however it began, instead of inventing a second
    customer that would become a second, email-less user.
    """
    user = find_user_by_email(db.session, email)
    if user is None:
        return None, None
    newest = max(user.subscriptions, default=None,
                 key=lambda sub: (sub.last_event_created, sub.id))
    customer = user.stripe_customer_id or (newest.stripe_customer_id if newest else None)
    return customer, newest.stripe_subscription_id if newest else None


def _tiers() -> list[Tier]:
    try:
        return all_tiers(db.session)
    except SQLAlchemyError:
        raise click.ClickException(
            "cannot read the tiers from the database; run `flask db upgrade` and `flask seed tiers`"
        ) from None


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status, _render(response.read())
    except urllib.error.HTTPError as exc:  # a 4xx/5xx answer still has a body worth showing
        with exc:
            return exc.code, _render(exc.read())
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise click.ClickException(f"cannot reach {_without_userinfo(url)}: {reason}") from None


def _render(raw: bytes) -> str:
    try:
        data: Any = json.loads(raw)
    except ValueError:
        return raw[:200].decode("utf-8", "replace")
    return json.dumps(data)


def _without_userinfo(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


@group.command("reconcile")
@click.option("--since", "since_days", type=click.IntRange(1, EVENT_RETENTION_DAYS),
              default=EVENT_RETENTION_DAYS, show_default=True, metavar="DAYS",
              help="Look at undelivered events of the last DAYS days.")
@click.option("--dry-run", is_flag=True, help="Report what differs; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def reconcile_command(since_days: int, dry_run: bool, as_json: bool) -> None:
    """Feed undelivered events and pending thin events through the inbox, heal drifted
    subscriptions, print a drift report; exit 1 on anything left unhealed."""
    api = api_from_config(current_app.config)
    if api is None:
        raise click.ClickException("STRIPE_SECRET_KEY is not set: reconcile needs the Stripe API")
    db.session.rollback()  # no transaction (on SQLite: the write lock) across Stripe calls
    try:
        report = reconcile(api, policy(), since_days=since_days, dry_run=dry_run,
                           progress=lambda line: click.echo(line, err=True))
    except StripeUnreachable as exc:
        raise click.ClickException(f"Stripe is unreachable ({exc}): nothing was changed") from None
    except StripeCallFailed as exc:
        raise click.ClickException(f"{exc}: nothing was changed") from None
    click.echo(json.dumps(report.as_dict(), indent=2) if as_json else render_report(report))
    if not report.ok:
        raise SystemExit(1)
