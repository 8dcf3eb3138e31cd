"""The post-checkout welcome: may this checkout session reveal its user's API key, and the reveal.

Whoever holds a checkout session id can open the welcome page, and the id says nothing
about who typed the email or the client_reference_id that linked the checkout to a user.
So a key is revealed only when all of these hold (CONTRACT section 4, `/status/welcome`):

- the user first appeared with this checkout's own Stripe customer
  (`User.origin_customer_id`, set when an event about that customer created the record):
  never a user who existed before under another identity, whichever identifier linked it;
- the checkout event's `created` is at most `window_hours` old, so an old id from a
  browser history or a shared screenshot reveals nothing;
- the key was never shown (welcome page, `flask keys rotate`) nor revoked.

The state says which, without a word about the user: the page shows no personal data.
"""
from __future__ import annotations

import logging
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from subsvc.accounts.api_keys import is_revoked, reveal_key_once, was_shown
from subsvc.models import Subscription, User
from subsvc.models.base import DbSession

log = logging.getLogger(__name__)

HOUR = 3600


class Welcome(StrEnum):
    PENDING = "pending"  # the webhook has not arrived yet
    READY = "ready"  # a key can be revealed: the page offers the button
    REVEALED = "revealed"  # just revealed (POST only)
    ALREADY_SHOWN = "already_shown"
    REVOKED = "revoked"
    NOT_HERE = "not_here"  # another identity's record, or the session is too old


def checkout_subscription(session: DbSession, session_id: str) -> Subscription | None:
    stmt = (select(Subscription).options(joinedload(Subscription.user))
            .where(Subscription.checkout_session_id == session_id))
    return session.scalars(stmt).one_or_none()


def welcome_state(sub: Subscription | None, *, now: int, window_hours: int) -> Welcome:
    if sub is None:
        return Welcome.PENDING
    # Checked first: the key state of a record that is not this checkout's is nobody's business.
    if not _is_checkouts_own(sub.user, sub) or not _is_recent(sub, now, window_hours):
        return Welcome.NOT_HERE
    if is_revoked(sub.user):
        return Welcome.REVOKED
    if was_shown(sub.user):
        return Welcome.ALREADY_SHOWN
    return Welcome.READY


def reveal_for_checkout(session: DbSession, session_id: str, *, now: int,
                        window_hours: int) -> tuple[Welcome, str | None]:
    """The state after trying to reveal, and the key when this call revealed it. Adds; the
    caller commits before showing the key."""
    sub = checkout_subscription(session, session_id)
    state = welcome_state(sub, now=now, window_hours=window_hours)
    if state is not Welcome.READY or sub is None or sub.stripe_customer_id is None:
        return state, None
    key = reveal_key_once(session, sub.user, origin_customer_id=sub.stripe_customer_id)
    if key is not None:
        log.info("Revealed API key on the welcome page for user %s", sub.user.id)
        return Welcome.REVEALED, key
    # Lost a race with another reveal (or a rotate, revoke or merge): read the state again.
    session.expire_all()
    again = welcome_state(checkout_subscription(session, session_id), now=now,
                          window_hours=window_hours)
    return (Welcome.ALREADY_SHOWN if again is Welcome.READY else again), None


def _is_checkouts_own(user: User, sub: Subscription) -> bool:
    return user.origin_customer_id is not None and user.origin_customer_id == sub.stripe_customer_id


def _is_recent(sub: Subscription, now: int, window_hours: int) -> bool:
    return sub.checkout_created is not None and now - sub.checkout_created <= window_hours * HOUR
