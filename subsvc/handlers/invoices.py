"""invoice.paid / invoice.payment_succeeded / invoice.payment_failed for subscription invoices."""
from __future__ import annotations

from subsvc.accounts.entitlement import Policy
from subsvc.accounts.merge import News
from subsvc.accounts.newcomers import merge_or_create
from subsvc.accounts.onboarding import onboard_after_merge
from subsvc.accounts.ordering import Source
from subsvc.accounts.users import email_link_due, link_email
from subsvc.events import (
    JsonDict,
    StripeEvent,
    invoice_email,
    invoice_is_paid,
    invoice_period_end,
    invoice_subscription_id,
)
from subsvc.extensions import db
from subsvc.handlers.registry import handles
from subsvc.models import SubscriptionStatus, User


def _for_subscription(invoice: JsonDict) -> bool:
    return invoice_subscription_id(invoice) is not None


@handles("invoice.paid", "invoice.payment_succeeded", when=_for_subscription)
def on_invoice_paid(event: StripeEvent, policy: Policy) -> None:
    invoice = event.object
    status, period_end = None, None
    # A partly paid invoice (2025-05-28 and later) pays for nothing yet.
    if invoice_is_paid(invoice):
        # A $0 invoice (a trial's first) is paid but pays for nothing: it says
        # nothing of status; its period still stands.
        if (invoice.get("amount_paid") or invoice.get("total") or 0) > 0:
            status = SubscriptionStatus.ACTIVE
        period_end = invoice_period_end(invoice)
    _apply(event, policy, status, period_end)


@handles("invoice.payment_failed", when=_for_subscription)
def on_invoice_payment_failed(event: StripeEvent, policy: Policy) -> None:
    # A failed first invoice leaves the subscription incomplete, not past_due.
    status = (SubscriptionStatus.INCOMPLETE
              if event.object.get("billing_reason") == "subscription_create"
              else SubscriptionStatus.PAST_DUE)
    _apply(event, policy, status, None)


def _apply(event: StripeEvent, policy: Policy, status: str | None,
           period_end: int | None) -> None:
    sub_id = invoice_subscription_id(event.object)
    assert sub_id is not None  # guaranteed by _for_subscription
    email = invoice_email(event.object)
    news = News(sub_id, event.id, event.created, Source.INVOICE, status=status,
                period_end=period_end)
    merged = merge_or_create(db.session, news, customer_id=event.customer_id, email=email)
    onboard_after_merge(db.session, merged, policy)
    # The subscription may have come first (no Checkout) and made its user without it. The
    # merge returned the user's email and customer, so the common invoice loads no user.
    if email_link_due(event.customer_id, email, user_customer_id=merged.user_customer_id,
                      user_email=merged.user_email):
        user = db.session.get(User, merged.user_id)
        assert user is not None  # the subscription's foreign key
        link_email(db.session, user, customer_id=event.customer_id, email=email)
