"""Database models; importing this package registers every table on Base.metadata."""
from subsvc.models.base import Base
from subsvc.models.inbox_event import InboxEvent, InboxStatus
from subsvc.models.subscription import Subscription, SubscriptionStatus
from subsvc.models.tier import Tier
from subsvc.models.user import User, WidgetConfig

__all__ = [
    "Base",
    "InboxEvent",
    "InboxStatus",
    "Subscription",
    "SubscriptionStatus",
    "Tier",
    "User",
    "WidgetConfig",
]
