"""customer.created / customer.updated: the customer's email, for linking only.

A subscription made without Checkout (the API, the Dashboard, a quote) names its
customer but no email; the customer's own events (and its invoices) carry the
email. They link it to the customer's user within the Users rule (accounts/users.py):
never to a user who has a Stripe customer of their own or an API key. They change
no subscription and issue no key. The first email stored stays: a later change of
the customer's email is not followed (the column is a look-up handle, and a newest-
wins rule for it would need a version of its own).
"""
from __future__ import annotations

from subsvc.accounts.entitlement import Policy
from subsvc.accounts.users import resolve_user
from subsvc.events import JsonDict, StripeEvent, customer_object_email, customer_of
from subsvc.extensions import db
from subsvc.handlers.registry import handles


def _has_email(customer: JsonDict) -> bool:
    return customer_of(customer) is not None and customer_object_email(customer) is not None


@handles("customer.created", "customer.updated", when=_has_email)
def on_customer_changed(event: StripeEvent, policy: Policy) -> None:
    # An unknown customer gets its user now (with the email), as a subscription event
    # would make one: that is what keeps the outcome independent of arrival order.
    resolve_user(db.session, customer_id=event.customer_id,
                 email=customer_object_email(event.object))
