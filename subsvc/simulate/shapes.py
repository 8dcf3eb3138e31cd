"""How Stripe lays out the objects subsvc.simulate builds: key order and list envelopes."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

NO_AUTOMATIC_TAX: Json = {"disabled_reason": None, "enabled": False, "liability": None}


def ordered(obj: Json) -> Json:
    """Stripe serialises ``id`` and ``object`` first, then the remaining keys alphabetically."""
    head = {k: obj[k] for k in ("id", "object") if k in obj}
    return head | {k: obj[k] for k in sorted(obj) if k not in head}


def stripe_list(data: list[Json], url: str) -> Json:
    return {"object": "list", "data": data, "has_more": False, "total_count": len(data), "url": url}


def customer_fields(customer: str | None, *, endive: bool) -> Json:
    """How an object names its customer: an Accounts v2 one (``acct_…``) as ``customer_account``.

    Endive objects always carry ``customer_account`` (null for a v1 customer). An Account given
    to an older shape is still rendered as ``customer_account``: that is how such payloads
    arrive.
    """
    if customer is not None and customer.startswith("acct_"):
        return {"customer": None, "customer_account": customer}
    return {"customer": customer, "customer_account": None} if endive else {"customer": customer}
