"""A user of the customer's product, linked to at most one Stripe customer."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from subsvc.models.base import Base, UtcDateTime, now_utc

if TYPE_CHECKING:
    from subsvc.models.subscription import Subscription


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored with ASCII A-Z lower-cased (users.normalize_email), so the unique constraint is
    # case-insensitive for ASCII and exact for everything else.
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # The Stripe customer whose event created this record; None for `flask users create`
    # and for a merge of two records of different origins. The welcome page reveals the
    # key only to a checkout of this customer (accounts/welcome.py).
    origin_customer_id: Mapped[str | None] = mapped_column(String(255))
    # Only a SHA-256 of the key is kept; the prefix is for display.
    api_key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    api_key_prefix: Mapped[str | None] = mapped_column(String(32))
    # Set once, when the first key is issued: later events never re-issue,
    # even after `flask keys revoke`.
    api_key_issued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    api_key_revealed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now_utc, onupdate=now_utc)

    subscriptions: Mapped[list[Subscription]] = relationship(back_populates="user")
    widget_config: Mapped[WidgetConfig | None] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )


class WidgetConfig(Base):
    """The starting widget configuration, seeded once from the tier's defaults."""

    __tablename__ = "widget_configs"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    seeded_from_tier: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now_utc)

    user: Mapped[User] = relationship(back_populates="widget_config")
