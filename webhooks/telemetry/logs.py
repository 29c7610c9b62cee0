"""The log format: ``text`` (as gunicorn, the worker and Celery write it) or ``json`` (one
JSON object per line, for log collectors).

JSON lines come from a small formatter on the standard library rather than a dependency: the
fields are few and fixed (time, level, logger, message, and an attempt's own fields), and an
explicit list keeps anything else a record may carry — a payload, headers — out of the line.
"""

import json
import logging
import sys
from datetime import UTC, datetime

from flask import Flask

from webhooks.settings import SettingError

FORMATS = ("text", "json")
_HANDLER_NAME = "webhooks-json"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: timestamp, level, logger, message, and an attempt's
    fields when the record is an attempt's (``webhooks.telemetry.record``)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "attempt_fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def log_format(app: Flask) -> str:
    """The LOG_FORMAT setting, checked: ``text`` or ``json``."""
    value = str(app.config["LOG_FORMAT"]).strip().lower()
    if value not in FORMATS:
        raise SettingError(
            "LOG_FORMAT", app.config["LOG_FORMAT"], "is not a log format", "text or json"
        )
    return value


def init_app(app: Flask) -> None:
    """With ``json``, the service's loggers write JSON lines to standard error, whatever
    gunicorn, the worker command or Celery set up for the rest."""
    logger = logging.getLogger("webhooks")
    for handler in [h for h in logger.handlers if h.get_name() == _HANDLER_NAME]:
        logger.removeHandler(handler)
    if log_format(app) != "json":
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter())
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
