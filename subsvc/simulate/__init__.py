"""Builders for realistic Stripe webhook payloads, their signing, and one Journey over them.

Four shape families are rendered (legacy, 2024-06-20, 2025-03-31.basil, 2026-10-28.endive;
see ids.py). Pure Python (no Flask, no database), so that the test-suite, the benchmark and
the `flask stripe simulate` and `flask seed demo` commands build their events one way.
"""

from subsvc.simulate.checkout import checkout_session
from subsvc.simulate.customers import customer
from subsvc.simulate.envelope import event
from subsvc.simulate.ids import (
    API_ENDIVE,
    API_LEGACY,
    API_NAMES,
    API_NEW,
    API_OLD,
    API_VERSIONS,
    DAY,
    add_interval,
    derived_id,
    new_id,
)
from subsvc.simulate.invoices import invoice
from subsvc.simulate.journeys import SUBSCRIPTION_STATUS, Customer, Journey
from subsvc.simulate.prices import price, tier_price
from subsvc.simulate.shapes import Json
from subsvc.simulate.signing import dumps, sign, signed_request
from subsvc.simulate.subscriptions import subscription
from subsvc.simulate.thin import thin_event

__all__ = [
    "API_ENDIVE", "API_LEGACY", "API_NAMES", "API_NEW", "API_OLD", "API_VERSIONS", "DAY",
    "SUBSCRIPTION_STATUS", "Customer", "Journey", "Json", "add_interval", "checkout_session",
    "customer", "derived_id", "dumps", "event", "invoice", "new_id", "price", "sign",
    "signed_request", "subscription", "thin_event", "tier_price",
]
