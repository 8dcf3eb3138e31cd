"""Logging to stdout, as text or one JSON object per line (LOG_FORMAT), at LOG_LEVEL.

The handler sits on the root logger, so library logs (SQLAlchemy, the stripe library,
werkzeug) come out in the same format; LOG_LEVEL=DEBUG turns those on too. Whatever
logs, a redacting filter on the handler (and on gunicorn's, when it serves the app)
removes what must never reach a log line: the configured secrets and tokens, API keys
(their display prefix stays), checkout session ids, Stripe-Signature values and
Authorization credentials. SQLAlchemy's row echo (DEBUG) is dropped whole: rows hold
event bodies, emails and session ids; its statements carry no values (hide_parameters).
"""
from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from subsvc.config import SECRET_SETTINGS

HANDLER_NAME = "subsvc"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
GUNICORN_LOGGERS = ("gunicorn.error", "gunicorn.access")
# Loggers LOG_LEVEL=DEBUG lowers besides subsvc's own: the root (every library that leaves
# its level unset) and SQLAlchemy, which sets itself to WARNING on import.
DEBUG_LOGGERS = ("", "sqlalchemy")
MIN_LITERAL = 8  # shorter "secrets" would garble every line; the 32-character rule refuses them
REDACTED = "[redacted]"
PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bwhsec_\w+"), "whsec_" + REDACTED),
    (re.compile(r"\b(sk_subsvc_[A-Za-z0-9_-]{6})[A-Za-z0-9_-]+"), r"\1" + REDACTED),
    (re.compile(r"\b([spr]k_(?:live|test))_\w+"), r"\1_" + REDACTED),
    (re.compile(r"\bcs_\w+"), "cs_" + REDACTED),
    (re.compile(r"(session_id=)[^&\s\"']+"), r"\1" + REDACTED),
    (re.compile(r"\bt=\d+(?:,\s*v\d+=[0-9A-Za-z]*)+"), REDACTED),
    (re.compile(r"\bv1=[0-9a-fA-F]{16,}"), "v1=" + REDACTED),
    (re.compile(r"\b(Bearer|Basic) [A-Za-z0-9._~+/=-]{8,}"), r"\1 " + REDACTED),
)

# All of them as one alternation: a line that matches none (nearly every line) is let through
# after one search instead of a substitution per pattern.
ANY_PATTERN = re.compile("|".join(f"(?:{pattern.pattern})" for pattern, _ in PATTERNS))

_lowered: dict[str, int] = {}  # levels DEBUG replaced, restored by a later non-DEBUG set-up


# Fields a log call may pass with `extra=`; JSON lines carry them as fields of
# their own, so a log pipeline can filter on outcome or chart duration_ms
# without parsing messages. Only these names: `extra` is never a way to dump
# arbitrary objects (a payload, a secret) into the log.
EVENT_FIELDS = ("event_id", "type", "outcome", "duration_ms", "error")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in EVENT_FIELDS:
            value = record.__dict__.get(field)
            if value is not None:
                entry[field] = value
        if record.exc_text:
            entry["exc_info"] = record.exc_text
        elif record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and traceback) without secrets; drops SQL row echo."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets = sorted({s for s in secrets if len(s) >= MIN_LITERAL}, key=len,
                              reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        if ANY_PATTERN.search(text) is None:
            return text
        for pattern, replacement in PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("sqlalchemy.engine") and record.levelno < logging.INFO:
            return False
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: let the handler report it as usual
            return True
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def secret_values(config: Mapping[str, Any]) -> list[str]:
    """Every configured secret and token, for the redacting filter."""
    values: list[str] = []
    for name in SECRET_SETTINGS:
        value = config.get(name)
        values += value if isinstance(value, list) else [value] if value else []
    return values


def configure_logging(fmt: str = "text", level: str = "INFO",
                      secrets: Iterable[str] = ()) -> None:
    redactor = RedactingFilter(secrets)
    handler = logging.StreamHandler(sys.stdout)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(redactor)
    root = logging.getLogger()
    # Replace only our own handler (a new app, a test): pytest's capture handlers stay.
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    logging.getLogger("subsvc").setLevel(level)
    _set_debug(level == "DEBUG")
    for name in GUNICORN_LOGGERS:  # handlers exist only when gunicorn serves the app
        for gunicorn_handler in logging.getLogger(name).handlers:
            for old_filter in [f for f in gunicorn_handler.filters
                               if isinstance(f, RedactingFilter)]:
                gunicorn_handler.removeFilter(old_filter)
            gunicorn_handler.addFilter(redactor)


def _set_debug(debug: bool) -> None:
    for name in DEBUG_LOGGERS:
        logger = logging.getLogger(name)
        if debug:
            _lowered.setdefault(name, logger.level)
            logger.setLevel(logging.DEBUG)
        elif name in _lowered:
            logger.setLevel(_lowered.pop(name))
