"""Log format: one JSON object per line for machines, a readable line on a terminal.

Every record passes a redaction filter first, so a Slack token that ends up
in an exception message or a URL is masked before any handler sees it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any

from streams.timefmt import iso_from_epoch

_SECRET = re.compile(r"xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+")
# Attributes every LogRecord has; anything else was passed with extra={...}.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


#: Secrets that have no recognisable shape (the Kafka SASL password): added by the command at start.
EXTRA_SECRETS: set[str] = set()


def redact(text: str) -> str:
    text = _SECRET.sub(lambda m: m.group(0)[:5] + "***", text)
    for secret in EXTRA_SECRETS:
        text = text.replace(secret, "***")
    return text


class RedactSecrets(logging.Filter):
    """Masks tokens in everything a handler can print: the message, `extra` fields, the
    traceback (formatted here, once, so formatters print the masked text) and stack info."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and not key.startswith("_"):
                text = value if isinstance(value, str) else None if isinstance(value, (int, float, bool, type(None))) else str(value)
                if text is not None and redact(text) != text:
                    setattr(record, key, redact(text))
        if record.exc_info and not record.exc_text:
            record.exc_text = _PLAIN.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_PLAIN = logging.Formatter()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": iso_from_epoch(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = redact(value) if isinstance(value, str) else value if isinstance(value, (int, float, bool, type(None))) else redact(str(value))
        if record.exc_info or record.exc_text:
            entry["exc"] = redact(record.exc_text or self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def use_json(setting: str) -> bool:
    if setting in ("json", "console"):
        return setting == "json"
    return not sys.stderr.isatty()


# On a terminal, these libraries speak only when something is wrong, so that wirewatch's own
# lines and the alert blocks stand out; JSON logs (containers, files) keep everything at `level`.
QUIET_ON_CONSOLE = ("faust", "mode", "aiokafka", "kafka")


def logging_config(setting: str, level: str) -> dict[str, Any]:
    """A logging.config.dictConfig for faust's worker (mode applies it at start)."""
    as_json = use_json(setting)
    formatter = {"()": JsonFormatter} if as_json else {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s", "datefmt": "%H:%M:%S"}
    quiet = {} if as_json else {name: {"level": "WARNING"} for name in QUIET_ON_CONSOLE}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactSecrets}},
        "formatters": {"default": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "default", "filters": ["redact"]}},
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": quiet,
    }
