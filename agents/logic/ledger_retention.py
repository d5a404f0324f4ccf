"""Which Slack ledger rows are old enough to forget, so the ledger does not grow forever.

Each row records when it was written (`at`) and the partition whose alerts it belongs to (`p`).
A row older than the retention is deleted the next time its partition writes a row: deletes
then travel on the changelog partition of the alert being handled, as every ledger write must.
Forgetting is safe as long as the retention is longer than the staleness cutoff: an alert
replayed after its row is gone is stale by then, and stale alerts are never posted.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Iterable

DEFAULT_RETENTION_S = 30 * 86400.0


class LedgerRetention:
    def __init__(self, retention_s: float = DEFAULT_RETENTION_S) -> None:
        self.retention_s = retention_s
        self._rows: dict[int, deque[tuple[float, str]]] = {}  # partition -> (written at, key), oldest first
        self._indexed: set[int] = set()

    def needs_index(self, partition: int) -> bool:
        """True until the rows already in the table for this partition have been noted."""
        return partition not in self._indexed

    def index(self, partition: int, rows: Iterable[tuple[Any, Any]]) -> None:
        """Note the rows of one partition found in the table (after a start or a rebalance)."""
        found = sorted(
            (float(row["at"]), str(key))
            for key, row in rows
            if isinstance(row, dict) and row.get("p") == partition and isinstance(row.get("at"), (int, float))
        )
        self._rows[partition] = deque(found)
        self._indexed.add(partition)

    def note(self, partition: int, key: str, at: float) -> None:
        self._rows.setdefault(partition, deque()).append((at, key))

    def expired(self, partition: int, now: float) -> list[str]:
        """Keys of this partition written more than the retention ago (each returned once).

        A key written again later keeps its newer entry, and the caller checks the row's own
        `at` before deleting, so a rewritten row is never dropped early.
        """
        rows = self._rows.get(partition)
        out: list[str] = []
        while rows and rows[0][0] < now - self.retention_s:
            out.append(rows.popleft()[1])
        return out

    def forget_partitions(self) -> None:
        """After a rebalance: partitions are re-indexed from the table the next time they write."""
        self._rows.clear()
        self._indexed.clear()

    def __len__(self) -> int:
        return sum(len(rows) for rows in self._rows.values())
