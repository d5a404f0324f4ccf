"""Timestamps as wirewatch writes them (ISO 8601, UTC, milliseconds, `Z`) and reads them."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime


def iso_from_epoch(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_now_iso() -> str:
    return iso_from_epoch(time.time())


def parse_time(text: str | None) -> datetime | None:
    """ISO 8601 (with or without zone; naive means UTC) or RFC 2822 as in RSS; None when unreadable."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def epoch_of(text: str | None) -> float | None:
    parsed = parse_time(text)
    return None if parsed is None else parsed.timestamp()
