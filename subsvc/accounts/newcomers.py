"""A new customer's first event in Core statements: nobody and no subscription known yet.

Every customer's first event, whichever arrives first (the checkout, or under concurrent
delivery as often a subscription or invoice event), made a user and a subscription row
through the ORM: each statement with its unit-of-work bookkeeping (a checkout took about
3.5 ms, against 0.9 ms for the other events), all of it while holding the write lock on
SQLite and the customer's lock on Postgres. Here one probe asks whether any user holds one
of the event's identifiers, whether the subscription row exists, and the tier table's
fingerprint (tier_cache.py). When nothing is known, a checkout is three INSERTs (the user
with the key onboarding would issue, the subscription with the checkout applied, the widget
configuration) and a subscription or invoice event two (the stub user, the bare row, which
the merge then fills); a subscription of a customer whose user exists already (a customer
event made it, or it is their next subscription) is the bare row alone. Anything else known
takes the ORM paths as before (linking and merging users is rare); a checkout's general
path still uses what the probe found.

The rules are the ORM paths' own: the user's columns (users.new_user_values), the key
(api_keys.new_key), the checkout's effect on the row (handlers/checkout.apply_checkout), the
bare row (subscriptions.new_row) and the widget seed (onboarding.widget_seed) are the same
functions; tests/test_newcomers.py holds both paths to the same rows.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    String,
    Table,
    Update,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    update,
)

from subsvc.accounts.api_keys import new_key
from subsvc.accounts.entitlement import Policy
from subsvc.accounts.merge import Merged, News, expire_loaded, merge
from subsvc.accounts.onboarding import expire_user, log_onboarded, onboard_in_core, widget_seed
from subsvc.accounts.subscriptions import (
    get_or_create_subscription,
    new_row,
    row_of,
    stamp_checkout,
)
from subsvc.accounts.tier_cache import Fingerprint, TierCache, fingerprint_columns, tier_cache
from subsvc.accounts.users import new_user_values, normalize_email
from subsvc.models import Subscription, User, WidgetConfig
from subsvc.models.base import DbSession, now_utc
from subsvc.models.prepared import prepared
from subsvc.models.statements import core_connection, insert_row_if_absent


@dataclass(frozen=True)
class Probe:
    """What the probe found of an event's customer, email, external id and subscription."""

    customer_id: str | None
    email: str | None  # normalised
    external_id: str | None
    subscription_id: str
    user_known: bool
    subscription_known: bool
    customer_user_id: int | None  # the user holding customer_id, and their email
    customer_user_email: str | None
    others_known: bool  # a user other than customer_user holds the external id or email
    tiers: TierCache  # checked against the table's fingerprint in the same statement

    @property
    def nobody_known(self) -> bool:
        return not (self.user_known or self.subscription_known)


def probe(session: DbSession, *, customer_id: str | None, email: str | None,
          external_id: str | None, subscription_id: str) -> Probe:
    """One statement: does any user hold one of the identifiers (email normalised), does the
    subscription's row exist, and the tier table's fingerprint."""
    connection = core_connection(session)
    row = prepared(connection, _probe).first(connection, {
        "ext": external_id or None, "cust": customer_id or None, "email": email or None,
        "sub": subscription_id})
    tiers = tier_cache(session, seen=Fingerprint(row.tier_count, row.tiers_updated))
    return Probe(customer_id, email, external_id, subscription_id, bool(row.user_known),
                 bool(row.subscription_known), row.customer_user_id, row.customer_user_email,
                 bool(row.others_known), tiers)


