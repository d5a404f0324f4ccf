"""`wirewatch ingest FILE.jsonl`: produce news items with kafka-python.

The whole file is validated first, with the same parser the pipeline uses: each bad line is
reported as FILE:LINE: reason and skipped. Only then does it connect and send the good lines; a
broker that cannot be reached ends it with one line naming the address and the time waited.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from kafka import KafkaProducer
from kafka.errors import KafkaError

from streams.kafka_security import BrokerUnreachable, KafkaSecurity, check_access
from streams.records import InvalidMessage, NewsItem
from streams.topics import TopicNames


CONNECT_TIMEOUT_MS = 10_000

@dataclass
class IngestReport:
    sent: int = 0
    rejected: int = 0


def make_producer(bootstrap: list[str], security: KafkaSecurity = KafkaSecurity()) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=5,
        retries=5,
        max_request_size=2_000_000,
        client_id="wirewatch-ingest",
        max_block_ms=CONNECT_TIMEOUT_MS,
        bootstrap_timeout_ms=CONNECT_TIMEOUT_MS,
        **security.client_options(),
    )


def read_items(path: Path, err: TextIO = sys.stderr) -> tuple[list[NewsItem], int]:
    """Every valid item of the file, and how many lines were refused (each reported as FILE:LINE)."""
    items, rejected = [], 0
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            try:
                items.append(NewsItem.from_bytes(raw.strip()))
            except InvalidMessage as exc:
                rejected += 1
                print(f"{path}:{number}: {exc}", file=err)
    return items, rejected


def ingest_file(path: Path, bootstrap: list[str], names: TopicNames = TopicNames(), err: TextIO = sys.stderr,
                security: KafkaSecurity = KafkaSecurity()) -> IngestReport:
    """Raises BrokerUnreachable, or KafkaAccessDenied for a refused login or an untrusted certificate."""
    items, rejected = read_items(path, err)
    report = IngestReport(rejected=rejected)
    started = time.monotonic()
    check_access(bootstrap, security, timeout_s=CONNECT_TIMEOUT_MS / 1000)
    try:
        producer = make_producer(bootstrap, security)
    except KafkaError as exc:
        raise BrokerUnreachable(f"cannot reach the broker at {','.join(bootstrap)} (waited {time.monotonic() - started:.0f} s: "
                                f"{type(exc).__name__})") from None
    try:
        futures = [producer.send(names.news, key=item.id.encode(), value=item.to_bytes()) for item in items]
        producer.flush()
        for future in futures:
            future.get(timeout=30)
            report.sent += 1
    except KafkaError as exc:
        raise BrokerUnreachable(f"the broker at {','.join(bootstrap)} stopped answering after {report.sent} items "
                                f"(waited {time.monotonic() - started:.0f} s: {type(exc).__name__})") from None
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
