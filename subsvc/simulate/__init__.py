"""Builders for realistic Stripe webhook payloads in four shape families (legacy, 2024-06-20,
2025-03-31.basil, 2026-10-28.endive; see ids.py), plus signing.

Pure Python (no Flask, no DB): shared by the test-suite and the ``flask stripe simulate`` command.
"""

from .checkout import checkout_session
from .customers import customer
from .events import event
from .ids import API_ENDIVE, API_LEGACY, API_NEW, API_OLD, API_VERSIONS, DAY, add_interval, new_id
from .invoices import invoice
from .journeys import Customer, Expected, Scenario
from .lifecycles import (
    Lifecycle, lifecycle_full, lifecycle_mixed_intervals, lifecycle_past_due, lifecycle_paused,
    lifecycle_resubscribe, lifecycle_trial,
)
from .prices import price
from .shapes import Json
from .signing import dumps, sign, signed_request
from .subscriptions import subscription
from .thin import thin_event

__all__ = [
    "API_ENDIVE", "API_LEGACY", "API_NEW", "API_OLD", "API_VERSIONS", "DAY", "Customer", "Expected",
    "Json", "Lifecycle", "Scenario", "add_interval", "checkout_session", "customer", "dumps",
    "event", "invoice", "lifecycle_full", "lifecycle_mixed_intervals", "lifecycle_past_due",
    "lifecycle_paused", "lifecycle_resubscribe", "lifecycle_trial", "new_id", "price", "sign",
    "signed_request", "subscription", "thin_event",
]
