"""Settings: the only reader of os.environ. Mirrors CONTRACT section 3.

`load_settings(environ)` is pure, so it is tested with plain dicts; an empty
string counts as unset, and a malformed value fails fast naming the variable.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A setting has a value that cannot be parsed."""


def parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false")


def parse_seconds(raw: str) -> int:
    # Checked by hand: int()'s own error message would echo the raw value.
    if not raw.strip().isdigit() or int(raw) < 1:
        # 0 would not mean "no tolerance": the stripe library reads it as "no check".
        raise ValueError("expected a whole number of seconds, at least 1")
    return int(raw.strip())


def parse_list(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def parse_log_format(raw: str) -> str:
    value = raw.strip().lower()
    if value not in {"text", "json"}:
        raise ValueError("expected text or json")
    return value


def parse_str(raw: str) -> str:
    return raw.strip()


def parse_http_url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise ValueError("expected an http(s) URL")
    return value


@dataclass(frozen=True)
class Setting:
    name: str
    parse: Callable[[str], Any]
    default: Any


SETTINGS: tuple[Setting, ...] = (
    Setting("DATABASE_URL", parse_str, None),  # None: SQLite in the instance folder
    Setting("STRIPE_WEBHOOK_SECRET", parse_list, []),
    Setting("STRIPE_WEBHOOK_TOLERANCE", parse_seconds, 300),
    Setting("INTERNAL_WEBHOOK_SECRET", parse_str, None),
    Setting("INTERNAL_WEBHOOK_URL", parse_str, None),
    Setting("STRIPE_SECRET_KEY", parse_str, None),
    Setting("STATUS_ADMIN_TOKEN", parse_str, None),
    Setting("PAST_DUE_KEEPS_TIER", parse_bool, True),
    Setting("LOG_FORMAT", parse_log_format, "text"),
    Setting("STRIPE_API_BASE", parse_http_url, None),  # None: Stripe's own API
)

INTERNAL_SECRET_MIN_LENGTH = 32


def load_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """Parse every setting from `environ`; unset or empty gives the default."""
    settings: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.name, "")
        if raw.strip() == "":
            settings[setting.name] = setting.default
            continue
        try:
            settings[setting.name] = setting.parse(raw)
        except ValueError as exc:
            # Never echo the raw value: it may be a secret.
            raise ConfigError(f"{setting.name}: {exc}") from None
    return settings


def environ_settings() -> dict[str, Any]:
    """Settings from the process environment, after reading `.env` once."""
    from dotenv import find_dotenv, load_dotenv

    # Search from the working directory (where `make run` writes .env), not
    # from this file, which may live in site-packages.
    load_dotenv(find_dotenv(usecwd=True), override=False)
    return load_settings(os.environ)
