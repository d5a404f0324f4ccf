"""The commit rule of streams/commits.py, and the faust flaw it replaces."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

import pytest
from faust.transport.consumer import Consumer
from faust.types import TP
from intervaltree import IntervalTree

from streams.commits import _new_offset, next_commit_offset

TP0 = TP("news", 0)


@pytest.mark.parametrize(
    ("base", "acked", "expected"),
    [
        (10, [10, 11, 12], 13),
        (10, [11, 12], None),  # 10 still in flight: nothing may be committed
        (10, [10, 12, 13], 11),  # stop at the hole
        (10, [8, 9, 10], 11),  # below the base is already covered
        (0, [1, 2], None),  # nothing committed yet, head missing
        (0, [0, 1, 2], 3),
        (None, [0, 1], None),  # unknown base: never guess
        (5, [], None),
    ],
)
def test_next_commit_offset(base: int | None, acked: list[int], expected: int | None) -> None:
    assert next_commit_offset(base, acked) == expected


def fake_consumer(committed: int | None, acked: list[int], first: int | None = None) -> SimpleNamespace:
    consumer = SimpleNamespace(
        _acked=defaultdict(list, {TP0: list(acked)}),
        _acked_index=defaultdict(set, {TP0: set(acked)}),
        _gap=defaultdict(IntervalTree),
        _committed_offset=defaultdict(lambda: None, {TP0: committed}),
    )
    consumer.__dict__["_wirewatch_first_offsets"] = {} if first is None else {TP0: first}
    return consumer


@pytest.mark.parametrize(
    ("committed", "acked", "first"),
    [
        (31, [32, 33], None),  # one unprocessed message at the head
        (None, [3, 4], 0),  # nothing committed: faust does not look at the head
    ],
)
def test_faust_original_commits_past_an_unprocessed_message(committed: int | None, acked: list[int], first: int | None) -> None:
    """Documents the flaw: if faust's rule stops doing this, the repair can be dropped."""
    faust_offset = Consumer._new_offset(fake_consumer(committed, acked), TP0)  # type: ignore[arg-type]
    assert faust_offset == acked[-1] + 1
    assert _new_offset(fake_consumer(committed, acked, first), TP0) is None  # type: ignore[arg-type]


def test_repaired_rule_commits_the_run_and_keeps_the_rest() -> None:
    consumer = fake_consumer(10, [10, 11, 13, 14])
    assert _new_offset(consumer, TP0) == 12  # type: ignore[arg-type]
    assert consumer._acked[TP0] == [13, 14]
    assert consumer._acked_index[TP0] == {13, 14}


def test_known_gaps_count_as_acked() -> None:
    consumer = fake_consumer(10, [10, 13])
    consumer._gap[TP0].addi(11, 13)  # 11 and 12 will never be delivered (compacted away)
    assert _new_offset(consumer, TP0) == 14  # type: ignore[arg-type]


def test_first_delivered_offset_is_the_base_when_nothing_is_committed() -> None:
    assert _new_offset(fake_consumer(None, [7, 8], first=7), TP0) == 9  # type: ignore[arg-type]
    assert _new_offset(fake_consumer(None, [7, 8], first=None), TP0) is None  # type: ignore[arg-type]


def test_acks_from_an_old_generation_or_a_suspended_flow_are_not_recorded() -> None:
    """Such messages are re-read from the committed offset; their acks must not move the commit."""
    from streams.commits import _wrap_ack

    active = {"flow": True}
    consumer = fake_consumer(0, [])
    consumer.app = SimpleNamespace(
        should_stop=False,
        flow_control=SimpleNamespace(is_active=lambda: active["flow"]),
        consumer_generation_id=2,
        topics=SimpleNamespace(acks_enabled_for=lambda topic: True),
    )
    consumer._waiting_for_ack = None
    consumer._n_acked = 0
    ack = _wrap_ack(Consumer.ack)

    class Unacked(list):
        def discard(self, item: object) -> None:
            if item in self:
                self.remove(item)

    consumer._unacked_messages = Unacked()

    def message(offset: int, generation: int) -> SimpleNamespace:
        return SimpleNamespace(tp=TP0, topic="news", offset=offset, acked=False, generation_id=generation)

    old = message(0, generation=1)
    assert ack(consumer, old) is False and old.acked
    active["flow"] = False
    during_rebalance = message(1, generation=2)
    assert ack(consumer, during_rebalance) is False and during_rebalance.acked
    assert consumer._acked[TP0] == []
    active["flow"] = True
    assert ack(consumer, message(2, generation=2)) is True
    assert consumer._acked[TP0] == [2]
    consumer.app.should_stop = True  # a stopping worker cancels its agents mid-batch
    assert ack(consumer, message(3, generation=2)) is False
    assert consumer._acked[TP0] == [2]