def onboard_newcomer(session: DbSession, found: Probe, *,
                     change: Callable[[Subscription, TierCache], None],
                     policy: Policy) -> bool:
    """Make the user, subscription and widget config of a checkout nobody is known for
    (`found.nobody_known`).

    `change(draft, tiers)` applies the checkout to the new row (it may raise, e.g. for an
    unknown tier: nothing is written yet). False, having written nothing, when another
    transaction took one of the identifiers first (the general path then runs).
    """
    assert found.nobody_known
    draft = Subscription(**new_row(found.subscription_id, found.customer_id, 0))
    change(draft, found.tiers)
    _, key_hash, key_prefix = new_key()  # never shown: the welcome page replaces it
    now = now_utc()
    user_id = _insert_user(session, found, now, {
        "api_key_hash": key_hash, "api_key_prefix": key_prefix, "api_key_issued_at": now})
    if user_id is None:
        return False
    draft.user_id = user_id
    if _insert_subscription(session, row_of(draft), now) is None:
        # The probe saw no such row, and only this customer's events (locked out) make it.
        raise RuntimeError(f"subscription {found.subscription_id} appeared during its checkout")
    name, config = widget_seed([draft], found.tiers.tiers, policy)
    widgets = WidgetConfig.__table__
    insert_row_if_absent(session, widgets, {"user_id": user_id, "seeded_from_tier": name,
                                            "config": config, "created_at": now}, widgets.c.id)
    log_onboarded(user_id)
    return True


def merge_or_create(session: DbSession, news: News, *, customer_id: str | None,
                    email: str | None = None) -> Merged:
    """merge(news); a subscription new to subsvc gets its row (and maybe its user) first:
    add_first_subscription when nobody or just the customer's user is known, else
    get_or_create_subscription (ORM)."""
    merged = merge(session, news)
    if merged is not None:
        return merged
    if not add_first_subscription(session, customer_id=customer_id,
                                  email=normalize_email(email),
                                  subscription_id=news.subscription_id):
        get_or_create_subscription(session, news.subscription_id, customer_id=customer_id,
                                   email=email)
    merged = merge(session, news)
    assert merged is not None
    return merged


def checkout_known_customer(session: DbSession, found: Probe, *, session_id: str,
                            created: int, change: Callable[[Subscription], None],
                            policy: Policy) -> bool:
    """A checkout whose customer's user and subscription row exist already (its subscription
    or invoice events came first) and whose external id and email no other user holds:
    nothing to merge, so resolve_user's work is to fill the user's missing external id and
    email, done here by one UPDATE; the row gets the checkout as link_and_onboard gives it,
    and the user is onboarded in Core. False, having written nothing, when the checkout is
    not such a one (link_and_onboard then runs).
    """
    user_id = found.customer_user_id
    if user_id is None or found.others_known or not found.subscription_known:
        return False
    connection = core_connection(session)
    prepared(connection, _fill_identifiers).execute(connection, {
        "user_id": user_id, "email": found.email, "ext": found.external_id,
        "updated_at": now_utc()})
    expire_user(session, user_id)
    # The checkout's rules (link_checkout, apply_checkout) run on a transient copy of the
    # row, never in the session; what they changed is written back in one UPDATE.
    before = prepared(connection, _subscription_row).first(
        connection, {"sub": found.subscription_id})._asdict()
    sub = Subscription(**before)
    if sub.user_id != user_id:  # link_checkout: the checkout says who owns it
        sub.user_id = user_id
    stamp_checkout(sub, session_id, created)
    change(sub)
    after = row_of_all(sub)
    if after != before:
        prepared(connection, _update_subscription).execute(
            connection, {**after, "updated_at": now_utc()})
        expire_loaded(session, sub.id)
    onboard_in_core(session, user_id, policy, checkout=True, tiers=found.tiers.tiers)
    return True


def row_of_all(sub: Subscription) -> dict[str, Any]:
    return {column.key: getattr(sub, column.key) for column in Subscription.__table__.columns}


@cache
def _subscription_row() -> Select[Any]:
    t = Subscription.__table__
    return select(*t.columns).where(t.c.stripe_subscription_id == bindparam("sub", type_=String))


@cache
def _update_subscription() -> Update:
    t = Subscription.__table__
    assert isinstance(t, Table)
    return update(t).where(t.c.id == bindparam("id", type_=Integer)).values(
        {column.key: bindparam(column.key, type_=column.type) for column in t.columns
         if column.key not in ("id", "created_at")})


