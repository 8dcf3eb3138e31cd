"""Settings: the only reader of os.environ. Mirrors CONTRACT section 3.

`load_settings(environ)` is pure, so it is tested with plain dicts; an empty
string counts as unset, and a malformed value fails fast naming the variable.
"""
from __future__ import annotations

import os
import urllib.parse
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


def parse_whole(raw: str, unit: str) -> int:
    # Checked by hand: int()'s own error message would echo the raw value. isascii():
    # "²".isdigit() is true, yet int() refuses it.
    value = raw.strip()
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise ValueError(f"expected a whole number of {unit}, at least 1")
    return int(value)


def parse_seconds(raw: str) -> int:
    # 0 would not mean "no tolerance": the stripe library reads it as "no check".
    return parse_whole(raw, "seconds")


def parse_hours(raw: str) -> int:
    return parse_whole(raw, "hours")


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
    # Only http(s): urllib would also open file:, ftp: and data: URLs, and the edge sends
    # the internal secret to whatever this names.
    parts = urllib.parse.urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http:// or https:// URL")
    return raw.strip()


def parse_api_base(raw: str) -> str:
    """A base URL for the stripe library: http(s), without a trailing slash."""
    return parse_http_url(raw).rstrip("/")


def parse_log_level(raw: str) -> str:
    value = raw.strip().upper()
    if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("expected DEBUG, INFO, WARNING or ERROR")
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
    Setting("INTERNAL_WEBHOOK_URL", parse_http_url, None),
    Setting("STRIPE_SECRET_KEY", parse_str, None),
    Setting("STATUS_ADMIN_TOKEN", parse_str, None),
    Setting("PAST_DUE_KEEPS_TIER", parse_bool, True),
    Setting("LOG_FORMAT", parse_log_format, "text"),
    Setting("WELCOME_REVEAL_HOURS", parse_hours, 24),
    Setting("LOG_LEVEL", parse_log_level, "INFO"),
    Setting("STRIPE_LIVEMODE", parse_bool, None),  # None: accept live and test events
    Setting("STRIPE_API_BASE", parse_api_base, None),  # None: Stripe's own API
)

# Every secret and token (each STRIPE_WEBHOOK_SECRET entry, INTERNAL_WEBHOOK_SECRET,
# STATUS_ADMIN_TOKEN) is refused at run time below this length (subsvc/credentials.py).
SECRET_MIN_LENGTH = 32
# Settings whose values never reach a log line (subsvc/logconfig.py redacts them).
SECRET_SETTINGS = ("STRIPE_WEBHOOK_SECRET", "INTERNAL_WEBHOOK_SECRET", "STATUS_ADMIN_TOKEN",
                   "STRIPE_SECRET_KEY")


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
