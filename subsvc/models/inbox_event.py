"""The event inbox: one row per Stripe event id, enforced by a unique constraint."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from subsvc.models.base import Base, UtcDateTime, now_utc


class InboxStatus(StrEnum):
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"
    # A thin event whose related object has not been fetched yet (subsvc/thin.py).
    PENDING = "pending"


class InboxEvent(Base):
    __tablename__ = "inbox_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(128), index=True)
    api_version: Mapped[str | None] = mapped_column(String(64))
    livemode: Mapped[bool] = mapped_column(default=False)
    # Stripe's `created`, verbatim (epoch seconds).
    stripe_created: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(default=1)
    last_error: Mapped[str | None] = mapped_column(Text)
    # The Stripe customer and subscription the event is about (StripeEvent.subject_ids):
    # the operator page lists a user's events through these indexes, not by searching payloads.
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), index=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), index=True)
    # The event JSON as received, for `flask events replay`.
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now_utc)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
