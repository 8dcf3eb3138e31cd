"""Event handlers, one module per Stripe object family. Importing registers them."""
from subsvc.handlers import checkout, customers, invoices, subscriptions  # noqa: F401
from subsvc.handlers.registry import handler_for

__all__ = ["handler_for"]
