"""Simulated Customer objects, as ``customer.created`` / ``customer.updated`` carry them."""

from __future__ import annotations

from subsvc.simulate.ids import API_NEW, derived_id, is_endive_api, now
from subsvc.simulate.shapes import Json, ordered


def customer(*, customer: str, email: str | None, created: int | None = None,
             api_version: str = API_NEW, name: str | None = None) -> Json:
    """A Customer, as ``customer.created`` and ``customer.updated`` carry it.

    For an Accounts v2 customer (an ``acct_…``) the object is the ``cus_…`` that mirrors the
    Account, naming it as ``customer_account``; endive objects always carry the field (null for
    a v1 customer).
    """
    account = customer if customer.startswith("acct_") else None
    obj: Json = {
        "id": derived_id("cus", customer) if account else customer, "object": "customer",
        "address": None, "balance": 0, "created": created or now(), "currency": "usd",
        "default_source": None, "delinquent": False, "description": None, "discount": None,
        "email": email, "invoice_prefix": derived_id("", customer, 8)[1:].upper(),
        "invoice_settings": {"custom_fields": None, "default_payment_method": None,
                             "footer": None, "rendering_options": None},
        "livemode": False, "metadata": {}, "name": name, "next_invoice_sequence": 1,
        "phone": None, "preferred_locales": [], "shipping": None, "tax_exempt": "none",
        "test_clock": None,
    }
    if account or is_endive_api(api_version):
        obj["customer_account"] = account
    return ordered(obj)
