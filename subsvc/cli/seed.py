"""`flask seed tiers [--file]` and `flask seed demo`."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import click
from flask.cli import AppGroup

from subsvc import simulate as sim
from subsvc.accounts.entitlement import Policy
from subsvc.accounts.tiers import UnknownTier, all_tiers, default_tiers, require_tier, seed_tiers
from subsvc.cli.common import policy, user_or_fail
from subsvc.errors import ProcessingFailed
from subsvc.events import parse_event
from subsvc.extensions import db
from subsvc.inbox import Outcome, receive
from subsvc.models import Tier
from subsvc.status.payloads import user_status

group = AppGroup("seed", help="Seed tiers and demo data.")


@group.command("tiers")
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON tier file; its tiers are upserted by name.")
def tiers_command(path: Path | None) -> None:
    """Without --file: add the built-in tiers that are missing (never overwrites)."""
    if path is None:
        specs, overwrite = default_tiers(), False
    else:
        try:
            data = json.loads(path.read_text())
            specs = data["tiers"]
            if not isinstance(specs, list):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise click.ClickException(f'{path}: expected {{"tiers": [...]}}') from None
        overwrite = True
    try:
        changed = seed_tiers(db.session, specs, overwrite=overwrite)
    except ValueError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"Tiers added or updated: {', '.join(changed)}" if changed else "Tiers up to date.")


@dataclass(frozen=True)
class DemoUser:
    email: str
    external_id: str
    tier: str
    ends: str  # how the journey ends: active, past_due or canceled


DEMO_USERS = (
    DemoUser("ada@example.com", "user_ada", "pro", "active"),
    DemoUser("grace@example.com", "user_grace", "business", "past_due"),
    DemoUser("linus@example.com", "user_linus", "pro", "canceled"),
)


def demo_events(user: DemoUser, tier: Tier, now: int) -> list[sim.Json]:
    """Subscribe 40 days ago, then renew, fail the renewal or cancel about 10 days ago.

    Fixed event ids make a second run a series of duplicates, which change nothing.
    """
    j = sim.Journey(sim.Customer.from_email(user.email, external_id=user.external_id),
                    plan=sim.tier_price(tier.name, tier.prices), tier=tier.name)
    start = now - 40 * sim.DAY
    renewal = sim.add_interval(start) + 3600
    steps: list[tuple[str, int, dict[str, str]]] = [
        ("checkout.session.completed", start, {}),
        ("customer.subscription.created", start, {}),
        ("invoice.paid", start, {"billing_reason": "subscription_create"}),
    ]
    if user.ends == "past_due":
        steps += [("invoice.payment_failed", renewal, {}),
                  ("customer.subscription.updated", renewal + 1, {"status": "past_due"})]
    elif user.ends == "canceled":
        steps += [("customer.subscription.deleted", renewal, {})]
    else:
        steps += [("invoice.paid", renewal, {}),
                  ("customer.subscription.updated", renewal + 1, {})]
    return [j.event(type_, at, event_id=sim.derived_id("evt", f"demo:{user.email}:{n}", 24),
                    **kw) for n, (type_, at, kw) in enumerate(steps)]


def feed_demo(policy: Policy, now: int) -> dict[Outcome, int]:
    """Deliver every demo event to the inbox, as the webhook would; counts by outcome.

    Raises UnknownTier when a demo tier is missing and ProcessingFailed as receive() does.
    """
    tiers = all_tiers(db.session)
    journeys = [demo_events(user, require_tier(tiers, user.tier), now) for user in DEMO_USERS]
    counts = dict.fromkeys(Outcome, 0)
    for event in (event for events in journeys for event in events):
        counts[receive(parse_event(sim.dumps(event)), policy)] += 1
    return counts


@group.command("demo")
def demo_command() -> None:
    """A few demo users fed through the inbox as real events; running it again changes nothing."""
    try:
        counts = feed_demo(policy(), now=int(time.time()))
    except UnknownTier as exc:
        raise click.ClickException(f"{exc}: run `flask seed tiers` first") from None
    except ProcessingFailed as exc:
        raise click.ClickException(
            f"demo event {exc.extra.get('event_id')} failed;"
            " see `flask events list --status failed`"
        ) from None
    summary = ", ".join(f"{count} {outcome}" for outcome, count in counts.items() if count)
    click.echo(f"Demo events: {summary}")
    for user in DEMO_USERS:
        status = user_status(db.session, user_or_fail(user.email), policy())
        sub = status["subscription"] or {}
        click.echo(f"{status['email']:<20} tier {status['tier']:<9}"
                   f" subscription {sub.get('status')}")
    click.echo("Show a user's API key with `flask keys rotate EMAIL`.")
