"""`wirewatch rescreen --since 24h`: re-match recent items after a watchlist change.

Reads `news.embedded` and screens each item with the watchlists now on disk (agents.logic.screening).
An item that was a presearch candidate carries its vectors, so it is matched without the model. An
item the old presearch dropped carries none: it goes through the new lists' presearch, and only if
it passes now is it embedded, on demand. Alerts are produced only for (item, watchlist) pairs that
have no alert on the alerts topic yet. Alert ids are deterministic, so the Slack ledger would also
refuse a repeat; checking the topic first keeps downstream consumers from seeing one either.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from agents.logic.alerting import alert_headers, decision_to_alert
from agents.logic.gloss import Glossary
from agents.logic.matcher import Decision, Encode
from agents.logic.screening import Screener
from agents.logic.watchlists import WatchlistErrors, load_watchlist_dir
from streams.kafka_security import KafkaSecurity
from streams.records import EmbeddedItem, InvalidMessage
from streams.settings import Settings
from wirewatch.screening_setup import build_screener

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
    screened_out_before: int = 0  # items the old presearch dropped (no vectors on news.embedded)
    passed_presearch_now: int = 0  # of those, the ones the new lists' presearch passes: embedded on demand
    item_sentences_encoded: int = 0

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
            "screened_out_before": self.screened_out_before,
            "passed_presearch_now": self.passed_presearch_now,
            "item_sentences_encoded": self.item_sentences_encoded,
        }


def _read_all(
    bootstrap: list[str], topic: str, start_ms: int | None, stop_ms: int | None = None, security: KafkaSecurity = KafkaSecurity()
) -> Iterator[tuple[int, bytes | None, bytes | None]]:
    """(timestamp_ms, key, value) of every record, from `start_ms` on when the broker can seek by time.

    A partition is done at its first record newer than `stop_ms` (the live worker,
    already on the new watchlists, handles those) or when it stays idle; we do not
    trust end offsets, which Tansu under-reports.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=_IDLE_MS, max_partition_fetch_bytes=8 << 20,
        **security.client_options(),
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


ON_DEMAND_BATCH = 64


class _AlertWriter:
    """Produces each new (item, watchlist) alert once, with the live path's staleness rule."""

    def __init__(self, settings: Settings, report: RescreenReport, existing: set[str]):
        self.settings = settings
        self.report = report
        self.existing = existing
        self.producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all", max_request_size=8 << 20,
                                      **settings.kafka_security.client_options())
        self.futures: list = []

    def add(self, embedded: EmbeddedItem, decisions: list[Decision]) -> None:
        now = datetime.now(timezone.utc)
        for decision in decisions:
            if not decision.matched:
                continue
            self.report.matches += 1
            alert = decision_to_alert(embedded, decision, self.settings.stale_after_s, now)
            if alert.alert_id in self.existing:
                self.report.already_alerted += 1
                continue
            self.existing.add(alert.alert_id)
            self.report.new_alerts.append(alert.alert_id)
            self.futures.append(
                self.producer.send(
                    self.settings.topic_names.alerts, key=alert.alert_id.encode(), value=alert.to_bytes(), headers=alert_headers(alert, "rescreen")
                )
            )

    def close(self) -> None:
        try:
            for future in self.futures:
                future.get(timeout=30)
        finally:
            self.producer.close()


def rescreen(
    settings: Settings,
    since: timedelta,
    encode: Encode,
    model_name: str,
    now: Callable[[], float] = time.time,
    glossary: Glossary | None = None,
) -> RescreenReport:
    report = RescreenReport()

    def exemplar_encode(texts):
        report.exemplar_sentences_encoded += len(texts)
        return encode(texts)

    def item_encode(texts):
        report.item_sentences_encoded += len(texts)
        return encode(texts)

    screener = build_screener(settings, load_watchlist_dir(settings.watchlists_dir), exemplar_encode, glossary)
    names = settings.topic_names
    servers = settings.bootstrap_servers
    started_ms = int(now() * 1000)
    cutoff_ms = started_ms - int(since.total_seconds() * 1000)
    existing = {key.decode("utf-8", "replace") for _, key, _ in _read_all(servers, names.alerts, None, security=settings.kafka_security) if key}
    writer = _AlertWriter(settings, report, existing)
    dropped: list[EmbeddedItem] = []
    try:
        for timestamp, _, value in _read_all(servers, names.embedded, cutoff_ms, started_ms, settings.kafka_security):
            report.items_read += 1
            if timestamp < cutoff_ms:
                continue
            report.items_in_window += 1
            try:
                embedded = EmbeddedItem.from_bytes(value)
            except InvalidMessage:
                report.unreadable += 1
                continue
            if not embedded.candidate:
                report.screened_out_before += 1
                dropped.append(embedded)
                if len(dropped) >= ON_DEMAND_BATCH:
                    _screen_dropped(screener, dropped, item_encode, model_name, writer)
                    dropped = []
            elif embedded.model != model_name:
                report.skipped_other_model += 1  # vectors from another model are not comparable
            else:
                writer.add(embedded, screener.decide_embedded(embedded.item.title, embedded.item.body, embedded.chunks, embedded.vectors))
        _screen_dropped(screener, dropped, item_encode, model_name, writer)
    finally:
        writer.close()
    return report


def _screen_dropped(screener: Screener, dropped: list[EmbeddedItem], encode: Encode, model_name: str, writer: _AlertWriter) -> None:
    """The new lists' presearch on items the old one dropped; the ones that pass are embedded now."""
    if not dropped:
        return
    prepared = [screener.prepare(e.item.title, e.item.body) for e in dropped]
    passing = [k for k, passed in enumerate(screener.presearch(prepared)) if passed]
    writer.report.passed_presearch_now += len(passing)
    if not passing:
        return
    vectors = encode([text for k in passing for text in prepared[k].texts])
    offset = 0
    for k in passing:
        rows = vectors[offset : offset + len(prepared[k].chunks)]
        offset += len(prepared[k].chunks)
        embedded = replace(dropped[k], model=model_name, chunks=prepared[k].chunks, vectors=rows)
        writer.add(embedded, screener.decide(prepared[k], rows))


def cmd_rescreen(settings: Settings, since_text: str, as_json: bool) -> int:
    import json

    try:
        since = parse_since(since_text)
    except ValueError as exc:
        print(f"wirewatch rescreen: {exc}", file=sys.stderr)
        return 2
    if not settings.broker:
        print("WIREWATCH_BROKER is not set: rescreen reads news.embedded from the running pipeline's broker", file=sys.stderr)
        return 2
    from wirewatch.screening_setup import load_glossary, make_embedder

    embedder = make_embedder(settings)
    try:
        report = rescreen(settings, since, embedder.encode, embedder.model_name, glossary=load_glossary(settings))
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
            f"{settings.topic_names.alerts}; {d['screened_out_before']} had been dropped by the presearch, {d['passed_presearch_now']} "
            f"pass it now and were embedded ({d['item_sentences_encoded']} sentences); exemplar sentences encoded: {d['exemplar_sentences_encoded']}"
        )
        if d["skipped_other_model"] or d["unreadable"]:
            print(f"skipped {d['skipped_other_model']} items embedded by another model, {d['unreadable']} unreadable")
    return 0
