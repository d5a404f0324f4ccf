"""Process-level helpers for end-to-end tests: real broker, real worker, real HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from slack_sdk import WebClient

from streams.broker import terminate
from streams.kafka_security import KafkaSecurity
from streams.topics import TopicNames
from wirewatch.local_stack import LocalStack, spawn_cli

REPO = Path(__file__).resolve().parent.parent
# The bundled sample feed: the seed story (three watchlists) and five negatives.
SAMPLE = [json.loads(line) for line in (REPO / "config" / "sample-news.jsonl").read_text().splitlines() if line.strip()]
T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout_s: float, what: str, interval_s: float = 0.5) -> T:
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}; last value: {last!r}")


def spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    return spawn_cli(args, env, log_path, cwd=REPO)


def stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if sig == signal.SIGKILL and proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)
        return
    terminate(proc, grace_s=15)


@dataclass
class Pipeline:
    """One isolated pipeline (own topics, group, sink, worker) on the shared test broker."""

    broker_url: str
    workdir: Path
    watchlists: Path = REPO / "config" / "watchlists"
    partitions: int = 4
    token: str = "xoxb-test-token"
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}.")
    sink_port: int = 0
    worker: subprocess.Popen[bytes] | None = None
    sink: subprocess.Popen[bytes] | None = None
    worker_starts: int = 0
    http_port: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)
    stack: LocalStack | None = None
    security: KafkaSecurity = field(default_factory=KafkaSecurity)  # this test process's own Kafka clients

    @property
    def names(self) -> TopicNames:
        return TopicNames(self.prefix)

    @property
    def bootstrap(self) -> list[str]:
        return [self.broker_url.split("://", 1)[-1]]

    @property
    def slack_url(self) -> str:
        return f"http://127.0.0.1:{self.sink_port}/api/"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "WIREWATCH_BROKER": self.broker_url,
                "WIREWATCH_TOPIC_PREFIX": self.prefix,
                "WIREWATCH_APP_ID": "ww-" + self.prefix.rstrip("."),
                "WIREWATCH_PARTITIONS": str(self.partitions),
                "WIREWATCH_WATCHLISTS": str(self.watchlists),
                "WIREWATCH_DATA_DIR": str(self.workdir / "data"),
                "WIREWATCH_SESSION_TIMEOUT": "3",
                "WIREWATCH_HEARTBEAT_INTERVAL": "1",
                "SLACK_BOT_TOKEN": self.token,
                "SLACK_API_URL": self.slack_url,
                "HF_HUB_OFFLINE": "1",
                # The sample feed is real news from 2025: with the default 48 h cutoff it would all be
                # stale. Five years keeps it fresh, and the 2020-dated item of the staleness test stale.
                "WIREWATCH_STALE_AFTER": str(5 * 365 * 86400),
            }
        )
        env.update(self.extra_env)
        return env

    def start(self) -> "Pipeline":
        self.stack = LocalStack(self.env(), logdir=self.workdir, cwd=REPO)
        self.stack.ensure_broker(self.partitions, self.names)
        self.sink_port = self.stack.start_sink(self.token)
        self.sink = self.stack.processes[-1]
        self.start_worker()
        return self

    def start_worker(self) -> None:
        self.worker_starts += 1
        assert self.stack is not None, "start() first"
        self.stack.env = self.env()  # extra_env may have changed since the last start
        self.worker, self.http_port = self.stack.start_worker(f"worker-{self.worker_starts}")

    def worker_log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.workdir.glob("worker-*.log")))

    def wait_worker_ready(self, timeout_s: float = 90) -> None:
        log_path = self.workdir / f"worker-{self.worker_starts}.log"
        wait_for(
            lambda: (self.worker is not None and self.worker.poll() is None and "Worker ready" in log_path.read_text(errors="replace"))
            or self._worker_died(),
            timeout_s,
            "the worker to be ready",
        )

    def _worker_died(self) -> bool:
        if self.worker is not None and self.worker.poll() is not None:
            raise AssertionError(f"worker exited with {self.worker.returncode}:\n{self.worker_log()[-4000:]}")
        return False

    def kill_worker(self) -> None:
        stop(self.worker, signal.SIGKILL)

    def close(self) -> None:
        stop(self.worker)
        stop(self.sink)

    # --- Kafka ---------------------------------------------------------
    def produce(self, topic: str, messages: list[tuple[bytes | None, bytes | None]]) -> None:
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", max_request_size=30_000_000, linger_ms=5,
                                 **self.security.client_options())
        try:
            for key, value in messages:
                producer.send(topic, key=key, value=value).get(timeout=30)
        finally:
            producer.close()

    @contextmanager
    def producer(self) -> Iterator[Callable[[str, bytes, bytes], None]]:
        """One producer for a whole feed; each send waits for the broker's ack, so a failure is seen."""
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5, retries=5, bootstrap_timeout_ms=30_000,
                                 **self.security.client_options())

        def send(topic: str, key: bytes, value: bytes) -> None:
            producer.send(topic, key=key, value=value).get(timeout=30)

        try:
            yield send
        finally:
            producer.close()

    def produce_items(self, items: list[dict[str, Any]]) -> None:
        self.produce(self.names.news, [(str(i["id"]).encode(), json.dumps(i).encode()) for i in items])

    def read_topic(self, topic: str, timeout_s: float = 3.0) -> list[Any]:
        """Every record on the topic when the call started, read from the start with kafka-python.

        A partition is done when idle for `timeout_s` or at its first record newer than
        the call, so a topic that is still being written to does not keep us reading.
        """
        started_ms = int(time.time() * 1000) + 200
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, consumer_timeout_ms=int(timeout_s * 1000),
                                 **self.security.client_options())
        try:
            tps = [TopicPartition(topic, p) for p in range(self.partitions)]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            records, done = [], set()
            for record in consumer:
                if record.timestamp > started_ms:
                    done.add(record.partition)
                    consumer.pause(TopicPartition(topic, record.partition))
                    if len(done) == len(tps):
                        break
                    continue
                records.append(record)
            return records
        finally:
            consumer.close()

    # --- Slack ---------------------------------------------------------
    def slack(self) -> WebClient:
        return WebClient(token=self.token, base_url=self.slack_url)

    def slack_messages(self) -> dict[str, list[dict[str, Any]]]:
        """All top-level messages per channel name, read back through conversations.history."""
        client = self.slack()
        out: dict[str, list[dict[str, Any]]] = {}
        for channel in client.conversations_list()["channels"]:
            history = client.conversations_history(channel=channel["id"], limit=1000, include_all_metadata=True)
            out[channel["name"]] = list(history["messages"])
        return out

    def slack_messages_and_replies(self) -> dict[str, list[dict[str, Any]]]:
        """Like slack_messages, plus the thread replies (near-duplicate stories are posted as replies)."""
        client = self.slack()
        out: dict[str, list[dict[str, Any]]] = {}
        for channel in client.conversations_list()["channels"]:
            history = client.conversations_history(channel=channel["id"], limit=1000, include_all_metadata=True)["messages"]
            messages = list(history)
            for message in history:
                if message.get("reply_count"):
                    replies = client.conversations_replies(channel=channel["id"], ts=message["ts"], include_all_metadata=True)
                    messages.extend(r for r in replies["messages"] if r["ts"] != message["ts"])
            out[channel["name"]] = messages
        return out

    def set_faults(self, **faults: Any) -> None:
        import urllib.request

        request = urllib.request.Request(
            f"http://127.0.0.1:{self.sink_port}/_sink/faults", data=json.dumps(faults).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.load(response)["ok"]


    def sink_stats(self) -> dict[str, Any]:
        import urllib.request

        request = urllib.request.Request(f"http://127.0.0.1:{self.sink_port}/_sink/stats", headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)


def alert_ids_in_slack(messages: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Alert ids of the posts that carry one (the ops channel's dead-man notices carry none)."""
    ids = (((m.get("metadata") or {}).get("event_payload") or {}).get("alert_id") for msgs in messages.values() for m in msgs)
    return [i for i in ids if i]
