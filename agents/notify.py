"""Agent `notify`: alerts -> Slack, with a ledger so each alert is posted at most once.

The ledger is a faust Table (changelog-backed, so it follows partitions
across restarts and rebalances), keyed by alert id + channel:
- no entry: never attempted, post;
- "posting": an attempt started but its outcome is unknown (we crashed), so
  the channel's history is searched for the alert id before posting;
- "posted" / "failed": done, skip.
The "posting" mark is flushed to the broker before the HTTP call, so a crash
at any point leaves either no attempt or a recorded, checkable one.
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urlsplit

import faust
from faust.streams import _current_event

from agents.logic.digest import MAX_DIGEST_HELD, held_until, render_digests
from agents.logic.ledger_retention import LedgerRetention
from agents.logic.slack_delivery import PermanentSlackError, Superseded
from agents.logic.slack_render import render_alert, render_console
from agents.logic.steps import Refusal, read_alert
from agents.logic.stories import StoryIndex, StoryPost
from agents.logic.staleness import seconds_since
from agents.runtime import Runtime, log
from streams.commits import of_current_reading
from streams.ledger_codec import CODEC_NAME as LEDGER_CODEC
from streams.records import Alert


MAX_IN_FLIGHT = 1000
UNREADABLE_LOOKBACK_S = 7 * 86400.0


@dataclass
class DigestBuffer:
    first: datetime
    due: datetime
    watchlist_name: str
    reason: str
    jobs: list["Job"] = field(default_factory=list)


@dataclass
class Job:
    event: faust.EventT
    alert: Alert
    remaining: int


def _source_of(alert: Alert) -> str:
    item = alert.item
    return item.source or urlsplit(item.url).netloc or "another source"


def _attempt_started(state: dict) -> float:
    """When the unfinished attempt began; for an unreadable row, far enough back to find any post."""
    started = state.get("started")
    if isinstance(started, (int, float)) and math.isfinite(started):
        return float(started)
    return time.time() - UNREADABLE_LOOKBACK_S


def register(app: faust.App, runtime: Runtime) -> None:
    topics = runtime.topics
    assert topics is not None
    settings = runtime.settings
    ledger = app.Table(
        "slack_ledger",
        default=None,
        partitions=settings.partitions,
        # JSON that never raises on a planted or torn row, never pickle (streams/ledger_codec.py).
        schema=faust.Schema(key_serializer=LEDGER_CODEC, value_serializer=LEDGER_CODEC),
    )

    retention = LedgerRetention(settings.ledger_retention_s)
    stories = StoryIndex(window_s=settings.story_window_s)
    seeded: set[str] = set()

    # One lane (queue + task) per channel: a throttled or failing channel waits in its own
    # lane while the others keep posting, and each lane posts in arrival order. An event is
    # acked only when every channel of its alert is done, so a crash replays it (the ledger
    # then skips what was already posted).
    lanes: dict[str, asyncio.Queue[Job]] = {}
    digests: dict[tuple[str, str], DigestBuffer] = {}  # (channel, watchlist id) -> held alerts
    room = asyncio.Semaphore(MAX_IN_FLIGHT)

    def owns(event: faust.EventT) -> bool:
        """Still this worker's alert? After a rebalance (or during shutdown) its partition is read
        again from the committed offset, here or by another worker, and posting it here as
        well would post it twice. Such jobs are dropped unacked."""
        return of_current_reading(app, event.message)

    @app.on_partitions_revoked.connect
    async def settle_posts(sender: faust.App, revoked: set, **kwargs: object) -> None:
        """Let a post already on the wire get its answer (and its ledger entry) before the
        partition moves: the next owner then finds it in the ledger or the channel history."""
        deadline = time.monotonic() + 5.0
        while runtime.delivery.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        retention.forget_partitions()

    def finish(job: Job) -> None:
        job.remaining -= 1
        if job.remaining == 0:
            job.event.ack()

    async def hold(job: Job, channel: str) -> bool:
        """Buffer the alert for a digest (digest mode or quiet hours), or settle it as part of a
        digest that already went out; False: post it now."""
        watchlist = runtime.registry.watchlist(job.alert.watchlist_id)
        if watchlist is None:
            return False
        key_ = f"{job.alert.alert_id}|{channel}"
        state = ledger.get(key_)
        if state and state.get("state") in ("posted", "failed"):
            return False  # replayed after its digest went out: deliver() skips it
        if state and state.get("state") == "posting" and isinstance(state.get("digest"), str):
            # A digest holding this alert was being posted when the last worker stopped.
            try:
                landed = await runtime.delivery.find_posted(channel, state["digest"], _attempt_started(state) - 5)
            except Exception as exc:  # noqa: BLE001 - cannot tell: buffer it again, as if it had not landed
                log.warning("could not check %s for digest %s: %s", channel, state["digest"], exc)
                landed = None
            if landed is not None:
                record(job.event, key_, {"state": "posted", "channel_id": landed.channel_id, "ts": landed.ts, "digest": state["digest"]})
                finish(job)
                return True
        now = datetime.now(timezone.utc)
        key = (channel, watchlist.id)
        buffer = digests.get(key)
        until = held_until(watchlist.delivery, buffer.first if buffer else now, now)
        if until is None:
            return False
        if buffer is None:
            reason = "digest" if watchlist.delivery.mode == "digest" else "held during quiet hours"
            buffer = digests[key] = DigestBuffer(first=now, due=until, watchlist_name=watchlist.name, reason=reason)
        buffer.due = max(buffer.due, until)
        buffer.jobs.append(job)
        if len(buffer.jobs) >= MAX_DIGEST_HELD:
            buffer.due = now  # capped: posted at the next tick rather than held without bound
        runtime.counters["slack.held_for_digest"] += 1
        return True

    @app.timer(interval=1.0, name="digests")
    async def flush_digests() -> None:
        now = datetime.now(timezone.utc)
        for key in [k for k, b in digests.items() if b.due <= now]:
            channel, _ = key
            buffer = digests.pop(key)
            jobs = {job.alert.alert_id: job for job in buffer.jobs if owns(job.event)}
            for alerts, message in render_digests(buffer.watchlist_name, [job.alert for job in jobs.values()], buffer.reason):
                await post_digest(channel, [jobs[a.alert_id] for a in alerts], message)

    async def post_digest(channel: str, jobs: list[Job], message: dict) -> None:
        digest_id = "digest-" + hashlib.sha256("|".join(job.alert.alert_id for job in jobs).encode()).hexdigest()[:24]
        message["metadata"]["event_payload"]["alert_id"] = digest_id
        started = time.time()
        for job in jobs:  # the intent is on the broker before Slack can see the digest
            record(job.event, f"{job.alert.alert_id}|{channel}", {"state": "posting", "started": started, "digest": digest_id})
        await app.producer.flush()
        try:
            posted = await runtime.delivery.post(channel, message, digest_id)
        except PermanentSlackError as exc:
            posted, reason = None, exc.reason
        for job in jobs:
            key_ = f"{job.alert.alert_id}|{channel}"
            if posted is not None:
                record(job.event, key_, {"state": "posted", "channel_id": posted.channel_id, "ts": posted.ts, "digest": digest_id})
            else:
                record(job.event, key_, {"state": "failed", "reason": reason})
                await (await runtime.dead_letter("notify", f"slack {channel} digest: {reason}", job.event))
            finish(job)
        if posted is not None:
            runtime.counters["slack.digests"] += 1
            log.info("slack digest %s channel=%s alerts=%d ts=%s", digest_id, channel, len(jobs), posted.ts, extra={"channel": channel})

    def record(event: faust.EventT, key: str, row: dict) -> None:
        """Write the ledger row of an alert read from `event`, stamped with when and which partition;
        rows of that partition older than the retention are dropped on the way."""
        _current_event.set(weakref.ref(event))  # table writes route their changelog by the current event
        partition, now = event.message.partition, time.time()
        if retention.needs_index(partition):
            retention.index(partition, list(ledger.items()))
        for old in retention.expired(partition, now):
            current = ledger.get(old)
            if isinstance(current, dict) and isinstance(current.get("at"), (int, float)) and current["at"] < now - retention.retention_s:
                del ledger[old]
                runtime.counters["ledger.expired"] += 1
        ledger[key] = {**row, "at": now, "p": partition}
        retention.note(partition, key, now)

    async def run_lane(channel: str, queue: asyncio.Queue[Job]) -> None:
        while True:
            job = await queue.get()
            # Table writes route their changelog by the current event's partition.
            _current_event.set(weakref.ref(job.event))
            if not owns(job.event):
                room.release()
                runtime.counters["slack.superseded"] += 1
                message = job.event.message
                log.info("alert %s for %s dropped here (%s[%d]@%d): its partition moved in a rebalance", job.alert.alert_id,
                         channel, message.topic, message.partition, message.offset)
                continue
            if await hold(job, channel):
                room.release()
                continue
            done = True
            try:
                await deliver(job.event, job.alert, channel)
            except Superseded:
                done = False  # unacked: the partition's new reading delivers it
                runtime.counters["slack.superseded"] += 1
                log.info("alert %s for %s not posted here: its partition moved in a rebalance", job.alert.alert_id, channel)
            except Exception as exc:  # noqa: BLE001 - never lose the lane, never lose the alert
                log.exception("delivery to %s failed for alert %s", channel, job.alert.alert_id)
                await (await runtime.dead_letter("notify", f"slack {channel}: unexpected {type(exc).__name__}: {exc}", job.event))
            finally:
                room.release()
                if done:
                    finish(job)

    def lane(channel: str) -> asyncio.Queue[Job]:
        if channel not in lanes:
            lanes[channel] = asyncio.Queue()
            asyncio.ensure_future(run_lane(channel, lanes[channel]))
        return lanes[channel]

    @app.agent(topics.alerts, name="notify")
    async def notify(stream: faust.StreamT) -> None:
        async for event in stream.noack().events():
            alert = read_alert(event.message.value)  # parsed and rendered once, so no lane trips on it
            if isinstance(alert, Refusal):
                await (await runtime.dead_letter("notify", alert.reason, event))
                event.ack()
                continue
            runtime.counters["alerts.in"] += 1
            if alert.stale:
                # Published or ingested longer ago than WIREWATCH_STALE_AFTER: it stays on the
                # alerts topic (marked stale) but does not reach analysts as breaking news.
                runtime.counters["alerts.stale"] += 1
                log.info("stale alert %s not posted (item %s, published %r, ingested %s)", alert.alert_id, alert.item.id,
                         alert.item.published, alert.ingested_at, extra={"alert_id": alert.alert_id, "item_id": alert.item.id})
                event.ack()
                continue
            if settings.console_alerts:
                print(render_console(alert), flush=True)
            channels = list(dict.fromkeys(alert.channels))
            if not channels:
                event.ack()
                continue
            job = Job(event, alert, remaining=len(channels))
            for channel in channels:
                await room.acquire()  # back-pressure: at most MAX_IN_FLIGHT deliveries queued
                lane(channel).put_nowait(job)

    async def story_thread(alert: Alert, channel: str) -> StoryPost | None:
        """The top-level post of the same event in this channel, if one is in the window."""
        if channel not in seeded:
            seeded.add(channel)  # once per worker: rebuild the index from the channel itself
            try:
                for payload in await runtime.delivery.recent_top_level(channel, time.time() - settings.story_window_s):
                    stories.add(channel, StoryPost(str(payload.get("story_signature") or ""), payload["ts"], str(payload["alert_id"]), float(payload["ts"])))
            except Exception as exc:  # noqa: BLE001 - threading is a convenience; posting goes on
                log.warning("could not read %s history for story threads: %s", channel, exc)
        return stories.find(channel, alert.story_signature, time.time())

    async def deliver(event: faust.EventT, alert: Alert, channel: str) -> None:
        key = f"{alert.alert_id}|{channel}"
        state = ledger.get(key)
        if state and state.get("state") in ("posted", "failed"):
            runtime.counters["slack.skipped_duplicate"] += 1
            return
        thread = await story_thread(alert, channel)
        if thread is not None and thread.alert_id == alert.alert_id:
            thread = None  # our own earlier post (found after a restart): not a reply to itself
        uncertain_since = _attempt_started(state) if state else None
        if state is None:
            record(event, key, {"state": "posting", "started": time.time()})
            await app.producer.flush()  # the intent is on the broker before Slack can see the post
        try:
            message = render_alert(alert, also_reported_by=_source_of(alert) if thread else None)
            if thread is not None:
                message["thread_ts"] = thread.thread_ts
            posted = await runtime.delivery.post(channel, message, alert.alert_id, uncertain_since, still_ours=lambda: owns(event))
        except PermanentSlackError as exc:
            record(event, key, {"state": "failed", "reason": exc.reason})
            await (await runtime.dead_letter("notify", f"slack {channel}: {exc.reason}", event))
            return
        record(event, key, {"state": "posted", "channel_id": posted.channel_id, "ts": posted.ts})
        runtime.counters["slack.posted"] += 1
        if thread is None:
            stories.add(channel, StoryPost(alert.story_signature, posted.ts, alert.alert_id, time.time()))
        else:
            runtime.counters["slack.threaded"] += 1
        age = seconds_since(alert.ingested_at)
        if age is not None:
            runtime.metrics.produce_to_slack.observe(age)
        log.info(
            "slack posted alert=%s channel=%s ts=%s%s", alert.alert_id, channel, posted.ts,
            " (found from an earlier attempt)" if posted.found_existing else "",
            extra={"alert_id": alert.alert_id, "item_id": alert.item.id, "channel": channel},
        )
