"""Ids, clocks and API versions for the simulated Stripe objects (the base of subsvc.simulate).

Random ids look like Stripe's; derived ids are stable, so rebuilding an object gives the same one.
Four shape families are rendered, one version standing for each:
- ``API_LEGACY``: before subscription items: ``plan``/``quantity`` on the subscription, invoices
  without ``status`` (``paid``, ``closed``, ``forgiven``), ``request`` a bare id;
- ``API_OLD`` (2024-06-20): the period on the subscription, ``invoice.subscription`` and ``paid``;
- ``API_NEW`` (2025-03-31.basil): the period on each item, ``invoice.parent``, no ``invoice.paid``;
- ``API_ENDIVE`` (2026-10-28.endive, what stripe-python 16.x pins): basil plus flexible
  ``billing_mode``, ``customer_account`` (Accounts v2), ``status: "paused"`` with
  ``status_details``.
"""

from __future__ import annotations

import calendar
import hashlib
import secrets
import string
import time
from datetime import UTC, datetime

API_LEGACY = "2015-10-16"
API_OLD = "2024-06-20"
API_NEW = "2025-03-31.basil"
API_ENDIVE = "2026-10-28.endive"
API_VERSIONS = (API_LEGACY, API_OLD, API_NEW, API_ENDIVE)
# The same families by a short name, as `flask stripe simulate --api-version` takes them.
API_NAMES = {"legacy": API_LEGACY, "old": API_OLD, "new": API_NEW, "endive": API_ENDIVE}

DAY = 86_400
_ALNUM = string.ascii_letters + string.digits
# Stripe mints short 14-char ids for these prefixes (cus_SqeciAuyLwHEG2, si_SqhMlvkyTwDpNt)
# and "1" + 23 characters for the rest.
_SHORT_ID_PREFIXES = frozenset({"cus", "si", "prod", "req"})


def new_id(prefix: str) -> str:
    """A fresh id shaped like Stripe's: ``sub_1Qx8...`` (24 chars) or ``cus_Sqec...`` (14)."""
    if prefix in _SHORT_ID_PREFIXES:
        return f"{prefix}_{_rand(14)}"
    if prefix == "acct":  # acct_1MoRdlLgUG5tbmjc
        return f"acct_1{_rand(15)}"
    return f"{prefix}_1{_rand(23)}"


def checkout_session_id() -> str:
    return f"cs_test_a1{_rand(56)}"


def derived(seed: str, n: int) -> str:
    """``n`` id characters that depend only on ``seed``."""
    digest = hashlib.sha256(seed.encode()).digest() * 4
    return "".join(_ALNUM[b % len(_ALNUM)] for b in digest[:n])


def derived_id(prefix: str, seed: str, length: int = 14) -> str:
    """A Stripe-shaped id that is the same every time for one seed."""
    return f"{prefix}_{derived(prefix + seed, length)}"


def add_interval(ts: int, interval: str = "month", n: int = 1) -> int:
    """Shift ``ts`` by ``n`` billing intervals.

    Months clamp to the month's end, as Stripe's billing anchor does.
    """
    if interval == "day":
        return ts + n * DAY
    if interval == "week":
        return ts + 7 * n * DAY
    months = n * (12 if interval == "year" else 1)
    dt = datetime.fromtimestamp(ts, UTC)
    year, month0 = divmod(dt.month - 1 + months, 12)
    year += dt.year
    day = min(dt.day, calendar.monthrange(year, month0 + 1)[1])
    return int(dt.replace(year=year, month=month0 + 1, day=day).timestamp())


def is_new_api(api_version: str) -> bool:
    """True from basil (2025-03-31) on, where the billing period moved onto subscription items."""
    return api_version[:10] >= API_NEW[:10]


def is_legacy_api(api_version: str) -> bool:
    """The oldest family: a subscription carries its ``plan`` and has no ``items``."""
    return api_version[:10] <= API_LEGACY[:10]


def is_endive_api(api_version: str) -> bool:
    """True from endive (2026-09-30) on.

    Those objects carry ``customer_account``, ``billing_mode`` and ``status_details``.
    """
    return api_version[:10] >= "2026-09-30"


def now() -> int:
    return int(time.time())


def _rand(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))
