"""The common checkout in Core statements: a customer, email and subscription never seen before.

Most checkouts are a new customer's first, and every one of them made a user, a subscription
and a widget configuration through the ORM: eight statements, each with its unit-of-work
bookkeeping (about 3.5 ms, against 0.9 ms for the other events), all of it while holding the
write lock on SQLite and the customer's lock on Postgres. Here one probe asks whether any
user holds one of the checkout's identifiers, whether the subscription row exists, and the
tier table's fingerprint (tier_cache.py); when nothing is known, the user (with the key
onboarding would issue), the subscription and the widget configuration are three INSERTs.
Anything known sends the checkout down the general path (handlers/checkout.py), which
links, merges and onboards through the ORM as before.

The rules are the general path's own: the user's columns (users.new_user_values), the key
(api_keys.new_key), the checkout's effect on the row (handlers/checkout.apply_checkout) and
the widget seed (onboarding.widget_seed) are the same functions; tests/test_newcomers.py
checks that both paths leave the same rows.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from sqlalchemy import Select, String, bindparam, exists, or_, select

from subsvc.accounts.api_keys import new_key
from subsvc.accounts.entitlement import Policy
from subsvc.accounts.onboarding import log_onboarded, widget_seed
from subsvc.accounts.subscriptions import new_row, row_of
from subsvc.accounts.tier_cache import Fingerprint, TierCache, fingerprint_columns, tier_cache
from subsvc.accounts.users import new_user_values
from subsvc.models import Subscription, User, WidgetConfig
from subsvc.models.base import DbSession, now_utc
from subsvc.models.prepared import prepared
from subsvc.models.statements import core_connection, insert_row_if_absent


def onboard_newcomer(session: DbSession, *, customer_id: str | None, email: str | None,
                     external_id: str | None, subscription_id: str,
                     change: Callable[[Subscription, TierCache], None],
                     policy: Policy) -> bool:
    """Make the user, subscription and widget config of a checkout nobody is known for.

    `email` is normalised; `change(draft, tiers)` applies the checkout to the new row (it may
    raise, e.g. for an unknown tier: nothing is written yet). False, having written nothing,
    when a user holds one of the identifiers or the subscription exists (the general path
    then runs), or when another transaction took an identifier first.
    """
    connection = core_connection(session)
    probe = prepared(connection, _probe).first(connection, {
        "ext": external_id or None, "cust": customer_id or None, "email": email or None,
        "sub": subscription_id})
    if probe.user_known or probe.subscription_known:
        return False
    tiers = tier_cache(session, seen=Fingerprint(probe.tier_count, probe.tiers_updated))
    draft = Subscription(**new_row(subscription_id, customer_id, 0))
    change(draft, tiers)
    _, key_hash, key_prefix = new_key()  # never shown: the welcome page replaces it
    now = now_utc()  # the rows' created_at and updated_at, which the ORM would fill in
    stamps = {"created_at": now, "updated_at": now}
    users = User.__table__
    user_id = insert_row_if_absent(session, users, {
        **new_user_values(customer_id, email, external_id), **stamps,
        "api_key_hash": key_hash, "api_key_prefix": key_prefix, "api_key_issued_at": now,
    }, users.c.id)
    if user_id is None:  # Postgres: another customer's event took this email just now
        return False
    draft.user_id = user_id
    subscriptions, widgets = Subscription.__table__, WidgetConfig.__table__
    if insert_row_if_absent(session, subscriptions, {**row_of(draft), **stamps},
                            subscriptions.c.id) is None:
        # The probe saw no such row, and only this customer's events (locked out) make it.
        raise RuntimeError(f"subscription {subscription_id} appeared during its checkout")
    name, config = widget_seed([draft], tiers.tiers, policy)
    insert_row_if_absent(session, widgets, {"user_id": user_id, "seeded_from_tier": name,
                                            "config": config, "created_at": now}, widgets.c.id)
    log_onboarded(user_id)
    return True


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
        *fingerprint_columns(),
    )
