"""Log output shared by the server and the SDK worker: text, or one JSON object per line.

    from chronos.logs import configure
    configure(level="info", fmt="json")     # what ``chronos worker --log-format json`` does

A JSON line has ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``msg``, ``exc`` when the record
carries an exception, and the record's structured fields (a worker's job line adds ``handler``,
``job_id``, ``attempt``, ``duration_ms``, ``outcome``). ``CHRONOS_LOG_LEVEL`` and
``CHRONOS_LOG_FORMAT`` are read when no level or format is given, as ``chronos serve`` does.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
# Structured fields a record may carry (``log.info(..., extra={"fields": {...}})``).
FIELDS_ATTRIBUTE = "fields"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg``, ``exc``, and the
    record's ``fields`` (see the module doc)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, FIELDS_ATTRIBUTE, None)
        if isinstance(fields, dict):
            entry.update({k: v for k, v in fields.items() if k not in entry})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def parse_level(text: str) -> str:
    value = text.strip().lower()
    if value not in LOG_LEVELS:
        raise ValueError(f"the log level must be one of {', '.join(LOG_LEVELS)}, not {text!r}")
    return value


def parse_format(text: str) -> str:
    value = text.strip().lower()
    if value not in LOG_FORMATS:
        raise ValueError(f"the log format must be one of {', '.join(LOG_FORMATS)}, not {text!r}")
    return value


def configure(level: str | None = None, fmt: str | None = None) -> None:
    """Send logs to stderr in ``fmt`` at ``level`` (defaults: ``CHRONOS_LOG_LEVEL`` or info,
    ``CHRONOS_LOG_FORMAT`` or text). The HTTP client's per-request lines (httpx, httpcore)
    are kept to warnings unless the level is debug."""
    level = parse_level(level or os.environ.get("CHRONOS_LOG_LEVEL") or "info")
    fmt = parse_format(fmt or os.environ.get("CHRONOS_LOG_FORMAT") or "text")
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())
    quiet = logging.DEBUG if level == "debug" else logging.WARNING
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(quiet)
