"""Logging to stdout, as text or one JSON object per line (LOG_FORMAT)."""
from __future__ import annotations

import json
import logging
import logging.config
from typing import Any


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
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(fmt: str = "text") -> None:
    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
            "json": {"()": JsonFormatter},
        },
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": fmt,
            }
        },
        "loggers": {"subsvc": {"level": "INFO", "handlers": ["stdout"], "propagate": True}},
    })
