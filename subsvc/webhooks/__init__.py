"""The HTTP edge: Stripe-facing endpoint and the internal core endpoint (blueprint `webhooks`)."""
