"""`wirewatch ingest FILE.jsonl`: produce news items with kafka-python.

Each line is validated with the same parser the pipeline uses; a bad line is
reported with its line number and skipped, and the other lines are sent.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from kafka import KafkaProducer

from streams.records import InvalidMessage, NewsItem
from streams.topics import TopicNames


@dataclass
class IngestReport:
    sent: int = 0
    rejected: int = 0


def make_producer(bootstrap: list[str]) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=5,
        retries=5,
        max_request_size=2_000_000,
        client_id="wirewatch-ingest",
    )


def ingest_file(path: Path, bootstrap: list[str], names: TopicNames = TopicNames(), err: TextIO = sys.stderr) -> IngestReport:
    report = IngestReport()
    producer = make_producer(bootstrap)
    futures = []
    try:
        with open(path, "rb") as handle:
            for number, raw in enumerate(handle, 1):
                if not raw.strip():
                    continue
                try:
                    item = NewsItem.from_bytes(raw.strip())
                except InvalidMessage as exc:
                    report.rejected += 1
                    print(f"{path}:{number}: {exc}", file=err)
                    continue
                futures.append(producer.send(names.news, key=item.id.encode(), value=item.to_bytes()))
        producer.flush()
        for future in futures:
            future.get(timeout=30)
            report.sent += 1
    finally:
        producer.close()
    return report


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise SystemExit(f"{path}:{number}: not JSON ({exc.msg})") from None
    return rows
