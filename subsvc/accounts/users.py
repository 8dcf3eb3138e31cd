"""Finding, creating, linking and merging users.

Users are matched by client_reference_id (= external_id), then Stripe customer
id, then email. Events about a customer not known yet make a stub user; a later
checkout links it to the user made beforehand by merging the stub in, so one
customer never ends up with two users. The customer's email (an invoice's
`customer_email`, a `customer.*` event) links the same way whenever it arrives:
a stub made by a subscription event and a user made beforehand with that email
become one (link_email), so the order of those events does not matter.

Stripe does not verify the email a payer types, so an email alone never links an
event to a user who has a Stripe customer of their own or an API key: the event
gets a user of its own, without the email (it stays where it is), and the log
warns the operator. client_reference_id and the customer id still link: the
operator sets client_reference_id on the server (README, "Connecting Stripe").
"""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm.attributes import set_committed_value

from subsvc.models import User
from subsvc.models.base import DbSession
from subsvc.models.statements import insert_if_absent

log = logging.getLogger(__name__)

# ASCII A-Z only: str.lower() maps look-alikes onto ASCII (the Kelvin sign U+212A becomes
# "k"), so "kate@…" typed with that sign would match the real one. Every other character
# compares exactly.
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def normalize_email(email: str | None) -> str | None:
    email = (email or "").strip().translate(ASCII_LOWER)
    return email or None


def find_user_by_email(session: DbSession, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == normalize_email(email))).one_or_none()


def resolve_user(session: DbSession, *, customer_id: str | None, email: str | None = None,
                 external_id: str | None = None) -> User:
    """The user these identifiers point at, created or linked as needed. Adds and flushes."""
    email = normalize_email(email)
    for _ in range(2):
        candidates = _candidates(session, external_id, customer_id, email)
        taken = _taken_email_holder(candidates, customer_id, external_id, email)
        if taken is not None:
            candidates.remove(taken)
        own_email = None if taken is not None else email
        if candidates:
            user = _link(session, candidates, customer_id, own_email, external_id)
        else:
            user = insert_if_absent(session, User,
                                    new_user_values(customer_id, own_email, external_id))
            if user is not None:
                # Made just now, so it has no widget config: onboarding need not ask.
                set_committed_value(user, "widget_config", None)
        if user is not None:
            if taken is not None:
                log.warning("Matched user %s by email alone, but it has a Stripe customer or "
                            "API key of its own: gave this customer user %s instead, without "
                            "the email", taken.id, user.id)
            return user
        # Another worker created a user with one of these identifiers between our
        # SELECT and INSERT; the second pass finds it.
    raise RuntimeError("could not resolve user")  # pragma: no cover - needs a third racer


def link_email(session: DbSession, user: User, *, customer_id: str | None,
               email: str | None) -> User:
    """Put the email Stripe gives for a customer (an invoice's `customer_email`) on that
    customer's user, `user`, whatever the order the events came in; returns `user`, who
    stays the customer's user (a merge is always into it).

    Only when `user` is the customer's and lacks this email: resolve_user then links it
    within the rule above (merging a user made beforehand with that email, keeping the
    email where it is held by a user with a customer or key of their own).
    """
    if not email_link_due(customer_id, email, user_customer_id=user.stripe_customer_id,
                          user_email=user.email):
        return user
    return resolve_user(session, customer_id=customer_id, email=email)


def email_link_due(customer_id: str | None, email: str | None, *,
                   user_customer_id: str | None, user_email: str | None) -> bool:
    """Whether link_email has work to do for the customer's user with these values: they
    are the customer's and lack this email. Lets a caller that knows them skip the load."""
    email = normalize_email(email)
    return bool(customer_id and email) and user_customer_id == customer_id and (
        user_email != email)


