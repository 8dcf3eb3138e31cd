"""The run-time rule for secrets and tokens: unset or under 32 characters is "not configured".

Every endpoint that checks a secret takes it from here (the webhook endpoints, the
edge's forwarding, the admin look-ups), so one weak value can never open one of them
while `flask doctor` alone complains. A refused value is logged once per app (one app
per gunicorn worker) by name and length, never by value, rather than on every request.
"""
from __future__ import annotations

import logging

from flask import current_app

from subsvc.config import SECRET_MIN_LENGTH
from subsvc.errors import NotConfigured

log = logging.getLogger(__name__)

_WARNED = "subsvc.credentials.warned"


def is_strong(secret: str) -> bool:
    return len(secret) >= SECRET_MIN_LENGTH


def require_secret(name: str) -> str:
    """The setting `name` (one secret); raises NotConfigured when unset or too short."""
    secret = current_app.config.get(name)
    if not secret:
        raise NotConfigured()
    if not is_strong(secret):
        _warn_once(name, f"{name} is shorter than {SECRET_MIN_LENGTH} characters "
                         f"({len(secret)}); refusing to use it: its endpoints answer 503")
        raise NotConfigured()
    return str(secret)


def require_secrets(name: str) -> list[str]:
    """The setting `name` (a list of secrets); NotConfigured when empty or any entry is short.

    One short entry refuses them all: a half-usable secret list is a configuration
    mistake, and 503 (Stripe retries) says so on every delivery, where dropping the
    entry would answer its deliveries 400 as if they were forged.
    """
    secrets = list(current_app.config.get(name) or [])
    if not secrets:
        raise NotConfigured()
    short = [n for n, secret in enumerate(secrets, start=1) if not is_strong(secret)]
    if short:
        entries = ", ".join(str(n) for n in short)
        _warn_once(name, f"{name} entry {entries} of {len(secrets)} is shorter than "
                         f"{SECRET_MIN_LENGTH} characters; refusing to use it: "
                         "its endpoint answers 503")
        raise NotConfigured()
    return secrets


def _warn_once(name: str, message: str) -> None:
    warned: set[str] = current_app.extensions.setdefault(_WARNED, set())
    if name not in warned:
        warned.add(name)  # a race of two threads at most logs the line twice
        log.warning(message)
