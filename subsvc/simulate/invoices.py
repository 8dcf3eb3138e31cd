"""Simulated subscription Invoices, in the shape of each API family (ids.py)."""

from __future__ import annotations

import copy
from collections.abc import Sequence

from subsvc.simulate.ids import (
    API_NEW,
    DAY,
    add_interval,
    derived,
    is_endive_api,
    is_legacy_api,
    is_new_api,
    new_id,
)
from subsvc.simulate.lines import invoice_lines
from subsvc.simulate.shapes import NO_AUTOMATIC_TAX, Json, customer_fields, ordered, stripe_list

# What never varies between our invoices; deep-copied per build, so callers may mutate it.
_INVOICE_FIXED: Json = dict.fromkeys((
    "account_tax_ids", "application", "automatically_finalizes_at", "custom_fields",
    "customer_address", "customer_name", "customer_phone", "customer_shipping",
    "default_payment_method", "default_source", "description", "due_date", "footer",
    "from_invoice", "last_finalization_error", "latest_revision", "on_behalf_of",
    "receipt_number", "rendering", "shipping_cost", "shipping_details", "statement_descriptor",
    "test_clock",
)) | {
    "object": "invoice", "account_country": "US", "account_name": "Subsvc Test",
    "amount_shipping": 0, "attempted": True, "automatic_tax": NO_AUTOMATIC_TAX | {"status": None},
    "collection_method": "charge_automatically", "currency": "usd", "customer_tax_exempt": "none",
    "customer_tax_ids": [], "default_tax_rates": [], "discounts": [], "ending_balance": 0,
    "issuer": {"type": "self"}, "livemode": False, "metadata": {},
    "payment_settings": {"default_mandate": None, "payment_method_options": None,
                         "payment_method_types": None},
    "post_payment_credit_notes_amount": 0, "pre_payment_credit_notes_amount": 0,
    "starting_balance": 0, "total_discount_amounts": [],
}


def invoice(*, customer: str, subscription: str, price_id: str, period_start: int, period_end: int,
            paid: bool = True, api_version: str = API_NEW, invoice_id: str | None = None,
            customer_email: str | None = None, billing_reason: str = "subscription_cycle",
            proration_lines: Sequence[Json] = (), created: int | None = None,
            amount: int = 1900, interval: str = "month", subscription_item: str | None = None,
            prices: dict[str, Json] | None = None, lookback_start: int | None = None,
            attempt_count: int = 1, extra_lines: Sequence[Json] = (),
            amount_paid: int | None = None) -> Json:
    """A finalized subscription Invoice: proration lines first, as Stripe lists them, then the plan.

    ``prices`` maps price ids to full Price objects (rendered as ``line.price`` in the old API).
    ``lookback_start`` overrides the top-level ``period_start`` of a renewal (e.g. the trial start).
    ``extra_lines`` are more plan lines (``price_id``, ``amount``, ``start``, ``end``, optional
    ``subscription_item``): items of other intervals billed together (flexible billing).
    ``amount_paid`` below the amount due with ``paid=False`` is a partial payment (2025-05-28 and
    later): the invoice stays ``open``.
    """
    new, legacy = is_new_api(api_version), is_legacy_api(api_version)
    invoice_id = invoice_id or new_id("in")
    si = subscription_item or new_id("si")
    created = created if created is not None else period_start
    lines = invoice_lines(invoice_id, subscription, si, price_id=price_id, amount=amount,
                          period=(period_start, period_end), proration_lines=proration_lines,
                          prices=prices or {}, interval=interval, new=new, legacy=legacy,
                          extra_lines=extra_lines)
    total = sum(line["amount"] for line in lines)
    due = max(total, 0)
    # On renewals the invoice's own period is the one *before* the plan line's.
    if billing_reason == "subscription_cycle":
        top_start = lookback_start or add_interval(period_start, interval, -1)
        top_end = period_start
    else:
        top_start = top_end = created
    finalized = created if billing_reason == "subscription_create" else created + 3600
    inv: Json = copy.deepcopy(_INVOICE_FIXED) | _payment(total, due, paid, attempt_count, finalized,
                                                         amount_paid) | {
        "id": invoice_id, "billing_reason": billing_reason, "created": created,
        "customer_email": customer_email, "effective_at": finalized,
        "lines": stripe_list(lines, f"/v1/invoices/{invoice_id}/lines"), "period_end": top_end,
        "period_start": top_start, "webhooks_delivered_at": finalized,
    } | _documents(customer or "", invoice_id) | customer_fields(
        customer, endive=is_endive_api(api_version))
    inv.update(_basil_fields(subscription) if new else _legacy_fields(subscription, paid, due))
    if legacy:
        inv.update(_before_status(inv, paid, created))
    return ordered(inv)


def _before_status(inv: Json, paid: bool, created: int) -> Json:
    """The oldest invoices have no ``status``: ``paid``, ``closed`` and ``forgiven`` say it.

    ``date`` is what ``created`` is on newer ones.
    """
    for key in ("status", "status_transitions", "effective_at", "issuer",
                "automatically_finalizes_at", "latest_revision", "rendering", "shipping_cost",
                "shipping_details", "subscription_details"):
        inv.pop(key, None)
    return {"closed": paid, "forgiven": False, "date": created, "tax_percent": None}


def _payment(total: int, due: int, paid: bool, attempt_count: int, finalized: int,
             amount_paid: int | None) -> Json:
    received = (due if paid else 0) if amount_paid is None else amount_paid
    return {
        "amount_due": due, "amount_paid": received, "amount_remaining": due - received,
        "attempt_count": attempt_count if due else 0, "auto_advance": not paid,
        "next_payment_attempt": None if paid else finalized + 3 * DAY,
        "status": "paid" if paid else "open",
        "status_transitions": {"finalized_at": finalized, "marked_uncollectible_at": None,
                               "paid_at": finalized + 2 if paid else None, "voided_at": None},
        "subtotal": total, "subtotal_excluding_tax": total, "total": total,
        "total_excluding_tax": total,
    }


def _documents(customer: str, invoice_id: str) -> Json:
    number = int(derived(invoice_id, 4), 36) % 9999 + 1
    doc_url = f"acct_1SubsvcTest/test_{derived(invoice_id, 40)}"
    return {
        "hosted_invoice_url": f"https://invoice.stripe.com/i/{doc_url}",
        "invoice_pdf": f"https://pay.stripe.com/invoice/{doc_url}/pdf",
        "number": f"{derived(customer, 8).upper()}-{number:04d}",
    }


def _basil_fields(subscription: str) -> Json:
    # basil: subscription moved under parent; paid/charge/payment_intent were removed outright.
    return {"amount_overpaid": 0, "total_pretax_credit_amounts": [], "total_taxes": [],
            "parent": {"quote_details": None,
                       "subscription_details": {"metadata": {}, "subscription": subscription},
                       "type": "subscription_details"}}


def _legacy_fields(subscription: str, paid: bool, due: int) -> Json:
    return {"paid": paid, "paid_out_of_band": False, "subscription": subscription,
            "subscription_details": {"metadata": {}}, "discount": None, "quote": None,
            "application_fee_amount": None, "transfer_data": None, "tax": None,
            "total_tax_amounts": [], "charge": new_id("ch") if due else None,
            "payment_intent": new_id("pi") if due else None}
