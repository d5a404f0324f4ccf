"""The delivery core (agents/logic/notifier.py) without a broker: an in-memory ledger, a real
SlackDelivery, and the Slack sink in process over loopback HTTP as the fake Slack."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable

import numpy as np
import pytest
from aiohttp.test_utils import TestServer

from agents.logic.ledger import Ledger, LedgerState, MemoryLedgerStore, ledger_key
from agents.logic.notifier import Notifier
from agents.logic.slack_delivery import ChannelPacer, SlackDelivery, make_client
from agents.logic.stories import signature
from agents.logic.watchlists import Watchlist
from streams.records import Alert, NewsItem, make_alert_id
from wirewatch.slack_sink import SlackSink

CHANNEL = "#alerts"


@dataclass
class FakeOrigin:
    partition: int = 0
    ours: bool = True
    acks: int = 0
    letters: list[str] = field(default_factory=list)

    def still_ours(self) -> bool:
        return self.ours

    def ack(self) -> None:
        self.acks += 1

    async def dead_letter(self, reason: str) -> None:
        self.letters.append(reason)

    def describe(self) -> str:
        return "alerts[0]@1"


def aid(name: str) -> str:
    return make_alert_id(f"item-{name}", "wl")


def make_alert(name: str, channels: tuple[str, ...] = (CHANNEL,), story: str = "") -> Alert:
    item = NewsItem(id=f"item-{name}", title=f"Title {name}", body="Body.", url="https://example.com/a", source="Example Wire")
    evidence = {"sentence": "Body.", "matched": [{"kind": "keyword", "text": "x", "found": "x"}], "rule": "keyword",
                "scores": {"semantic": 0.9, "lexical": 0.5, "counter": 0.0, "final": 0.9, "threshold": 0.5}}
    return Alert(alert_id=aid(name), watchlist_id="wl", watchlist_name="Watch", watchlist_version="0" * 16, severity="high",
                 channels=list(channels), item=item, score=0.9, evidence=evidence,
                 matched_at="2026-12-02T10:00:00.000Z", ingested_at="", story_signature=story)


def watchlist(**delivery: Any) -> Watchlist:
    return Watchlist.model_validate({"id": "wl", "name": "Watch", "channels": [CHANNEL], "exemplars": ["a sentence"],
                                     "delivery": delivery or {"mode": "immediate"}})


@dataclass
class Setup:
    sink: SlackSink
    delivery: SlackDelivery
    store: MemoryLedgerStore
    ledger: Ledger
    notifier: Notifier
    counters: Counter[str]

    def posted(self, channel: str = CHANNEL) -> list[dict[str, Any]]:
        found = self.sink.channels.get(channel.lstrip("#"))
        return [] if found is None else found.messages

    async def submit(self, alert: Alert, origin: FakeOrigin | None = None) -> FakeOrigin:
        origin = origin or FakeOrigin()
        await self.notifier.submit(alert, origin)
        await self.notifier.lanes.drained()
        return origin


Scenario = Callable[[Setup], Awaitable[None]]


def run(scenario: Scenario, wl: Watchlist | None = None, store: MemoryLedgerStore | None = None,
        sink: SlackSink | None = None) -> None:
    async def main() -> None:
        the_sink = sink or SlackSink(rate_per_s=1000, burst=1000)
        server = TestServer(the_sink.app(), host="127.0.0.1")
        await server.start_server()
        client = make_client("xoxb-unit", f"http://127.0.0.1:{server.port}/api/", timeout_s=2)
        delivery = SlackDelivery(client, ChannelPacer(rate_per_s=1000, burst=100), base_backoff_s=0.01, max_backoff_s=0.05)
        counters: Counter[str] = Counter()
        the_store = store or MemoryLedgerStore()
        ledger = Ledger(the_store, retention_s=3600.0, counters=counters)
        the_wl = wl or watchlist()
        notifier = Notifier(ledger, delivery, lambda wid: the_wl if wid == the_wl.id else None, counters, story_window_s=3600.0)
        try:
            await scenario(Setup(the_sink, delivery, the_store, ledger, notifier, counters))
        finally:
            notifier.lanes.close()
            await server.close()

    asyncio.run(main())


def test_posts_to_every_channel_and_acks_once_all_are_settled() -> None:
    async def scenario(s: Setup) -> None:
        origin = await s.submit(make_alert("a1", channels=(CHANNEL, "#other", CHANNEL)))
        assert len(s.posted(CHANNEL)) == 1 and len(s.posted("#other")) == 1
        assert origin.acks == 1 and not origin.letters
        assert s.ledger.state(ledger_key(aid("a1"), CHANNEL)) is LedgerState.POSTED
        assert s.store.flushes == 2  # each POSTING row was made durable before its post
        assert s.counters["slack.posted"] == 2

    run(scenario)


def test_a_replayed_alert_is_not_posted_again() -> None:
    async def scenario(s: Setup) -> None:
        await s.submit(make_alert("a1"))
        replay = await s.submit(make_alert("a1"))
        assert len(s.posted()) == 1
        assert replay.acks == 1 and s.counters["slack.skipped_duplicate"] == 1

    run(scenario)


def test_an_interrupted_post_that_landed_is_found_not_repeated() -> None:
    store = MemoryLedgerStore()

    async def scenario(s: Setup) -> None:
        # A previous worker posted, then stopped before it could record the outcome.
        await s.delivery.post(CHANNEL, {"text": "earlier", "metadata": {"event_type": "wirewatch_alert", "event_payload": {"alert_id": aid("a1")}}}, aid("a1"))
        store.rows[ledger_key(aid("a1"), CHANNEL)] = {"state": "posting", "started": time.time() - 30, "at": time.time(), "p": 0}
        origin = await s.submit(make_alert("a1"))
        assert len(s.posted()) == 1
        assert origin.acks == 1 and s.ledger.state(ledger_key(aid("a1"), CHANNEL)) is LedgerState.POSTED

    run(scenario, store=store)


def test_an_unreadable_ledger_row_checks_the_channel_before_posting() -> None:
    store = MemoryLedgerStore()
    store.rows[ledger_key(aid("a1"), CHANNEL)] = {"state": "unreadable"}  # what the codec makes of a torn row

    async def scenario(s: Setup) -> None:
        await s.submit(make_alert("a1"))
        assert len(s.posted()) == 1
        assert s.ledger.state(ledger_key(aid("a1"), CHANNEL)) is LedgerState.POSTED

    run(scenario, store=store)


def test_server_errors_are_retried_and_a_stored_but_unanswered_post_is_not_doubled() -> None:
    async def scenario(s: Setup) -> None:
        s.sink.faults.fail_next = 2
        await s.submit(make_alert("a1"))
        s.sink.faults.drop_after_store_next = 1  # stored, then the connection drops: outcome unknown
        origin = await s.submit(make_alert("a2"))
        ids = [m["metadata"]["event_payload"]["alert_id"] for m in s.posted()]
        assert ids == [aid("a1"), aid("a2")]
        assert s.delivery.retries >= 3 and origin.acks == 1

    run(scenario)


def test_a_permanent_refusal_is_recorded_and_dead_lettered() -> None:
    async def scenario(s: Setup) -> None:
        origin = await s.submit(make_alert("a1", channels=("#nowhere",)))
        assert origin.acks == 1
        assert origin.letters and "channel_not_found" in origin.letters[0]
        assert s.ledger.state(ledger_key(aid("a1"), "#nowhere")) is LedgerState.FAILED

    run(scenario, sink=SlackSink(channels=["alerts"], rate_per_s=1000, burst=1000))


def test_an_alert_whose_partition_moved_is_left_unacked_for_the_new_owner() -> None:
    async def scenario(s: Setup) -> None:
        origin = await s.submit(make_alert("a1"), FakeOrigin(ours=False))
        assert not s.posted() and origin.acks == 0 and s.counters["slack.superseded"] == 1

    run(scenario)


def test_digest_mode_holds_alerts_and_posts_one_message_when_due() -> None:
    async def scenario(s: Setup) -> None:
        origins = [await s.submit(make_alert(f"a{i}")) for i in range(3)]
        assert not s.posted() and s.counters["slack.held_for_digest"] == 3
        assert all(o.acks == 0 for o in origins)  # held, not done: a crash replays them
        await s.notifier.flush_due_digests(datetime.now(timezone.utc))
        assert not s.posted()  # not due yet
        await s.notifier.flush_due_digests(datetime.now(timezone.utc) + timedelta(minutes=31))
        assert len(s.posted()) == 1
        digest_id = s.posted()[0]["metadata"]["event_payload"]["alert_id"]
        assert digest_id.startswith("digest-")
        assert all(o.acks == 1 for o in origins)
        assert all(s.ledger.row(ledger_key(aid(f"a{i}"), CHANNEL))["digest"] == digest_id for i in range(3))

    run(scenario, wl=watchlist(mode="digest", digest_minutes=30))


def test_quiet_hours_hold_alerts_until_they_end() -> None:
    now = datetime.now(timezone.utc)
    quiet = {"start": (now - timedelta(hours=1)).strftime("%H:%M"), "end": (now + timedelta(hours=1)).strftime("%H:%M"), "timezone": "UTC"}

    async def scenario(s: Setup) -> None:
        origin = await s.submit(make_alert("a1"))
        await s.notifier.flush_due_digests(datetime.now(timezone.utc) + timedelta(minutes=30))
        assert not s.posted() and origin.acks == 0
        await s.notifier.flush_due_digests(datetime.now(timezone.utc) + timedelta(hours=1, minutes=2))
        assert len(s.posted()) == 1 and origin.acks == 1
        assert "quiet hours" in str(s.posted()[0]).lower()

    run(scenario, wl=watchlist(mode="immediate", quiet_hours=quiet))


def test_a_replayed_alert_whose_digest_landed_is_settled_without_a_post() -> None:
    async def scenario(s: Setup) -> None:
        await s.submit(make_alert("a1"))
        await s.notifier.flush_due_digests(datetime.now(timezone.utc) + timedelta(minutes=31))
        key = ledger_key(aid("a1"), CHANNEL)
        row = s.ledger.row(key)
        # The worker stopped after the digest landed but before its POSTED rows were written.
        s.store.rows[key] = {"state": "posting", "started": time.time() - 5, "digest": row["digest"], "at": time.time(), "p": 0}
        replay = await s.submit(make_alert("a1"))
        assert replay.acks == 1 and len(s.posted()) == 1
        assert s.ledger.state(key) is LedgerState.POSTED

    run(scenario, wl=watchlist(mode="digest", digest_minutes=30))


def test_the_same_story_from_another_source_is_a_thread_reply() -> None:
    story = signature(np.ones(384, dtype=np.float32))

    async def scenario(s: Setup) -> None:
        await s.submit(make_alert("a1", story=story))
        await s.submit(make_alert("a2", story=story))
        first, reply = s.posted()
        assert reply.get("thread_ts") == first["ts"] and s.counters["slack.threaded"] == 1
        assert "Example Wire" in str(reply)  # "also reported by"

    run(scenario)


def test_threads_survive_a_restart_through_the_channel_history() -> None:
    story = signature(np.ones(384, dtype=np.float32))

    async def scenario(s: Setup) -> None:
        await s.submit(make_alert("a1", story=story))
        restarted = Notifier(s.ledger, s.delivery, lambda wid: None, s.counters, story_window_s=3600.0)
        try:
            await restarted.submit(make_alert("a2", story=story), FakeOrigin())
            await restarted.lanes.drained()
        finally:
            restarted.lanes.close()
        first, reply = s.posted()
        assert reply.get("thread_ts") == first["ts"]

    run(scenario)


def test_ledger_rows_past_retention_are_dropped_as_the_partition_writes() -> None:
    store = MemoryLedgerStore()
    counters: Counter[str] = Counter()
    ledger = Ledger(store, retention_s=60.0, counters=counters)
    store.rows["old|#a"] = {"state": "posted", "at": time.time() - 3600, "p": 0}
    store.rows["other-partition|#a"] = {"state": "posted", "at": time.time() - 3600, "p": 1}
    ledger.record(0, "new|#a", LedgerState.POSTED, ts="1")
    assert "old|#a" not in store.rows and "other-partition|#a" in store.rows
    assert counters["ledger.expired"] == 1


@pytest.mark.parametrize("row", [{"state": "bogus"}, {"state": "posting", "started": "yesterday"}])
def test_odd_rows_read_as_unfinished_attempts(row: dict[str, Any]) -> None:
    store = MemoryLedgerStore()
    store.rows["k"] = row
    ledger = Ledger(store, retention_s=60.0, counters=Counter())
    assert ledger.state("k") is LedgerState.POSTING
    started = ledger.attempt_started("k")
    assert started is not None and started < time.time() - 86400



def test_a_lane_outlives_a_job_that_fails_outside_delivery() -> None:
    """A fault outside the guarded delivery (here: in the handler itself) must not end the
    channel's lane: the job stays unhandled, later jobs on the channel still run."""
    from agents.logic.lanes import ChannelLanes

    handled: list[str] = []

    async def handle(channel: str, job: str) -> None:
        if job == "bad":
            raise RuntimeError("boom")
        handled.append(job)

    async def main() -> None:
        lanes: ChannelLanes[str] = ChannelLanes(handle, max_in_flight=2)
        for job in ("bad", "good-1", "good-2", "good-3"):
            await lanes.put("#c", job)  # waits for room: the failed job's slot was released
        await lanes.drained()
        lanes.close()

    asyncio.run(asyncio.wait_for(main(), 10))  # a dead lane would leave the later jobs waiting for ever
    assert handled == ["good-1", "good-2", "good-3"]


def test_a_store_fault_during_delivery_dead_letters_that_alert_and_the_lane_goes_on() -> None:
    class FailingOnce(MemoryLedgerStore):
        failed = False

        def put(self, partition: int, key: str, row: dict[str, Any] | None) -> None:
            if not self.failed:
                self.failed = True
                raise OSError("store unavailable")
            super().put(partition, key, row)

    async def scenario(s: Setup) -> None:
        first = await s.submit(make_alert("a1"))
        second = await s.submit(make_alert("a2"))
        assert first.acks == 1 and "OSError: store unavailable" in first.letters[0]
        assert second.acks == 1 and [m["metadata"]["event_payload"]["alert_id"] for m in s.posted()] == [aid("a2")]

    run(scenario, store=FailingOnce())
