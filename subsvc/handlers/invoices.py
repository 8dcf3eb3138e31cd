"""invoice.paid / invoice.payment_succeeded / invoice.payment_failed for subscription invoices."""
from __future__ import annotations

from subsvc.accounts.entitlement import Policy
from subsvc.accounts.onboarding import onboard_if_due
from subsvc.accounts.ordering import Source
from subsvc.accounts.subscriptions import (
    Stamp, apply_period_end, apply_status, get_or_create_subscription,
)
from subsvc.accounts.users import link_email
from subsvc.events import (
    JsonDict, StripeEvent, invoice_email, invoice_is_paid, invoice_period_end,
    invoice_subscription_id,
)
from subsvc.extensions import db
from subsvc.handlers.registry import handles
from subsvc.models import Subscription, SubscriptionStatus


def _for_subscription(invoice: JsonDict) -> bool:
    return invoice_subscription_id(invoice) is not None


@handles("invoice.paid", "invoice.payment_succeeded", when=_for_subscription)
def on_invoice_paid(event: StripeEvent, policy: Policy) -> None:
    invoice = event.object
    sub = _subscription_of(event)
    # A partly paid invoice (2025-05-28 and later) pays for nothing yet.
    if invoice_is_paid(invoice):
        # A $0 invoice (a trial's first) is paid but pays for nothing: it says
        # nothing of status; its period still stands.
        if (invoice.get("amount_paid") or invoice.get("total") or 0) > 0:
            apply_status(sub, SubscriptionStatus.ACTIVE,
                         Stamp(event.id, event.created, Source.INVOICE))
        apply_period_end(sub, invoice_period_end(invoice))
    onboard_if_due(db.session, sub.user, policy, checkout=False)


@handles("invoice.payment_failed", when=_for_subscription)
def on_invoice_payment_failed(event: StripeEvent, policy: Policy) -> None:
    sub = _subscription_of(event)
    # A failed first invoice leaves the subscription incomplete, not past_due.
    status = (SubscriptionStatus.INCOMPLETE
              if event.object.get("billing_reason") == "subscription_create"
              else SubscriptionStatus.PAST_DUE)
    apply_status(sub, status, Stamp(event.id, event.created, Source.INVOICE))
    onboard_if_due(db.session, sub.user, policy, checkout=False)


def _subscription_of(event: StripeEvent) -> Subscription:
    sub_id = invoice_subscription_id(event.object)
    assert sub_id is not None  # guaranteed by _for_subscription
    email = invoice_email(event.object)
    sub = get_or_create_subscription(db.session, sub_id, customer_id=event.customer_id,
                                     email=email)
    # The subscription may have come first (no Checkout) and made its user without it.
    link_email(db.session, sub.user, customer_id=event.customer_id, email=email)
    return sub
