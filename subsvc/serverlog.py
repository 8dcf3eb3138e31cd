"""gunicorn's own log lines (access and error log) with query strings and credentials redacted.

`gunicorn.conf.py` names `RedactingLogger` as gunicorn's `logger_class`. The welcome page
carries a Checkout session id in its query (`?session_id=cs_…`) and the operator look-ups an
email (`?email=…`); neither may reach a log. Redacting here, rather than only choosing an
access-log format without the query, also covers gunicorn's error log (it quotes whole request
lines when a request is malformed) and any format an operator writes later (`%(r)s`, `%(q)s`,
`%({raw_uri}e)s`, a Referer). Credential headers are blanked outright.
"""
from __future__ import annotations

import logging
import os
import re
from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger

from subsvc.logconfig import JsonFormatter

REDACTED = "<redacted>"
# A "?" right after a path character, and everything up to the next blank or quote: the query
# of a URL or request line quoted anywhere in a message. A "?" ending a sentence is left alone.
QUERY = re.compile(r"(?<=[\w/.~%-])\?[^\s\"'\\]+")
SECRET_HEADERS = ("authorization", "proxy-authorization", "cookie", "set-cookie",
                  "stripe-signature", "x-internal-secret")


def redact_query(text: str) -> str:
    return QUERY.sub("?" + REDACTED, text)


class QueryRedactingFilter(logging.Filter):
    """Rewrites a record's message (and traceback) with every query string redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_query(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            # Formatted here so the handler prints our redacted text, not the raw exception.
            record.exc_text = redact_query(logging.Formatter().formatException(record.exc_info))
        return True


REDACT = QueryRedactingFilter()


# gunicorn publishes no type information (pyproject's mypy override), so Logger is Any here.
class RedactingLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, minus query strings and credentials in either log."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        # LOG_FORMAT=json: gunicorn's own lines (the arbiter's, workers' and the access log)
        # become JSON objects too, so a log pipeline parses one format. Read from the
        # environment (gunicorn.conf.py has loaded .env): the master has no Flask app.
        as_json = os.environ.get("LOG_FORMAT", "").strip().lower() == "json"
        for log in (self.error_log, self.access_log):
            log.addFilter(REDACT)  # addFilter ignores a filter already there (config reloads)
            if as_json:
                for handler in log.handlers:
                    handler.setFormatter(JsonFormatter())

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any],
              request_time: timedelta) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key, value in atoms.items():
            if isinstance(value, str):
                atoms[key] = redact_query(value)
        # The query alone and the Basic-auth user name (an operator may type a token there).
        for key in ("q", "{query_string}e", "u"):
            if atoms.get(key) not in (None, "", "-"):
                atoms[key] = REDACTED
        for name in SECRET_HEADERS:
            for key in (f"{{{name}}}i", f"{{{name}}}o", f"{{http_{name.replace('-', '_')}}}e"):
                if key in atoms:
                    atoms[key] = REDACTED
        return atoms
