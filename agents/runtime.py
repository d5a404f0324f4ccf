"""What the agents share in one worker: settings, the model, watchlists, Slack, counters."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

import faust

from agents.logic.deadletter import make_dead_letter
from agents.logic.embedder import Embedder
from agents.logic.gloss import Glossary
from agents.logic.registry import WatchlistRegistry
from agents.logic.screening import Screener
from agents.logic.slack_delivery import SlackDelivery
from agents.metrics import Metrics
from streams.app import Topics
from streams.settings import Settings
from streams.timefmt import iso_from_epoch

log = logging.getLogger("wirewatch")


T = TypeVar("T")


@dataclass
class Runtime:
    settings: Settings
    embedder: Embedder
    registry: WatchlistRegistry
    delivery: SlackDelivery
    topics: Topics | None = None
    glossary: Glossary = field(default_factory=Glossary.empty)
    metrics: Metrics = field(default_factory=Metrics)
    started_epoch: float = field(default_factory=time.time)
    last_item_epoch: float = field(default_factory=time.time)  # worker start until the first item
    last_item_at: str = ""

    @property
    def started_at(self) -> str:
        return iso_from_epoch(self.started_epoch)

    def active_screener(self) -> Screener:
        screener = self.registry.screener
        assert screener is not None, "the registry loads its first set before the agents start"
        return screener

    def saw_item(self) -> None:
        self.last_item_epoch = time.time()
        self.last_item_at = iso_from_epoch(self.last_item_epoch)
        self.metrics.last_item.set(self.last_item_epoch)
    counters: Counter[str] = field(default_factory=Counter)
    screen_pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="screen"))
    model_pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="embed"))
    match_pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="match"))

    async def off_loop(self, pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        # CPU-bound work runs in a thread so heartbeats and other agents keep running.
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    async def dead_letter(self, stage: str, reason: str, event: faust.EventT) -> asyncio.Future:
        """Send the event's original bytes to `deadletter`; returns the delivery future."""
        assert self.topics is not None
        message = event.message
        letter = make_dead_letter(
            stage=stage,
            reason=reason,
            key=message.key,
            value=message.value,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
        )
        self.counters[f"deadletter.{stage}"] += 1
        self.metrics.deadletters.labels(stage).inc()
        self.metrics.items.labels("deadlettered").inc()
        log.warning(
            "dead-letter stage=%s source=%s/%d/%d reason=%s", stage, message.topic, message.partition, message.offset, reason,
            extra={"stage": stage, "source": f"{message.topic}/{message.partition}/{message.offset}"},
        )
        return await self.topics.deadletter.send(key=letter.key, value=letter.value, headers=letter.headers)
