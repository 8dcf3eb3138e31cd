"""Simulated Checkout Sessions: the object of ``checkout.session.completed``."""

from __future__ import annotations

import copy

from subsvc.simulate.ids import API_NEW, DAY, checkout_session_id, is_endive_api, new_id, now
from subsvc.simulate.shapes import Json, customer_fields, ordered

# What never varies between our sessions; deep-copied per build, so callers may mutate it.
_SESSION_FIXED: Json = dict.fromkeys((
    "after_expiration", "allow_promotion_codes", "billing_address_collection", "client_secret",
    "consent", "consent_collection", "locale", "payment_link",
    "payment_method_configuration_details", "recovered_from", "setup_intent",
    "shipping_address_collection", "shipping_cost", "submit_type",
)) | {
    "object": "checkout.session",
    "automatic_tax": {"enabled": False, "liability": None, "status": None},
    "cancel_url": "https://example.com/cancel",
    "currency": "usd",
    "custom_fields": [],
    "custom_text": dict.fromkeys(("after_submit", "shipping_address", "submit",
                                  "terms_of_service_acceptance")),
    "customer_creation": "always",
    "livemode": False,
    "payment_method_collection": "always",
    "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
    "payment_method_types": ["card"],
    "phone_number_collection": {"enabled": False},
    "shipping_options": [],
    "status": "complete",
    "success_url": "https://example.com/success?session_id={CHECKOUT_SESSION_ID}",
    "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
    "ui_mode": "hosted",
    "url": None,  # null once the session is complete
}
_ADDRESS: Json = {"city": None, "country": "US", "line1": None, "line2": None,
                  "postal_code": "94103", "state": None}


def checkout_session(*, customer: str, subscription: str | None, email: str | None = None,
                     client_reference_id: str | None = None, mode: str = "subscription",
                     payment_status: str = "paid", tier: str | None = None,
                     session_id: str | None = None, created: int | None = None,
                     invoice: str | None = None, amount_total: int = 1900,
                     api_version: str = API_NEW) -> Json:
    """A completed Checkout Session (the object of ``checkout.session.completed``).

    An ``acct_…`` customer is an Accounts v2 customer, rendered as ``customer_account``.
    """
    created = created if created is not None else now()
    payment = mode == "payment"
    amount_total = 0 if payment_status == "no_payment_required" else amount_total
    return ordered(copy.deepcopy(_SESSION_FIXED) | {
        "id": session_id or checkout_session_id(),
        "amount_subtotal": amount_total,
        "amount_total": amount_total,
        "client_reference_id": client_reference_id,
        "created": created,
        "customer_details": {"address": dict(_ADDRESS), "email": email, "name": None, "phone": None,
                             "tax_exempt": "none", "tax_ids": []},
        "customer_email": email,
        "expires_at": created + DAY,
        "invoice": None if payment else invoice,
        "invoice_creation": {"enabled": False, "invoice_data": None} if payment else None,
        "metadata": {"tier": tier} if tier else {},
        "mode": mode,
        "payment_intent": new_id("pi") if payment else None,
        "payment_status": payment_status,
        "subscription": None if payment else subscription,
    } | customer_fields(customer, endive=is_endive_api(api_version)))
