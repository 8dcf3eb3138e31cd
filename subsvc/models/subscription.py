"""A Stripe subscription as subsvc last understood it.

Each field group remembers the version key of the event that set it, so an
older event arriving late never overwrites a newer one (see accounts/ordering.py).
"""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from subsvc.models.base import Base, UtcDateTime, now_utc

if TYPE_CHECKING:
    from subsvc.models.user import User


class SubscriptionStatus(StrEnum):
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    UNPAID = "unpaid"
    PAUSED = "paused"
    CANCELED = "canceled"


class Subscription(Base):
    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    stripe_subscription_id: Mapped[str] = mapped_column(String(255), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), index=True)
    checkout_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # The `created` of that checkout's checkout.session.completed event: the welcome page
    # reveals a key only within WELCOME_REVEAL_HOURS of it.
    checkout_created: Mapped[int | None] = mapped_column(BigInteger)

    # `status` is what subsvc says (ordering.settled_status); it is decided by
    # two words kept beside it: that of the event holding `status_version`
    # (the newest to speak of status), and that of the newest subscription
    # event (`subscription_status`, set with the details), which alone moves
    # a subscription out of `paused`.
    status: Mapped[str | None] = mapped_column(String(32))
    status_version: Mapped[str] = mapped_column(String(128), default="")
    event_status: Mapped[str | None] = mapped_column(String(32))

    price_id: Mapped[str | None] = mapped_column(String(255))
    tier: Mapped[str | None] = mapped_column(String(64))
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    cancel_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    subscription_status: Mapped[str | None] = mapped_column(String(32))
    details_version: Mapped[str] = mapped_column(String(128), default="")

    # Periods only move forward: the latest value any event carried.
    current_period_end: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Newest `created` among the events applied: "most recent" subscription.
    last_event_created: Mapped[int] = mapped_column(BigInteger, default=0)

    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now_utc, onupdate=now_utc)

    user: Mapped[User] = relationship(back_populates="subscriptions")
