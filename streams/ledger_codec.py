"""The codec of the Slack ledger table's rows: JSON that never raises when read back.

faust re-reads a table's changelog topic at every start and rebalance, and a row it cannot
decode makes it throw, which stops the worker every time it recovers. Anyone who can write to
that topic could plant such a row, and a torn write could leave one. A row that is not the
ledger's own shape therefore reads as UNREADABLE_ROW: the notify agent treats it like an
interrupted post and checks the channel's history before posting, so nothing is lost and
nothing is posted twice. Never pickle: rows come from the broker.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from faust.serializers import codecs

CODEC_NAME = "wirewatch-ledger"
UNREADABLE_ROW: dict[str, Any] = {"state": "unreadable"}
log = logging.getLogger("wirewatch.ledger")


def read_row(raw: bytes) -> Any:
    """A ledger key (str) or value (dict with a str 'state'); anything else becomes a harmless stand-in."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        value = None
    if isinstance(value, str) or (isinstance(value, dict) and isinstance(value.get("state"), str)):
        return value
    log.warning("unreadable Slack ledger row (%d bytes, sha256 %s); treated as an interrupted post",
                len(raw), hashlib.sha256(raw).hexdigest()[:16])
    return dict(UNREADABLE_ROW)


class LedgerCodec(codecs.Codec):
    def _dumps(self, obj: Any) -> bytes:
        return json.dumps(obj, ensure_ascii=False).encode("utf-8")

    def _loads(self, s: bytes) -> Any:
        return read_row(s)


codecs.register(CODEC_NAME, LedgerCodec())
