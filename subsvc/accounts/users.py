"""Finding, creating, linking and merging users.

Users are matched by client_reference_id (= external_id), then Stripe customer
id, then email (case-insensitive). Events about a customer not known yet make
a stub user; a later checkout links it to the user made beforehand by merging
the stub in, so one customer never ends up with two users.
"""
from __future__ import annotations

import logging

from sqlalchemy import or_, select

from subsvc.models import User
from subsvc.models.base import DbSession
from subsvc.models.statements import insert_if_absent

log = logging.getLogger(__name__)


def normalize_email(email: str | None) -> str | None:
    email = (email or "").strip().lower()
    return email or None


def find_user_by_email(session: DbSession, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == normalize_email(email))).one_or_none()


def resolve_user(session: DbSession, *, customer_id: str | None, email: str | None = None,
                 external_id: str | None = None) -> User:
    """The user these identifiers point at, created or linked as needed. Adds and flushes."""
    email = normalize_email(email)
    for _ in range(2):
        candidates = _candidates(session, external_id, customer_id, email)
        if candidates:
            return _link(session, candidates, customer_id, email, external_id)
        user = insert_if_absent(session, User, {
            "stripe_customer_id": customer_id, "email": email, "external_id": external_id,
        })
        if user is not None:
            return user
        # Another worker created a user with one of these identifiers between our
        # SELECT and INSERT; the second pass finds it.
    raise RuntimeError("could not resolve user")  # pragma: no cover - needs a third racer


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