@cache
def _fill_identifiers() -> Update:
    # _link's rule for the one candidate: a value the user lacks is filled in (no one else
    # holds it: the probe said so). Only a user with something missing is updated.
    t = User.__table__
    assert isinstance(t, Table)
    email, ext = bindparam("email", type_=String), bindparam("ext", type_=String)
    return (update(t).where(t.c.id == bindparam("user_id", type_=Integer),
                            or_(and_(t.c.email.is_(None), email.is_not(None)),
                                and_(t.c.external_id.is_(None), ext.is_not(None))))
            .values(email=func.coalesce(t.c.email, email),
                    external_id=func.coalesce(t.c.external_id, ext),
                    updated_at=bindparam("updated_at", type_=t.c.updated_at.type)))


def add_first_subscription(session: DbSession, *, customer_id: str | None, email: str | None,
                           subscription_id: str) -> bool:
    """A subscription or invoice event about a subscription with no row, in Core.

    When nobody holds its customer or email (normalised): the stub user and the bare row, two
    INSERTs, as get_or_create_subscription would make them through the ORM (the event came
    before its checkout). When a user holds the customer and the event brings no email
    other than theirs (a customer event made them, or it is the customer's next
    subscription): the bare row for that user, which is all resolve_user would do for them.
    False, having written nothing, otherwise (there is linking to do: the ORM path runs).
    """
    found = probe(session, customer_id=customer_id, email=email, external_id=None,
                  subscription_id=subscription_id)
    if found.subscription_known:
        return False
    now = now_utc()
    if found.customer_user_id is not None and email in (None, found.customer_user_email):
        user_id: int | None = found.customer_user_id
    elif not found.user_known:
        user_id = _insert_user(session, found, now, {})
    else:
        return False
    if user_id is None:
        return False
    # None: another transaction made the row just now (only when the event names no
    # customer, so no lock); it exists either way, and the merge that follows finds it.
    _insert_subscription(session, new_row(subscription_id, customer_id, user_id), now)
    return True


def _insert_user(session: DbSession, found: Probe, now: datetime,
                 extra: dict[str, Any]) -> int | None:
    """None: another transaction (Postgres, another customer) took the email just now."""
    users = User.__table__
    return insert_row_if_absent(session, users, {  # type: ignore[no-any-return]
        **new_user_values(found.customer_id, found.email, found.external_id),
        "created_at": now, "updated_at": now, **extra}, users.c.id)


def _insert_subscription(session: DbSession, values: dict[str, Any], now: datetime) -> Any:
    # created_at and updated_at as the ORM would fill them in (prepared statements compute
    # no Python-side defaults).
    subscriptions = Subscription.__table__
    return insert_row_if_absent(session, subscriptions,
                                {**values, "created_at": now, "updated_at": now},
                                subscriptions.c.id)


@cache
def _probe() -> Select[Any]:
    # One statement for every checkout (a compiled-cache hit): an identifier the checkout
    # lacks is bound as NULL, which equals nothing, so it matches no user.
    users, subscriptions = User.__table__.c, Subscription.__table__.c
    given = {name: bindparam(name, type_=String) for name in ("ext", "cust", "email")}
    return select(
        exists().where(or_(users.external_id == given["ext"],
                           users.stripe_customer_id == given["cust"],
                           users.email == given["email"])).label("user_known"),
        exists().where(subscriptions.stripe_subscription_id == bindparam("sub", type_=String))
        .label("subscription_known"),
        *(select(column).where(users.stripe_customer_id == given["cust"]).scalar_subquery()
          .label(f"customer_user_{column.key}") for column in (users.id, users.email)),
        exists().where(or_(users.external_id == given["ext"], users.email == given["email"]),
                       or_(users.stripe_customer_id.is_(None),
                           users.stripe_customer_id != given["cust"])).label("others_known"),
        *fingerprint_columns(),
    )
