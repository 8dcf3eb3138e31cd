"""The common event as one statement: a subscription's news merged in by a conditional UPDATE.

The ordering rule (accounts/ordering.py) makes each field group a last-writer-wins register
over a total order of versions, and `current_period_end` a max: a merge, which needs no
prior read. So a subscription or invoice event about a known subscription is one
`UPDATE … SET col = CASE WHEN :version > version THEN :value ELSE col END … RETURNING`,
the same SQL on SQLite and Postgres (versions compared bytewise: COLLATE "C" on Postgres,
SQLite's default BINARY), instead of an ORM load, a flush and their bookkeeping. The
statement also returns what the rest of the event needs: whether the details won (a price
that maps to no tier fails only then), whether the user already has a key (onboarding is
rare), and the tier table's fingerprint (tier_cache.py).

Same rule as accounts/subscriptions.py apply_status / apply_details, which checkouts
still use (checkouts carry no period end); tests/test_ordering.py checks both together in any order.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    String,
    Update,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.orm import object_session
from sqlalchemy.orm.util import identity_key

from subsvc.accounts.ordering import TERMINAL, Source, details_version, status_version
from subsvc.accounts.tier_cache import Fingerprint, TierCache, fingerprint_columns, tier_cache
from subsvc.accounts.tiers import UnknownPrice
from subsvc.events import JsonDict
from subsvc.models import Subscription, SubscriptionStatus, User
from subsvc.models.base import DbSession, UtcDateTime, from_epoch, now_utc
from subsvc.models.prepared import prepared
from subsvc.models.statements import core_connection

NEVER = ""  # a version no stored version is below: the group is left as it is


@dataclass(frozen=True)
class News:
    """What one subscription or invoice event says of one subscription."""

    subscription_id: str
    event_id: str
    created: int
    source: Source
    status: str | None = None  # None: says nothing of status (a $0 or unpaid invoice)
    prices: tuple[JsonDict, ...] = ()  # subscription events: the details group
    cancel_at_period_end: bool = False
    cancel_at: int | None = None
    period_end: int | None = None
    customer_id: str | None = None  # fills a row's missing customer id

    def params(self, price_id: str | None, tier_name: str | None) -> dict[str, Any]:
        speaks = self.status is not None
        details = self.source is Source.SUBSCRIPTION
        return {
            "sub_id": self.subscription_id, "status": self.status,
            "status_version": (status_version(self.status, self.source, self.created,
                                              self.event_id) if self.status is not None
                               else NEVER),
            "details_version": (details_version(self.status, self.source, self.created,
                                                self.event_id) if details else NEVER),
            "price_id": price_id, "tier": tier_name,
            "cancel_at_period_end": self.cancel_at_period_end,
            "cancel_at": from_epoch(self.cancel_at), "period_end": from_epoch(self.period_end),
            "created": self.created if speaks else 0, "customer_id": self.customer_id,
            "now": now_utc(),
        }


@dataclass(frozen=True)
class Merged:
    """What the merge returned: the row, whether the details won, and of its owner the key
    state, email and customer (enough to skip loading the user on the common event)."""

    id: int
    user_id: int
    details_won: bool
    user_has_key: bool
    user_email: str | None
    user_customer_id: str | None


def merge(session: DbSession, news: News) -> Merged | None:
    """Merge `news` into its subscription in one statement; None when no such row exists.

    Raises UnknownPrice when the event's details win and none of its prices maps to a
    tier (the caller's transaction then rolls back, as with any handler failure).
    """
    connection = core_connection(session)
    tiers = tier_cache(session)
    price_id, tier_name = _resolve(tiers, news)
    params = news.params(price_id, tier_name)
    row = prepared(connection, _merge_statement, connection.dialect.name).first(connection, params)
    if row is None:
        return None
    expire_loaded(session, row.id)
    won = news.source is Source.SUBSCRIPTION and row.details_version == params["details_version"]
    if tiers.fingerprint != Fingerprint(row.tier_count, row.tiers_updated):
        # The tier table changed since this process read it: what the event wrote with the
        # old mapping is corrected in place (its details still hold: the customer is
        # locked), and the cache is refreshed for the events that follow.
        tiers = tier_cache(session, refresh=True)
        fresh = _resolve(tiers, news)
        if won and fresh != (price_id, tier_name):
            session.execute(update(Subscription).where(Subscription.id == row.id)
                            .values(price_id=fresh[0], tier=fresh[1]))
        price_id, tier_name = fresh
    if won and tier_name is None:
        raise UnknownPrice(price["id"] for price in news.prices)
    return Merged(row.id, row.user_id, won, row.key_issued is not None, row.user_email,
                  row.user_customer)


def _resolve(tiers: TierCache, news: News) -> tuple[str | None, str | None]:
    if not news.prices:
        return None, None
    return tiers.price_and_tier_name(list(news.prices))


def expire_loaded(session: DbSession, sub_pk: int) -> None:
    """An ORM object of this row loaded earlier in the transaction (reconcile's drift check
    loads it, then heals through the handler) must not keep the values from before."""
    loaded = session.identity_map.get(identity_key(Subscription, sub_pk))
    if loaded is not None and object_session(loaded) is not None:
        session.expire(loaded)


def _newer(version: ColumnElement[Any], dialect: str) -> ColumnElement[bool]:
    """`:param > version`, compared bytewise as Python compares the version strings."""
    given: ColumnElement[Any] = bindparam(version.key, type_=String)
    if dialect == "postgresql":
        given = given.collate("C")
    return given > version


@cache
def _merge_statement(dialect: str) -> Update:
    t = Subscription.__table__.c
    status = bindparam("status", type_=String)
    status_newer, details_newer = _newer(t.status_version, dialect), _newer(t.details_version,
                                                                          dialect)
    event_status = case((status_newer, status), else_=t.event_status)
    subscription_status = case((details_newer, status), else_=t.subscription_status)
    period_end = bindparam("period_end", type_=UtcDateTime())
    created = bindparam("created", type_=t.last_event_created.type)
    # The terminal words as literals: an IN of bound values would be expanded per execution.
    terminal: list[ColumnElement[str]] = [literal_column(f"'{word}'") for word in sorted(TERMINAL)]
    # ordering.settled_status in SQL: paused when the newest subscription event says so and
    # the newest word is not terminal (NULL is not terminal, as in Python).
    settled = case((and_(subscription_status == SubscriptionStatus.PAUSED,
                         or_(event_status.is_(None), not_(event_status.in_(terminal)))),
                    SubscriptionStatus.PAUSED), else_=event_status)

    customer = bindparam("customer_id", type_=String)
    period_later = and_(period_end.is_not(None), or_(t.current_period_end.is_(None),
                                                     period_end > t.current_period_end))
    # updated_at moves only when something does (a stale event changes nothing at all).
    changed = or_(status_newer, details_newer, period_later, created > t.last_event_created,
                  and_(t.stripe_customer_id.is_(None), customer.is_not(None)))

    def details(column: Any, param: str, type_: Any = String) -> Any:
        return case((details_newer, bindparam(param, type_=type_)), else_=column)

    users = User.__table__.c
    return (
        # SQLAlchemy types __table__ as any FromClause; a declarative model's is its Table.
        update(Subscription.__table__)  # type: ignore[arg-type]
        .where(t.stripe_subscription_id == bindparam("sub_id", type_=String))
        .values(
            event_status=event_status,
            status_version=case((status_newer, bindparam("status_version", type_=String)),
                                else_=t.status_version),
            status=settled,
            subscription_status=subscription_status,
            details_version=case((details_newer, bindparam("details_version", type_=String)),
                                 else_=t.details_version),
            price_id=details(t.price_id, "price_id"),
            tier=details(t.tier, "tier"),
            cancel_at_period_end=details(t.cancel_at_period_end, "cancel_at_period_end",
                                         Boolean()),
            cancel_at=details(t.cancel_at, "cancel_at", UtcDateTime()),
            # Periods only move forward: the latest value any event carried.
            current_period_end=case((period_later, period_end), else_=t.current_period_end),
            last_event_created=case((created > t.last_event_created, created),
                                    else_=t.last_event_created),
            stripe_customer_id=func.coalesce(t.stripe_customer_id, customer),
            updated_at=case((changed, bindparam("now", type_=UtcDateTime())),
                            else_=t.updated_at),
        )
        .returning(
            t.id, t.user_id, t.details_version,
            *[select(column).where(users.id == t.user_id).scalar_subquery().label(label)
              for column, label in ((users.api_key_issued_at, "key_issued"),
                                    (users.email, "user_email"),
                                    (users.stripe_customer_id, "user_customer"))],
            *fingerprint_columns(),
        )
    )
