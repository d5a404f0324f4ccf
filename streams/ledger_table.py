"""The Slack ledger's rows in a changelog-backed faust table (agents/logic/ledger.py holds the logic).

A table follows its partitions across restarts and rebalances. faust routes a plain table write
to the changelog partition of the event being processed, which it finds in a private context
variable; the ledger's writes name their partition (the alert's) instead, through the table's
public `send_changelog` and `data`, so they work from any task.
"""

from __future__ import annotations

from typing import Any

import faust

from streams.ledger_codec import CODEC_NAME


class TableStore:
    def __init__(self, app: faust.App, partitions: int, name: str = "slack_ledger") -> None:
        self.app = app
        # JSON that never raises on a planted or torn row, never pickle (streams/ledger_codec.py).
        self.table = app.Table(name, default=None, partitions=partitions,
                               schema=faust.Schema(key_serializer=CODEC_NAME, value_serializer=CODEC_NAME))

    def get(self, key: str) -> Any:
        return self.table.get(key)

    def items(self) -> list[tuple[Any, Any]]:
        return list(self.table.items())

    def put(self, partition: int, key: str, row: dict[str, Any] | None) -> None:
        if row is None:
            self.table.send_changelog(partition, key, None, value_serializer="raw")
            self.table.data.pop(key, None)
        else:
            self.table.send_changelog(partition, key, row)
            self.table.data[key] = row

    async def flush(self) -> None:
        """Puts are on the broker when this returns."""
        await self.app.producer.flush()
