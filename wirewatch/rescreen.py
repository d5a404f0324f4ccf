"""`wirewatch rescreen --since 24h`: re-match recent items after a watchlist change.

Reads `news.embedded` (the vectors are already there, so no item is embedded
again), matches with the watchlists now on disk, and produces alerts only for
(item, watchlist) pairs that have no alert on the alerts topic yet. Alert ids
are deterministic, so the Slack ledger would also refuse a repeat; checking
the topic first keeps downstream consumers from seeing one either.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable, Iterator

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from agents.logic.alerting import alert_headers, decision_to_alert
from agents.logic.matcher import Encode, Matcher
from agents.logic.watchlists import WatchlistErrors, load_watchlist_dir
from streams.records import EmbeddedItem, InvalidMessage
from streams.settings import Settings

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_IDLE_MS = 1500  # a partition with nothing new for this long is read to its end


def parse_since(text: str) -> timedelta:
    """'90m', '24h', '7d' -> timedelta; anything else is a clear error."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"--since {text!r}: expected a number and a unit s, m, h or d (e.g. 24h)")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


@dataclass
class RescreenReport:
    items_read: int = 0
    items_in_window: int = 0
    skipped_other_model: int = 0
    unreadable: int = 0
    matches: int = 0
    already_alerted: int = 0
    new_alerts: list[str] = field(default_factory=list)
    exemplar_sentences_encoded: int = 0
    item_sentences_encoded: int = 0  # always 0: the point of rescreening from news.embedded

    def as_dict(self) -> dict[str, int]:
        return {
            "items_read": self.items_read,
            "items_in_window": self.items_in_window,
            "skipped_other_model": self.skipped_other_model,
            "unreadable": self.unreadable,
            "matches": self.matches,
            "already_alerted": self.already_alerted,
            "new_alerts": len(self.new_alerts),
            "exemplar_sentences_encoded": self.exemplar_sentences_encoded,
            "item_sentences_encoded": self.item_sentences_encoded,
        }


def _read_all(
    bootstrap: list[str], topic: str, start_ms: int | None, stop_ms: int | None = None
) -> Iterator[tuple[int, bytes | None, bytes | None]]:
    """(timestamp_ms, key, value) of every record, from `start_ms` on when the broker can seek by time.

    A partition is done at its first record newer than `stop_ms` (the live worker,
    already on the new watchlists, handles those) or when it stays idle; we do not
    trust end offsets, which Tansu under-reports.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=_IDLE_MS, max_partition_fetch_bytes=8 << 20
    )
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        if start_ms is not None:
            try:
                found = consumer.offsets_for_times({tp: start_ms for tp in tps})
            except Exception:  # noqa: BLE001 - a broker without time index: read from the start and filter
                found = {}
            for tp, offset in found.items():
                if offset is not None:
                    consumer.seek(tp, offset.offset)
        done: set[TopicPartition] = set()
        for record in consumer:
            if stop_ms is not None and record.timestamp > stop_ms:
                tp = TopicPartition(record.topic, record.partition)
                done.add(tp)
                consumer.pause(tp)
                if len(done) == len(tps):
                    break
                continue
            yield record.timestamp, record.key, record.value
    finally:
        consumer.close()


def rescreen(
    settings: Settings,
    since: timedelta,
    encode: Encode,
    model_name: str,
    now: Callable[[], float] = time.time,
) -> RescreenReport:
    report = RescreenReport()

    def counting_encode(texts):
        report.exemplar_sentences_encoded += len(texts)
        return encode(texts)

    matcher = Matcher.build(load_watchlist_dir(settings.watchlists_dir), counting_encode)
    names = settings.topic_names
    servers = settings.bootstrap_servers
    started_ms = int(now() * 1000)
    cutoff_ms = started_ms - int(since.total_seconds() * 1000)
    existing = {key.decode("utf-8", "replace") for _, key, _ in _read_all(servers, names.alerts, None) if key}
    producer = KafkaProducer(bootstrap_servers=servers, acks="all", max_request_size=8 << 20)
    try:
        futures = []
        for timestamp, _, value in _read_all(servers, names.embedded, cutoff_ms, started_ms):
            report.items_read += 1
            if timestamp < cutoff_ms:
                continue
            report.items_in_window += 1
            try:
                embedded = EmbeddedItem.from_bytes(value)
            except InvalidMessage:
                report.unreadable += 1
                continue
            if embedded.model != model_name:
                report.skipped_other_model += 1  # vectors from another model are not comparable
                continue
            for decision in matcher.matches(embedded.item.title, embedded.item.body, embedded.chunks, embedded.vectors):
                report.matches += 1
                alert = decision_to_alert(embedded, decision)
                if alert.alert_id in existing:
                    report.already_alerted += 1
                    continue
                existing.add(alert.alert_id)
                report.new_alerts.append(alert.alert_id)
                futures.append(
                    producer.send(
                        names.alerts, key=alert.alert_id.encode(), value=alert.to_bytes(), headers=alert_headers(alert, "rescreen")
                    )
                )
        for future in futures:
            future.get(timeout=30)
    finally:
        producer.close()
    return report


def cmd_rescreen(since_text: str, as_json: bool) -> int:
    import json

    try:
        since = parse_since(since_text)
    except ValueError as exc:
        print(f"wirewatch rescreen: {exc}", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    if not settings.broker:
        print("WIREWATCH_BROKER is not set: rescreen reads news.embedded from the running pipeline's broker", file=sys.stderr)
        return 2
    from agents.logic.embedder import Embedder

    embedder = Embedder()
    try:
        report = rescreen(settings, since, embedder.encode, embedder.model_name)
    except WatchlistErrors as exc:
        print("wirewatch rescreen: invalid watchlists:\n" + "\n".join(map(str, exc.errors)), file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(report.as_dict()))
    else:
        d = report.as_dict()
        print(
            f"rescreened {d['items_in_window']} items from {settings.topic_names.embedded} (last {since_text}); "
            f"{d['matches']} matches: {d['already_alerted']} already alerted, {d['new_alerts']} new alerts produced to "
            f"{settings.topic_names.alerts}; item sentences embedded: 0; exemplar sentences encoded: {d['exemplar_sentences_encoded']}"
        )
        if d["skipped_other_model"] or d["unreadable"]:
            print(f"skipped {d['skipped_other_model']} items embedded by another model, {d['unreadable']} unreadable")
    return 0
