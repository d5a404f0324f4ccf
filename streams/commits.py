"""Commit an offset only when every message before it was really processed.

faust-streaming 0.15.3 can commit past a message that was never processed;
a crash after that commit loses the message for good. Three flaws combine:

1. `Consumer._new_offset` checks the head of the acked list with
   `min(acked) - committed > 1`, but `committed` is already the *next*
   offset to read, so one missing message right at the head is jumped over.
   With nothing committed yet (None, or 0, which faust stores as None) the
   head is not checked at all. Out-of-order acks are normal in wirewatch:
   the notify agent acks an alert once all its channels are done, and a
   digest holds alerts back for minutes.
2. During a rebalance, streams drop the messages they still hold ("skipped")
   and *ack* them, although nothing processed them. These acks arrive after
   the revoked partitions' bookkeeping was reset (committed = None), so by
   flaw 1 a commit can cover them. This is the rebalance loss of faust
   issues #216/#221/#606.
3. Acks recorded before a partition is re-read from its committed offset
   stay in the acked list and can be stitched to new acks.

The repair keeps faust's design (acked offsets per partition, commit the
contiguous run) and fixes the rules:
- the run must start exactly at the committed offset, or, when nothing is
  committed, at the first offset delivered since the last seek;
- acks of messages that were skipped, fetched in an older consumer
  generation, or acked while flow is suspended are not recorded: the
  partition is re-read from its committed offset, so those messages come
  back and are processed then;
- every seek to the committed offsets forgets the acks recorded before it,
  and a partition with no commit is sought to its log start at the same
  moment (aiokafka leaves it where it was), so what those acks covered is
  delivered again;
- if the first message a new reading delivers lies past the committed
  offset, the messages between were fetched and dropped by faust during the
  rebalance (fetched for a partition not yet resumed, or tagged with the
  generation that just ended); they would never come again and the commit
  would stall there, so the partition is sought back to its committed offset
  (seen in the chaos rebalance runs: an alert posted late, out of order, or
  only after the next rebalance).
A dropped ack costs at most a repeat (alerts are keyed by alert_id, and the
Slack ledger skips what was posted); a wrong commit costs a lost item.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Optional, Sequence

import faust
from faust.transport.consumer import Consumer
from faust.types import TP
from faust.types.tuples import ack_lock
from mode.utils.futures import notify

_MARK = "_wirewatch_commit_fix"
log = logging.getLogger(__name__)
#: WIREWATCH_COMMIT_TRACE=1 logs every commit decision and every ack left out (diagnosis only).
TRACE = os.environ.get("WIREWATCH_COMMIT_TRACE", "0") == "1"


def next_commit_offset(base: Optional[int], acked_sorted: Iterable[int]) -> Optional[int]:
    """The offset to commit: one past the run of acked offsets starting exactly at `base`.

    `base` is the next offset that must be processed (the committed offset,
    or the first delivered offset when nothing was committed). Offsets below
    `base` are already covered and ignored. None when `base` is unknown or
    not acked yet.
    """
    if base is None:
        return None
    expected = base
    for offset in acked_sorted:
        if offset < expected:
            continue
        if offset != expected:
            break
        expected += 1
    return expected if expected > base else None


def _first_offsets(consumer: Consumer) -> dict[TP, int]:
    """Per partition: the lowest offset delivered since the last seek (the base when nothing is committed)."""
    found = consumer.__dict__.get("_wirewatch_first_offsets")
    if found is None:
        found = consumer.__dict__["_wirewatch_first_offsets"] = {}
    return found


def commit_base(consumer: Consumer, tp: TP) -> Optional[int]:
    """The next offset of `tp` that must be processed: its committed offset, else its log start."""
    committed = consumer._committed_offset.get(tp)
    return committed if committed is not None else _first_offsets(consumer).get(tp)


def _fold_gaps(consumer: Consumer, tp: TP, acked: list[int]) -> None:
    """Offsets faust knows the broker will never deliver (compaction, markers) count as acked."""
    gaps = consumer._gap.get(tp)
    if not gaps or not acked:
        return
    top = max(acked) + 1
    for interval in sorted(gaps.overlap(0, top), key=lambda iv: iv.begin):
        acked.extend(range(interval.begin, interval.end))
    gaps.chop(0, top)


def _new_offset(self: Consumer, tp: TP) -> Optional[int]:
    acked = self._acked[tp]
    if not acked:
        return None
    _fold_gaps(self, tp, acked)
    acked.sort()
    committed = self._committed_offset[tp]
    base = commit_base(self, tp)
    offset = next_commit_offset(base, acked)
    if TRACE:
        log.info("commit-trace %s[%d] committed=%s first=%s acked=%s.. -> %s", tp.topic, tp.partition, committed,
                 _first_offsets(self).get(tp), acked[:5], offset)
    if offset is None:
        return None
    done = [o for o in acked if o < offset]
    acked[:] = [o for o in acked if o >= offset]
    self._acked_index[tp].difference_update(done)
    return offset


def of_current_reading(app: Any, message: Any) -> bool:
    """Is this message part of what the worker reads now? Not if it was fetched before the last
    rebalance, if the flow is suspended for one, or if the worker is stopping (its agents are
    being cancelled mid-batch). Such messages are read again from the committed offset."""
    return (
        not app.should_stop
        and app.flow_control.is_active()
        and getattr(message, "generation_id", None) == app.consumer_generation_id
    )


def _should_record_ack(consumer: Consumer, message: Any) -> bool:
    return of_current_reading(consumer.app, message)


@contextmanager
def acked_only_on_success(events: Sequence[Any]) -> Iterator[None]:
    """Wrap the body of a `take_events` batch: if it raises (or is cancelled), its events stay unacked.

    faust's `take_events` acks the batch in a `finally`, so a batch cut short by an
    exception or by the cancellation of a stopping worker would be committed although
    its output was never produced. Marking the messages as acked-without-recording makes
    that `finally` a no-op; the offsets are read again after a restart or rebalance.
    """
    try:
        yield
    except BaseException:
        with ack_lock:
            for event in events:
                event.message.acked = True
        raise


def _wrap_ack(original: Any) -> Any:
    def ack(self: Consumer, message: Any) -> bool:
        if _should_record_ack(self, message):
            return original(self, message)
        if TRACE:
            log.info("commit-trace ack left out %s[%d]@%d gen=%s now=%s flow=%s", message.tp.topic, message.tp.partition,
                     message.offset, getattr(message, "generation_id", None), self.app.consumer_generation_id,
                     self.app.flow_control.is_active())
        with ack_lock:  # same lock as faust's ack: `acked` is test-and-set
            if not message.acked:
                message.acked = True
                self._unacked_messages.discard(message)
                notify(self._waiting_for_ack)
        return False

    return ack


def _wrap_perform_seek(original: Any) -> Any:
    async def perform_seek(self: Consumer) -> None:
        await original(self)
        # Everything after the committed offsets will be delivered again: acks recorded
        # before the seek describe the old reading and must not be stitched to new ones.
        for tp in list(self._acked):
            if not self._is_changelog_tp(tp):
                self._acked.pop(tp, None)
                self._acked_index.pop(tp, None)
                self._gap.pop(tp, None)
        first = _first_offsets(self)
        first.clear()
        _gap_seeks_pending(self).clear()
        # Where nothing is committed, reading starts at the log start (auto_offset_reset=earliest):
        # ask the broker rather than trust the first message that happens to be delivered.
        uncommitted = [tp for tp in self.assignment() if not self._is_changelog_tp(tp) and self._committed_offset.get(tp) is None]
        if uncommitted:
            try:
                earliest = await self.earliest_offsets(*uncommitted)
            except Exception as exc:  # noqa: BLE001 - without a base, nothing is committed for them
                log.warning("could not read the log start of %d partitions: %s", len(uncommitted), exc)
                return
            for tp, offset in earliest.items():
                if offset is None:
                    continue
                # aiokafka's seek_to_committed leaves a partition without a commit where it was, so
                # what was delivered (or skipped) before this seek would never come again while its
                # acks were just forgotten: the commit would stall there, and a skipped message would
                # wait for the next restart. Read it again from the log start, like a committed one.
                await self.seek(tp, int(offset))
                first[tp] = int(offset)
                if TRACE:
                    log.info("commit-trace log start %s[%d] = %d (sought there)", tp.topic, tp.partition, offset)

    return perform_seek


def _wrap_revoked(original: Any) -> Any:
    async def on_partitions_revoked(self: Consumer, revoked: set[TP]) -> None:
        first = _first_offsets(self)
        pending = _gap_seeks_pending(self)
        for tp in revoked:
            first.pop(tp, None)
            pending.pop(tp, None)
        await original(self, revoked)

    return on_partitions_revoked


MAX_GAP_SEEKS = 5  # per partition and generation: a partition that keeps dropping its head is left to the next rebalance


def _gap_seeks_pending(consumer: Consumer) -> dict[TP, int]:
    """Partitions sought back over a gap, with the offset the re-read starts at; until it arrives,
    messages already fetched past the gap are not where the reading starts."""
    return consumer.__dict__.setdefault("_wirewatch_gap_pending", {})


def _seek_back_over_gap(consumer: Consumer, tp: TP, offset: int) -> bool:
    """The first message of this reading is past the committed offset: read the gap again."""
    pending = _gap_seeks_pending(consumer)
    if tp in pending:
        if offset > pending[tp]:
            return True  # fetched before our seek took effect: wait for the re-read
        del pending[tp]
        return False
    committed = consumer._committed_offset.get(tp)
    if committed is None or offset <= committed or consumer._is_changelog_tp(tp):
        return False
    seeks = consumer.__dict__.setdefault("_wirewatch_gap_seeks", {})
    key = (tp, consumer.app.consumer_generation_id)
    if seeks.get(key, 0) >= MAX_GAP_SEEKS:
        return False
    seeks[key] = seeks.get(key, 0) + 1
    log.warning("%s[%d]: this reading starts at %d, past the committed offset %d (faust dropped the messages between "
                "during the rebalance); reading them again", tp.topic, tp.partition, offset, committed)
    consumer._thread.seek(tp, committed)
    pending[tp] = committed
    return True


class FirstOffsetSensor(faust.Sensor):
    """Records the lowest offset delivered per partition since the last seek, and seeks back when a
    reading starts past the committed offset."""

    def on_message_in(self, tp: TP, offset: int, message: Any) -> None:
        consumer = self.app.consumer  # type: ignore[attr-defined]
        if not _should_record_ack(consumer, message):
            return  # a message of an earlier reading: not where this reading starts
        first = _first_offsets(consumer)
        known = first.get(tp)
        if known is None:
            try:
                if _seek_back_over_gap(consumer, tp, offset):
                    return  # the gap comes again, and with it this reading's real first offset
            except Exception as exc:  # noqa: BLE001 - a failed seek leaves the commit stalled, as before
                log.warning("could not seek %s[%d] back to its committed offset: %s", tp.topic, tp.partition, exc)
        if known is None or offset < known:
            first[tp] = offset
            if TRACE:
                log.info("commit-trace first %s[%d] = %d (was %s)", tp.topic, tp.partition, offset, known)


class _NoReadOffsets(dict):  # type: ignore[type-arg]
    """faust's per-partition "last offset read", as its fetch loop sees it: never known.

    The fetch loop drops any message below that offset and records the offsets it
    jumped over as gaps that count as acked. After a seek back to the committed
    offset the value can be stale (a message of the old fetch is handed over after
    the seek), and then re-read messages are dropped unprocessed and, worse, folded
    in as gaps and committed. aiokafka already discards records below its fetch
    position, so nothing is lost by turning this off. The cost: offsets that a
    broker never delivers (transaction markers, compacted records) are no longer
    skipped, so commits wait at such a hole; wirewatch's topics have neither.
    """

    def __getitem__(self, key: Any) -> None:
        return None


def _wrap_init(original: Any) -> Any:
    def __init__(self: Consumer, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._read_offset = _NoReadOffsets()

    return __init__


def install_commit_fix(app: faust.App) -> None:
    """Patch faust's Consumer (once per process) and register the sensor on `app`."""
    if not getattr(Consumer, _MARK, False):
        Consumer.__init__ = _wrap_init(Consumer.__init__)  # type: ignore[method-assign]
        Consumer._new_offset = _new_offset  # type: ignore[method-assign]
        Consumer.ack = _wrap_ack(Consumer.ack)  # type: ignore[method-assign]
        Consumer.perform_seek = _wrap_perform_seek(Consumer.perform_seek)  # type: ignore[method-assign]
        Consumer.on_partitions_revoked = _wrap_revoked(Consumer.on_partitions_revoked)  # type: ignore[method-assign]
        setattr(Consumer, _MARK, True)
    sensor = FirstOffsetSensor()
    sensor.app = app  # type: ignore[attr-defined]
    app.sensors.add(sensor)
