"""A Slack token never reaches a log line: not in the message, not in extra fields, not in a traceback."""

from __future__ import annotations

import io
import json
import logging

import pytest

from wirewatch.logs import JsonFormatter, RedactSecrets

TOKEN = "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp"


@pytest.mark.parametrize("formatter", [JsonFormatter(), logging.Formatter("%(levelname)s %(message)s %(detail)s")], ids=["json", "console"])
def test_token_is_masked_in_message_extra_and_traceback(formatter: logging.Formatter) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    handler.addFilter(RedactSecrets())
    logger = logging.getLogger(f"test-redaction-{id(formatter)}")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise RuntimeError(f"Slack refused {TOKEN} at https://slack.com/api/?token={TOKEN}")
        except RuntimeError:
            logger.exception("posting with %s failed", TOKEN, extra={"detail": f"auth {TOKEN}", "headers": {"Authorization": f"Bearer {TOKEN}"}})
        logger.warning("stack", stack_info=True, extra={"detail": TOKEN})
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert TOKEN not in text and "1234567890-0987654321" not in text
    assert "xoxb-***" in text and "RuntimeError" in text and "Traceback" in text
    if isinstance(formatter, JsonFormatter):
        first = json.loads(text.splitlines()[0])
        assert "xoxb-***" in first["exc"] and "xoxb-***" in first["detail"] and "xoxb-***" in first["headers"]


def test_console_logs_keep_library_chatter_below_warning() -> None:
    """On a terminal, faust's INFO lines would drown the alert blocks; in JSON they stay."""
    from wirewatch.logs import logging_config

    console = logging_config("console", "info")
    assert console["loggers"]["faust"] == {"level": "WARNING"} and "wirewatch" not in console["loggers"]
    assert logging_config("json", "info")["loggers"] == {}
