"""`wirewatch bench`: model ceiling, pipeline, naive loop and latency, measured in one run.

- ceiling: the embedder alone on the same items' chunks, same backend and batch size;
- pipeline: produce N items, time until the worker's metrics say all N were matched;
- naive: a kafka-python loop that parses, embeds and matches one message at a time;
- latency: p50/p99 news-produce -> alert-produce at half the measured pipeline rate.

Everything runs locally: an embedded broker (unless WIREWATCH_BROKER is set), a Slack
sink and worker processes, each on a fresh topic prefix.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from agents.logic.alerting import decision_to_alert
from agents.logic.chunking import chunk_item
from agents.logic.gloss import embedding_text
from agents.logic.matcher import Matcher
from agents.logic.watchlists import load_watchlist_dir
from streams.broker import EmbeddedBroker, ensure_topics, free_port, terminate, wait_for_port
from streams.records import EmbeddedItem, NewsItem
from streams.processes import spawn_python
from streams.settings import Settings

REPO = Path(__file__).resolve().parent.parent
BENCH_DATA = REPO / "config" / "bench" / "news-dev.jsonl"
PARTITIONS = 4


def bench_items(n: int, source: Path = BENCH_DATA) -> list[dict[str, Any]]:
    """N realistic items: the dev set, cycled, each copy with its own id and slightly varied text."""
    base = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    items = []
    for i in range(n):
        row = base[i % len(base)]
        copy = i // len(base)
        items.append(
            {
                "id": f"bench-{i:06d}",
                "title": row["title"] if copy == 0 else f"{row['title']} (update {copy})",
                "body": row.get("body", ""),
                "url": row.get("source_url", ""),
                "lang": row.get("lang", ""),
            }
        )
    return items


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --- ceiling and naive ---------------------------------------------------------------


def measure_ceiling(items: list[dict[str, Any]], embedder, glossary) -> float:
    news = [NewsItem.from_dict(i) for i in items]
    texts = [embedding_text(c) for item in news for c in chunk_item(item, glossary)]
    embedder.encode(texts[:64])  # warm-up
    started = time.perf_counter()
    embedder.encode(texts)
    return len(items) / (time.perf_counter() - started)


def measure_naive(servers: list[str], topic: str, out_topic: str, count: int, embedder, glossary, matcher: Matcher) -> float:
    """What a user might write in an afternoon: one message, one model call, one blocking send."""
    consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False, consumer_timeout_ms=10_000)
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    producer = KafkaProducer(bootstrap_servers=servers, acks="all")
    done = 0
    started = time.perf_counter()
    try:
        for record in consumer:
            item = NewsItem.from_bytes(record.value, 1_000_000)
            chunks = chunk_item(item, glossary)
            vectors = embedder.encode([embedding_text(c) for c in chunks])
            embedded = EmbeddedItem(item=item, model=embedder.model_name, chunks=chunks, vectors=vectors)
            for decision in matcher.matches(item.title, item.body, chunks, vectors):
                alert = decision_to_alert(embedded, decision)
                producer.send(out_topic, key=alert.alert_id.encode(), value=alert.to_bytes()).get(timeout=30)
            done += 1
            if done >= count:
                break
    finally:
        consumer.close()
        producer.close()
    return done / (time.perf_counter() - started)


# --- the real pipeline --------------------------------------------------------------


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    http_port: int

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=5) as response:
            text = response.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def counter(self, name: str) -> float:
        return self.metrics().get(name, 0.0)

    def rss_mb(self) -> float:
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0


def _produce(servers: list[str], topic: str, items: list[dict[str, Any]], rate: float | None = None) -> list[float]:
    """Send items (at `rate`/s when given); returns the send times."""
    producer = KafkaProducer(bootstrap_servers=servers, acks="all", linger_ms=5 if rate is None else 0)
    times: list[float] = []
    start = time.perf_counter()
    try:
        for index, item in enumerate(items):
            if rate:
                delay = start + index / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            times.append(time.time())
            producer.send(topic, key=item["id"].encode(), value=json.dumps(item).encode())
        producer.flush(timeout=60)
    finally:
        producer.close()
    return times


def _wait_matched(workers: list[Worker], target: float, timeout_s: float) -> float:
    deadline = time.monotonic() + timeout_s
    key = 'wirewatch_items_total{stage="matched"}'
    while time.monotonic() < deadline:
        total = sum(w.counter(key) for w in workers)
        if total >= target:
            return time.perf_counter()
        time.sleep(0.1)
    raise TimeoutError(f"workers matched fewer than {target:.0f} items within {timeout_s:.0f} s")


def _alert_latencies(servers: list[str], topic: str, wanted: set[str], stop: threading.Event, out: list[float]) -> None:
    """Alert record timestamp minus the news record timestamp it carries, for the wanted items."""
    consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False, consumer_timeout_ms=500)
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(tps)
    consumer.seek_to_end(*tps)
    seen: set[str] = set()
    from datetime import datetime

    try:
        while not stop.is_set():
            for record in consumer:
                alert = json.loads(record.value)
                item_id = alert["item"]["id"]
                if item_id in wanted and item_id not in seen and alert.get("ingested_at"):
                    seen.add(item_id)
                    produced = datetime.fromisoformat(alert["ingested_at"].replace("Z", "+00:00")).timestamp()
                    out.append(record.timestamp / 1000 - produced)
                if stop.is_set():
                    break
    finally:
        consumer.close()


def run_bench(
    n: int, workers_wanted: int = 1, naive_items: int = 60, latency_s: float = 20.0, compare_backends: bool = False
) -> dict[str, Any]:
    from agents.logic.embedder import Embedder
    from wirewatch.worker import load_glossary

    settings = Settings.from_env()
    env = dict(os.environ)
    broker = None
    procs: list[subprocess.Popen[bytes]] = []
    workers: list[Worker] = []
    try:
        if not env.get("WIREWATCH_BROKER"):
            broker = EmbeddedBroker(port=free_port()).start()
            env["WIREWATCH_BROKER"] = broker.url
        servers = env["WIREWATCH_BROKER"].split("://", 1)[-1].split(";")
        prefix = f"bench{secrets.token_hex(3)}."
        env.update(WIREWATCH_TOPIC_PREFIX=prefix, WIREWATCH_APP_ID=f"ww-{prefix.rstrip('.')}", WIREWATCH_PARTITIONS=str(PARTITIONS))
        names = Settings(topic_prefix=prefix).topic_names
        ensure_topics(servers, PARTITIONS, names)
        token = "xoxb-bench-" + secrets.token_hex(6)
        sink_port = free_port()
        procs.append(spawn_python(["slack-sink", "--port", str(sink_port), "--token", token],
                                  env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        wait_for_port("127.0.0.1", sink_port, 20)
        env.update(SLACK_BOT_TOKEN=token, SLACK_API_URL=f"http://127.0.0.1:{sink_port}/api/", WIREWATCH_LOG_FORMAT="json")
        logdir = Path(env.get("WIREWATCH_DATA_DIR", "var")) / "bench"
        logdir.mkdir(parents=True, exist_ok=True)
        for k in range(workers_wanted):
            port = free_port()
            wenv = dict(env, WIREWATCH_HTTP_PORT=str(port), WIREWATCH_DATA_DIR=str(logdir / f"w{k}"))
            log = open(logdir / f"worker-{k}.log", "wb")
            proc = spawn_python(["worker"], wenv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            procs.append(proc)
            workers.append(Worker(proc, port))

        # Meanwhile, in this process: the model alone, and the naive loop's parts.
        embedder = Embedder(batch_size=settings.model_batch, workers=settings.model_workers or None)
        glossary = load_glossary(settings)
        items = bench_items(n)
        _log(f"ceiling: encoding the chunks of {n} items, model batch {embedder.batch_size}, backend {embedder.backend}")

        for worker in workers:  # wait until each worker answers /ready
            deadline = time.monotonic() + 180
            while True:
                if worker.process.poll() is not None:
                    raise RuntimeError(f"bench worker exited with {worker.process.returncode}; see {logdir}")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{worker.http_port}/ready", timeout=2):
                        break
                except Exception:  # noqa: BLE001 - not up yet
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
        ceiling = measure_ceiling(items, embedder, glossary)
        _log(f"ceiling {ceiling:.1f} items/s")
        backends: dict[str, Any] = {}
        if compare_backends:
            from wirewatch.backends import compare

            texts = [embedding_text(c) for item in items[:300] for c in chunk_item(NewsItem.from_dict(item), glossary)]
            backends = compare(texts, min(300, n), embedder.encode, embedder.batch_size)
            _log(f"backends on {min(300, n)} items: {backends}")

        # Warm the workers (first batches pay for lazy initialisation), then measure.
        warm = bench_items(40)
        for row in warm:
            row["id"] = "warm-" + row["id"]
        _produce(servers, names.news, warm)
        _wait_matched(workers, len(warm), 120)
        base = sum(w.counter('wirewatch_items_total{stage="matched"}') for w in workers)
        block_before = sum(w.counter('wirewatch_event_loop_block_seconds_count') - w.counter('wirewatch_event_loop_block_seconds_bucket{le="0.1"}') for w in workers)
        started = time.perf_counter()
        _produce(servers, names.news, items)
        finished = _wait_matched(workers, base + n, max(120, n / 5))
        pipeline = n / (finished - started)
        _log(f"pipeline {pipeline:.1f} items/s ({len(workers)} worker(s))")

        # Latency at half that rate, long enough for a steady state.
        offered = pipeline / 2
        count = max(20, int(offered * latency_s))
        lat_items = bench_items(count)
        for row in lat_items:
            row["id"] = "lat-" + row["id"]
        latencies: list[float] = []
        stop = threading.Event()
        reader = threading.Thread(target=_alert_latencies, args=(servers, names.alerts, {r["id"] for r in lat_items}, stop, latencies), daemon=True)
        reader.start()
        time.sleep(1.0)
        matched_before = sum(w.counter('wirewatch_items_total{stage="matched"}') for w in workers)
        _produce(servers, names.news, lat_items, rate=offered)
        _wait_matched(workers, matched_before + count, 120)
        time.sleep(2.0)
        stop.set()
        reader.join(10)
        block_after = sum(w.counter('wirewatch_event_loop_block_seconds_count') - w.counter('wirewatch_event_loop_block_seconds_bucket{le="0.1"}') for w in workers)
        loop_max = max(w.counter("wirewatch_event_loop_block_max_seconds") for w in workers)
        rss = max(w.rss_mb() for w in workers)
        latencies.sort()
        p50 = statistics.median(latencies) * 1000 if latencies else float("nan")
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000 if latencies else float("nan")
        _log(f"latency at {offered:.1f} items/s over {len(latencies)} alerts: p50 {p50:.0f} ms, p99 {p99:.0f} ms")

        for proc in procs[1:]:
            terminate(proc, 10)  # free the cores for the naive loop
        matcher = Matcher.build(load_watchlist_dir(settings.watchlists_dir), embedder.encode)
        naive_n = min(naive_items, n)
        # The naive loop gets the model as an afternoon's code would use it: sentence-transformers'
        # defaults (one model, batch 32, torch's own threads), not wirewatch's tuning.
        plain = Embedder(batch_size=32, workers=1)
        naive = measure_naive(servers, names.news, names.alerts + ".naive", naive_n, plain, glossary, matcher)
        _log(f"naive {naive:.1f} items/s over {naive_n} items")
        return {
            "ceiling_items_per_s": round(ceiling, 2),
            "pipeline_items_per_s": round(pipeline, 2),
            "naive_items_per_s": round(naive, 2),
            "p50_ms": round(p50, 1),
            "p99_ms": round(p99, 1),
            "offered_items_per_s": round(offered, 2),
            "backend": embedder.backend,
            "batch_size": embedder.batch_size,  # sentences per forward pass
            "items_per_model_call": settings.embed_batch,
            "cpu_count": os.cpu_count(),
            "worker_rss_mb": round(rss, 1),
            "workers": len(workers),
            "items": n,
            "latency_samples": len(latencies),
            "event_loop_blocks_over_100ms": int(block_after - block_before),
            "event_loop_block_max_ms": round(loop_max * 1000, 1),
            **({"backends": backends} if backends else {}),
        }
    finally:
        for proc in procs:
            terminate(proc, 10)
        if broker is not None:
            broker.stop()


def cmd_bench(n: int, as_json: bool, workers: int, latency_s: float = 20.0, compare_backends: bool = False) -> int:
    result = run_bench(n, workers, latency_s=latency_s, compare_backends=compare_backends)
    if as_json:
        print(json.dumps(result))
    else:
        width = max(len(k) for k in result)
        for key, value in result.items():
            print(f"{key:<{width}}  {value}")
        print(
            f"pipeline/ceiling {result['pipeline_items_per_s'] / result['ceiling_items_per_s']:.2f}, "
            f"pipeline/naive {result['pipeline_items_per_s'] / result['naive_items_per_s']:.1f}"
        )
    return 0