def _taken_email_holder(candidates: list[User], customer_id: str | None,
                        external_id: str | None, email: str | None) -> User | None:
    """The user matched by the email alone who must not be linked: one with a Stripe
    customer other than this one, or with an API key (CONTRACT section 5, Users)."""
    holder = next((user for user in candidates if email and user.email == email), None)
    if holder is None or (external_id and holder.external_id == external_id) or (
            customer_id and holder.stripe_customer_id == customer_id):
        return None
    if holder.stripe_customer_id is not None or holder.api_key_issued_at is not None:
        return holder
    return None


def new_user_values(customer_id: str | None, email: str | None,
                    external_id: str | None) -> dict[str, Any]:
    """The columns of a user made by an event for identifiers no user holds (email
    normalised); the customer is its origin (accounts/welcome.py)."""
    return {"stripe_customer_id": customer_id, "email": email, "external_id": external_id,
            "origin_customer_id": customer_id}


def _candidates(session: DbSession, external_id: str | None, customer_id: str | None,
                email: str | None) -> list[User]:
    """Matching users in priority order (external id, customer, email), each once."""
    pairs = [(User.external_id, external_id), (User.stripe_customer_id, customer_id),
             (User.email, email)]
    clauses = [column == value for column, value in pairs if value]
    if not clauses:
        return []
    found = list(session.scalars(select(User).where(or_(*clauses))))
    ordered: list[User] = []
    for column, value in pairs:
        for user in found:
            if value and getattr(user, column.key) == value and user not in ordered:
                ordered.append(user)
    return ordered


def _link(session: DbSession, candidates: list[User], customer_id: str | None,
          email: str | None, external_id: str | None) -> User:
    primary, kept = candidates[0], []
    for other in candidates[1:]:
        if _can_merge(other, primary):
            merge_users(session, other, into=primary)
        else:
            kept.append(other)
            log.warning("Users %s and %s both match customer %s; not merging conflicting records",
                        primary.id, other.id, customer_id)
    # Values still held by another user stay there (the columns are unique).
    held = {(col, getattr(o, col)) for o in kept for col in ("stripe_customer_id", "email",
                                                               "external_id")}
    for column, value in (("stripe_customer_id", customer_id), ("email", email),
                          ("external_id", external_id)):
        if value and getattr(primary, column) is None and (column, value) not in held:
            setattr(primary, column, value)
    session.flush()
    return primary


def _can_merge(stub: User, primary: User) -> bool:
    """Merge only when no identity field disagrees: two real people are never fused."""
    return all(getattr(stub, col) is None or getattr(primary, col) is None
               or getattr(stub, col) == getattr(primary, col)
               for col in ("stripe_customer_id", "email", "external_id"))


def merge_users(session: DbSession, stub: User, *, into: User) -> None:
    """Move the stub's subscriptions, key and widget config onto `into`, then delete it."""
    for sub in list(stub.subscriptions):
        sub.user = into
    if into.widget_config is None and stub.widget_config is not None:
        stub.widget_config.user = into
    carried = {col: getattr(stub, col) for col in MERGED_FIELDS}
    if into.api_key_issued_at is not None:
        carried = {col: value for col, value in carried.items() if not col.startswith("api_key")}
    # A record that existed under another identity must never become revealable on the
    # welcome page: the result keeps an origin only when both had the same one.
    if stub.origin_customer_id != into.origin_customer_id:
        into.origin_customer_id = None
    stub_id = stub.id
    session.delete(stub)
    session.flush()  # free the stub's unique values before `into` takes them
    for column, value in carried.items():
        if value is not None and getattr(into, column) is None:
            setattr(into, column, value)
    log.info("Merged user %s into user %s", stub_id, into.id)


MERGED_FIELDS = ("stripe_customer_id", "email", "external_id", "api_key_hash", "api_key_prefix",
                 "api_key_issued_at", "api_key_revealed_at")


def create_user(session: DbSession, email: str, external_id: str | None = None) -> User:
    """A user made by an operator (`flask users create`); events link to it later."""
    user = User(email=normalize_email(email), external_id=external_id or None)
    session.add(user)
    session.flush()
    return user
