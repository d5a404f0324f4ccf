"""Dead-letter records: the original bytes, plus why and where they failed, in headers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from streams.timefmt import utc_now_iso

#: Larger originals are cut to this size; the header keeps the full size and hash.
MAX_DEADLETTER_VALUE_BYTES = 256 * 1024


@dataclass(frozen=True)
class DeadLetter:
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


def make_dead_letter(
    *, stage: str, reason: str, key: bytes | None, value: bytes | None, topic: str, partition: int, offset: int
) -> DeadLetter:
    original = value or b""
    kept = original[:MAX_DEADLETTER_VALUE_BYTES]
    headers = [
        ("wirewatch-stage", stage.encode()),
        ("wirewatch-reason", reason[:2000].encode("utf-8", "replace")),
        ("wirewatch-source", f"{topic}/{partition}/{offset}".encode()),
        ("wirewatch-original-bytes", str(len(original)).encode()),
        ("wirewatch-original-sha256", hashlib.sha256(original).hexdigest().encode()),
        ("wirewatch-failed-at", utc_now_iso().encode()),
    ]
    if len(kept) < len(original):
        headers.append(("wirewatch-truncated", b"true"))
    return DeadLetter(key=key, value=kept, headers=headers)


def read_headers(headers: object) -> dict[str, str]:
    """Headers as a str dict, from kafka-python's or faust's representation."""
    pairs = headers.items() if isinstance(headers, dict) else (headers or [])
    return {str(k): (v.decode("utf-8", "replace") if isinstance(v, (bytes, bytearray)) else str(v)) for k, v in pairs}