def test_a_batch_cut_short_leaves_its_events_unacked() -> None:
    """faust's take_events acks in a finally; a failed or cancelled batch must not be committed."""
    from streams.commits import acked_only_on_success

    events = [SimpleNamespace(message=SimpleNamespace(acked=False)) for _ in range(3)]
    with pytest.raises(RuntimeError):
        with acked_only_on_success(events):
            raise RuntimeError("producer gone")
    assert all(e.message.acked for e in events)  # faust's later ack() sees "already acked" and records nothing
    fine = [SimpleNamespace(message=SimpleNamespace(acked=False))]
    with acked_only_on_success(fine):
        pass
    assert not fine[0].message.acked  # a batch that succeeds is acked by faust as usual


def test_the_fetch_loop_never_sees_a_stale_read_offset() -> None:
    """With a known "last read" offset faust drops re-read messages and folds skipped ones in as acked."""

    from streams.app import create_app
    from streams.settings import Settings

    app = create_app(Settings(broker="kafka://127.0.0.1:1"))
    read_offsets = app.consumer._read_offset
    read_offsets[TP0] = 57  # what faust writes after handing over a message of an old fetch
    assert read_offsets[TP0] is None


def test_a_seek_reads_a_partition_without_a_commit_again_from_its_log_start() -> None:
    """aiokafka's seek_to_committed skips partitions with no commit; their forgotten acks must come back."""
    import asyncio

    from streams.commits import _first_offsets, _wrap_perform_seek

    committed_tp, fresh_tp = TP("news", 0), TP("news", 1)
    sought: list[tuple[TP, int]] = []

    async def original(consumer: object) -> None:  # faust's perform_seek: only committed partitions move
        sought.append((committed_tp, 40))

    async def earliest_offsets(*tps: TP) -> dict[TP, int]:
        return {tp: 7 for tp in tps}

    async def seek(tp: TP, offset: int) -> None:
        sought.append((tp, offset))

    consumer = SimpleNamespace(
        _acked={fresh_tp: [7, 8, 9]}, _acked_index={fresh_tp: {7, 8, 9}}, _gap={},
        _committed_offset={committed_tp: 40, fresh_tp: None},
        assignment=lambda: {committed_tp, fresh_tp}, _is_changelog_tp=lambda tp: False,
        earliest_offsets=earliest_offsets, seek=seek,
    )
    asyncio.run(_wrap_perform_seek(original)(consumer))
    assert sought == [(committed_tp, 40), (fresh_tp, 7)]
    assert fresh_tp not in consumer._acked  # the acks of the old reading are gone...
    assert _first_offsets(consumer)[fresh_tp] == 7  # ...and the new reading starts at the log start


def test_a_reading_that_starts_past_the_committed_offset_seeks_back_once_per_gap() -> None:
    """faust can drop the head of a partition during a rebalance (fetched before the partition is
    resumed); the reading then starts past the commit, and without a seek the head never comes again."""
    from streams.commits import MAX_GAP_SEEKS, FirstOffsetSensor, _first_offsets

    consumer = fake_consumer(6, [])
    sought: list[tuple[TP, int]] = []
    consumer._thread = SimpleNamespace(seek=lambda tp, offset: sought.append((tp, offset)))
    consumer._is_changelog_tp = lambda tp: False
    consumer.app = SimpleNamespace(should_stop=False, flow_control=SimpleNamespace(is_active=lambda: True), consumer_generation_id=2)
    consumer.app.consumer = consumer
    sensor = FirstOffsetSensor()
    sensor.app = consumer.app

    def deliver(offset: int) -> None:
        sensor.on_message_in(TP0, offset, SimpleNamespace(generation_id=2))

    deliver(7)  # offset 6 was dropped
    assert sought == [(TP0, 6)] and TP0 not in _first_offsets(consumer)
    deliver(8)  # fetched before the seek took effect: no second seek, not the reading's start
    assert sought == [(TP0, 6)] and TP0 not in _first_offsets(consumer)
    deliver(6)  # the seek brought it back: the reading starts at the commit
    assert _first_offsets(consumer)[TP0] == 6 and len(sought) == 1
    deliver(7)
    assert len(sought) == 1
    _first_offsets(consumer).clear()
    for _ in range(MAX_GAP_SEEKS + 3):  # a partition that keeps dropping its head: bounded
        deliver(9)
        deliver(6 if len(sought) < MAX_GAP_SEEKS else 9)  # each re-read arrives, then the head is dropped again
        _first_offsets(consumer).clear()
    assert len(sought) == MAX_GAP_SEEKS
