"""One lane (queue + task) per Slack channel.

A throttled or failing channel waits in its own lane while the others keep posting, and each
lane posts in arrival order. A shared allowance caps the jobs queued across all lanes, so a slow
Slack pushes back on the stream instead of filling memory.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, Generic, TypeVar

Job = TypeVar("Job")

MAX_IN_FLIGHT = 1000
log = logging.getLogger("wirewatch")


class ChannelLanes(Generic[Job]):
    def __init__(self, handle: Callable[[str, Job], Awaitable[None]], max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self._handle = handle
        self._room = asyncio.Semaphore(max_in_flight)
        self._queues: dict[str, asyncio.Queue[Job]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def put(self, channel: str, job: Job) -> None:
        """Queue a job on its channel's lane; waits while the allowance is used up."""
        await self._room.acquire()
        if channel not in self._queues:
            self._queues[channel] = asyncio.Queue()
            self._tasks.append(asyncio.ensure_future(self._run(channel, self._queues[channel])))
        self._queues[channel].put_nowait(job)

    async def _run(self, channel: str, queue: asyncio.Queue[Job]) -> None:
        while True:
            job = await queue.get()
            try:
                await self._handle(channel, job)
            except Exception:  # noqa: BLE001 - the lane must outlive one job; that job stays unacked
                log.exception("lane %s: a job failed outside delivery; it stays unacked and is read again "
                              "after the next rebalance or restart", channel)
            finally:
                self._room.release()
                queue.task_done()

    async def drained(self) -> None:
        """Every job queued so far has been handled (for tests and orderly stops)."""
        for queue in list(self._queues.values()):
            await queue.join()

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
