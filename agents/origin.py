"""An event read by an agent, seen as the delivery core's `Origin` (agents/logic/notifier.py)."""

from __future__ import annotations

import faust

from agents.runtime import Runtime
from streams.commits import of_current_reading


class EventOrigin:
    def __init__(self, app: faust.App, runtime: Runtime, stage: str, event: faust.EventT) -> None:
        self.app, self.runtime, self.stage, self.event = app, runtime, stage, event
        self.partition: int = event.message.partition

    def still_ours(self) -> bool:
        """False once a rebalance (or a stop) means the partition is read again from its commit."""
        return of_current_reading(self.app, self.event.message)

    def ack(self) -> None:
        self.event.ack()

    async def dead_letter(self, reason: str) -> None:
        await (await self.runtime.dead_letter(self.stage, reason, self.event))

    def describe(self) -> str:
        message = self.event.message
        return f"{message.topic}[{message.partition}]@{message.offset}"
