"""The Slack ledger: what happened to each (alert, channel) pair, so that each is posted at most once.

States of a row, keyed `alert_id|channel`:
- no row: never attempted, post it;
- POSTING: an attempt started and its outcome is unknown (the worker stopped mid-call), so the
  channel's history is searched for the alert id before posting again;
- POSTED / FAILED: settled, skip it.

The POSTING row is made durable (`flush`) before the HTTP call, so a crash at any point leaves
either no attempt or a recorded, checkable one. Rows live in a `LedgerStore`: a changelog-backed
faust table in the worker (it follows partitions across restarts and rebalances), a dict in tests.
Rows older than the retention are dropped as new rows of the same partition are written.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from enum import Enum
from typing import Any, Iterable, Protocol

from agents.logic.ledger_retention import LedgerRetention

# How far back to search a channel for an attempt whose start time is unreadable.
UNREADABLE_LOOKBACK_S = 7 * 86400.0


class LedgerState(str, Enum):
    """Stored as its value, so rows written before this enum existed read the same."""

    POSTING = "posting"
    POSTED = "posted"
    FAILED = "failed"


class LedgerStore(Protocol):
    """Where rows live. `put(partition, key, None)` deletes; `flush` makes puts durable."""

    def get(self, key: str) -> Any: ...

    def items(self) -> Iterable[tuple[Any, Any]]: ...

    def put(self, partition: int, key: str, row: dict[str, Any] | None) -> None: ...

    async def flush(self) -> None: ...


class MemoryLedgerStore:
    """A dict: for tests, and for any run that needs no durability."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.flushes = 0

    def get(self, key: str) -> Any:
        return self.rows.get(key)

    def items(self) -> Iterable[tuple[Any, Any]]:
        return list(self.rows.items())

    def put(self, partition: int, key: str, row: dict[str, Any] | None) -> None:
        if row is None:
            self.rows.pop(key, None)
        else:
            self.rows[key] = row

    async def flush(self) -> None:
        self.flushes += 1


def ledger_key(alert_id: str, channel: str) -> str:
    return f"{alert_id}|{channel}"


class Ledger:
    """Typed access to the rows, with retention. Any row may be unreadable (planted or torn):
    such a row reads as an unfinished attempt, which is the state that checks Slack first."""

    def __init__(self, store: LedgerStore, retention_s: float, counters: Counter[str]) -> None:
        self.store = store
        self.retention = LedgerRetention(retention_s)
        self.counters = counters

    def row(self, key: str) -> dict[str, Any] | None:
        row = self.store.get(key)
        if row is None:
            return None
        return row if isinstance(row, dict) else {"state": LedgerState.POSTING.value}

    def state(self, key: str) -> LedgerState | None:
        row = self.row(key)
        if row is None:
            return None
        try:
            return LedgerState(row.get("state"))
        except ValueError:
            return LedgerState.POSTING

    def settled(self, key: str) -> bool:
        return self.state(key) in (LedgerState.POSTED, LedgerState.FAILED)

    def attempt_started(self, key: str) -> float | None:
        """When the unfinished attempt began; for an unreadable row, far enough back to find any post."""
        row = self.row(key)
        if row is None:
            return None
        started = row.get("started")
        if isinstance(started, (int, float)) and math.isfinite(started):
            return float(started)
        return time.time() - UNREADABLE_LOOKBACK_S

    def record(self, partition: int, key: str, state: LedgerState, **fields: Any) -> None:
        """Write a row stamped with when and which partition; rows of that partition older than
        the retention are dropped on the way."""
        now = time.time()
        if self.retention.needs_index(partition):
            self.retention.index(partition, list(self.store.items()))
        for old in self.retention.expired(partition, now):
            current = self.store.get(old)
            at = current.get("at") if isinstance(current, dict) else None
            if isinstance(at, (int, float)) and at < now - self.retention.retention_s:
                self.store.put(partition, old, None)
                self.counters["ledger.expired"] += 1
        self.store.put(partition, key, {"state": state.value, **fields, "at": now, "p": partition})
        self.retention.note(partition, key, now)

    async def flush(self) -> None:
        await self.store.flush()

    def forget_partitions(self) -> None:
        """After a rebalance the retention index is rebuilt from the rows this worker then holds."""
        self.retention.forget_partitions()
