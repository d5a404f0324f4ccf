"""Alerts to Slack: lanes, digests, story threads and the ledger, without faust.

The notify agent hands each alert to `Notifier.submit` with its `Origin`: where the alert was
read from, which says whether the alert is still this worker's (after a rebalance it is not),
acknowledges it, and dead-letters it. An alert is acknowledged only when every channel of it is
settled, so a crash replays it, and the ledger then skips what was already posted.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Protocol
from urllib.parse import urlsplit

from agents.logic.digest import DigestBuffers, render_digests
from agents.logic.lanes import MAX_IN_FLIGHT, ChannelLanes
from agents.logic.ledger import Ledger, LedgerState, ledger_key
from agents.logic.slack_delivery import PermanentSlackError, Posted, Superseded
from agents.logic.slack_render import render_alert
from agents.logic.staleness import seconds_since
from agents.logic.stories import StoryPost, StoryThreads
from agents.logic.watchlists import Watchlist
from streams.records import Alert

log = logging.getLogger("wirewatch")

SETTLE_TIMEOUT_S = 5.0


class Origin(Protocol):
    """Where an alert was read from (the agent's event, or a test's stand-in)."""

    partition: int

    def still_ours(self) -> bool: ...

    def ack(self) -> None: ...

    async def dead_letter(self, reason: str) -> None: ...

    def describe(self) -> str: ...


class SlackPoster(Protocol):
    """What the notifier needs of Slack (agents/logic/slack_delivery.py's SlackDelivery)."""

    in_flight: int

    async def post(self, channel: str, message: dict[str, Any], alert_id: str, uncertain_since: float | None = None,
                   still_ours: Callable[[], bool] | None = None) -> Posted: ...

    async def find_posted(self, channel: str, alert_id: str, oldest: float, thread_ts: str | None = None) -> Posted | None: ...

    async def recent_top_level(self, channel: str, oldest: float) -> list[dict[str, Any]]: ...


@dataclass
class Job:
    alert: Alert
    origin: Origin
    remaining: int  # channels not yet settled

    def finish(self) -> None:
        self.remaining -= 1
        if self.remaining == 0:
            self.origin.ack()


def source_of(alert: Alert) -> str:
    return alert.item.source or urlsplit(alert.item.url).netloc or "another source"


class Notifier:
    def __init__(
        self,
        ledger: Ledger,
        slack: SlackPoster,
        watchlist_of: Callable[[str], Watchlist | None],
        counters: Counter[str],
        story_window_s: float,
        observe_latency: Callable[[float], None] = lambda seconds: None,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self.ledger = ledger
        self.slack = slack
        self.watchlist_of = watchlist_of
        self.counters = counters
        self.observe_latency = observe_latency  # ingest to Slack post, seconds
        self.stories = StoryThreads(slack, story_window_s)
        self.digests: DigestBuffers[Job] = DigestBuffers()
        self.lanes: ChannelLanes[Job] = ChannelLanes(self._handle, max_in_flight)

    async def submit(self, alert: Alert, origin: Origin) -> None:
        """Queue the alert on each of its channels' lanes (waits while too many are queued)."""
        channels = list(dict.fromkeys(alert.channels))
        if not channels:
            origin.ack()
            return
        job = Job(alert, origin, remaining=len(channels))
        for channel in channels:
            await self.lanes.put(channel, job)

    async def settle(self, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
        """Before a partition moves: let a post already on the wire get its answer and its ledger
        row, so the next owner finds it in the ledger or in the channel's history."""
        deadline = time.monotonic() + timeout_s
        while self.slack.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.ledger.forget_partitions()

    async def flush_due_digests(self, now: datetime | None = None) -> None:
        for channel, buffer in self.digests.take_due(now or datetime.now(timezone.utc)):
            jobs = {job.alert.alert_id: job for job in buffer.jobs if job.origin.still_ours()}
            for alerts, message in render_digests(buffer.watchlist_name, [job.alert for job in jobs.values()], buffer.reason):
                await self._post_digest(channel, [jobs[a.alert_id] for a in alerts], message)

    async def _handle(self, channel: str, job: Job) -> None:
        if not job.origin.still_ours():
            # After a rebalance (or during shutdown) its partition is read again from the committed
            # offset, here or by another worker; posting it here as well would post it twice.
            self.counters["slack.superseded"] += 1
            log.info("alert %s for %s dropped here (%s): its partition moved in a rebalance", job.alert.alert_id,
                     channel, job.origin.describe())
            return
        if await self._hold(job, channel):
            return
        try:
            await self._deliver(job, channel)
        except Superseded:
            self.counters["slack.superseded"] += 1  # unacked: the partition's new reading delivers it
            log.info("alert %s for %s not posted here: its partition moved in a rebalance", job.alert.alert_id, channel)
            return
        except Exception as exc:  # noqa: BLE001 - never lose the lane, never lose the alert
            log.exception("delivery to %s failed for alert %s", channel, job.alert.alert_id)
            await job.origin.dead_letter(f"slack {channel}: unexpected {type(exc).__name__}: {exc}")
        job.finish()

    async def _hold(self, job: Job, channel: str) -> bool:
        """Buffer the alert for a digest (digest mode or quiet hours), or settle it as part of a
        digest that already went out; False: post it now."""
        watchlist = self.watchlist_of(job.alert.watchlist_id)
        if watchlist is None:
            return False
        key = ledger_key(job.alert.alert_id, channel)
        if self.ledger.settled(key):
            return False  # replayed after its digest went out: _deliver skips it
        row = self.ledger.row(key)
        if row is not None and self.ledger.state(key) is LedgerState.POSTING and isinstance(row.get("digest"), str):
            if await self._digest_landed(job, channel, key, row["digest"]):
                return True
        if not self.digests.hold(channel, watchlist, job, datetime.now(timezone.utc)):
            return False
        self.counters["slack.held_for_digest"] += 1
        return True

    async def _digest_landed(self, job: Job, channel: str, key: str, digest_id: str) -> bool:
        """A digest holding this alert was being posted when the last worker stopped: did it land?"""
        started = self.ledger.attempt_started(key)
        if started is None:
            started = time.time()
        try:
            landed = await self.slack.find_posted(channel, digest_id, started - 5)
        except Exception as exc:  # noqa: BLE001 - cannot tell: buffer it again, as if it had not landed
            log.warning("could not check %s for digest %s: %s", channel, digest_id, exc)
            return False
        if landed is None:
            return False
        self.ledger.record(job.origin.partition, key, LedgerState.POSTED, channel_id=landed.channel_id, ts=landed.ts, digest=digest_id)
        job.finish()
        return True

    async def _post_digest(self, channel: str, jobs: list[Job], message: dict[str, Any]) -> None:
        digest_id = "digest-" + hashlib.sha256("|".join(job.alert.alert_id for job in jobs).encode()).hexdigest()[:24]
        message["metadata"]["event_payload"]["alert_id"] = digest_id
        started = time.time()
        for job in jobs:  # the intent is durable before Slack can see the digest
            self.ledger.record(job.origin.partition, ledger_key(job.alert.alert_id, channel), LedgerState.POSTING,
                               started=started, digest=digest_id)
        await self.ledger.flush()
        posted: Posted | None
        try:
            posted = await self.slack.post(channel, message, digest_id)
        except PermanentSlackError as exc:
            posted, reason = None, exc.reason
        for job in jobs:
            key = ledger_key(job.alert.alert_id, channel)
            if posted is not None:
                self.ledger.record(job.origin.partition, key, LedgerState.POSTED, channel_id=posted.channel_id, ts=posted.ts, digest=digest_id)
            else:
                self.ledger.record(job.origin.partition, key, LedgerState.FAILED, reason=reason)
                await job.origin.dead_letter(f"slack {channel} digest: {reason}")
            job.finish()
        if posted is not None:
            self.counters["slack.digests"] += 1
            log.info("slack digest %s channel=%s alerts=%d ts=%s", digest_id, channel, len(jobs), posted.ts, extra={"channel": channel})

    async def _deliver(self, job: Job, channel: str) -> None:
        alert, key = job.alert, ledger_key(job.alert.alert_id, channel)
        if self.ledger.settled(key):
            self.counters["slack.skipped_duplicate"] += 1
            return
        thread = await self.stories.find(channel, alert.story_signature, time.time())
        if thread is not None and thread.alert_id == alert.alert_id:
            thread = None  # our own earlier post (found after a restart): not a reply to itself
        uncertain_since = self.ledger.attempt_started(key)
        if uncertain_since is None:
            self.ledger.record(job.origin.partition, key, LedgerState.POSTING, started=time.time())
            await self.ledger.flush()  # the intent is durable before Slack can see the post
        try:
            message = render_alert(alert, also_reported_by=source_of(alert) if thread else None)
            if thread is not None:
                message["thread_ts"] = thread.thread_ts
            posted = await self.slack.post(channel, message, alert.alert_id, uncertain_since, still_ours=job.origin.still_ours)
        except PermanentSlackError as exc:
            self.ledger.record(job.origin.partition, key, LedgerState.FAILED, reason=exc.reason)
            await job.origin.dead_letter(f"slack {channel}: {exc.reason}")
            return
        self.ledger.record(job.origin.partition, key, LedgerState.POSTED, channel_id=posted.channel_id, ts=posted.ts)
        self.counters["slack.posted"] += 1
        if thread is None:
            self.stories.add(channel, StoryPost(alert.story_signature, posted.ts, alert.alert_id, time.time()))
        else:
            self.counters["slack.threaded"] += 1
        age = seconds_since(alert.ingested_at)
        if age is not None:
            self.observe_latency(age)
        log.info(
            "slack posted alert=%s channel=%s ts=%s%s", alert.alert_id, channel, posted.ts,
            " (found from an earlier attempt)" if posted.found_existing else "",
            extra={"alert_id": alert.alert_id, "item_id": alert.item.id, "channel": channel},
        )

