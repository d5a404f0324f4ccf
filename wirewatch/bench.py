"""`wirewatch bench`: model ceiling, pipeline, naive loop and latency, measured in one run.

Two streams: the enriched stream (the bundled dev items, cycled: nearly every item is relevant), or,
with `--background FILE`, a firehose mix (real background articles with dev items at
`--relevant-share`), which is what a real feed looks like and where the screening cascade pays.

- ceiling: the embedder alone on the same items' chunks (at most CEILING_ITEMS of them), same backend and batch size;
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

import random

from agents.logic.alerting import decision_to_alert
from agents.logic.screening import Screener
from agents.logic.watchlists import load_watchlist_dir
from streams.broker import terminate
from streams.records import EmbeddedItem, NewsItem
from streams.kafka_security import KafkaSecurity
from streams.settings import Settings
from streams.timefmt import epoch_of, iso_from_epoch
from streams.topics import TopicNames
from wirewatch.host_cpu import process_cpu_seconds, read_ticks, shares
from wirewatch.local_stack import LocalStack
from wirewatch.screening_setup import LABELLED_DEV

REPO = Path(__file__).resolve().parent.parent
BENCH_DATA = LABELLED_DEV
PARTITIONS = 4
# At half load on one 2-core worker (about 75 items/s, 2% relevant) 60 s gives about 100 alerts to
# time: a p99 of fewer samples would be their maximum.
LATENCY_SECONDS = 60.0
CEILING_ITEMS = 400  # the model's rate is per item, so a sample of the stream measures it
BACKGROUND_PREFIX = "bg-"
NON_ENGLISH_BACKGROUND = REPO / "config" / "labelled" / "news-multilingual-background.jsonl"


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


def non_english_background() -> list[dict[str, Any]]:
    """Ordinary news not in English (sport, markets, weather, transport...; nine languages), written
    for wirewatch: the non-English side of the firehose mix."""
    lines = NON_ENGLISH_BACKGROUND.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def mixed_items(
    n: int, background: Path, relevant_share: float, seed: int = 7, non_english_share: float = 0.0
) -> tuple[list[dict[str, Any]], int, int]:
    """A shuffled firehose of N items: background articles, ordinary news not in English at
    `non_english_share` (counted as background), and dev items at `relevant_share`."""
    relevant = round(n * relevant_share)
    foreign = min(round(n * non_english_share), n - relevant)
    rows = [json.loads(line) for line in background.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(seed)
    english = n - relevant - foreign
    picked = [rows[rng.randrange(len(rows))] for _ in range(english)] if english > len(rows) else rng.sample(rows, english)
    negatives = non_english_background()
    items = [
        {"id": f"{BACKGROUND_PREFIX}{k:06d}-{row.get('id', '')}", "title": row.get("title") or "(untitled)", "body": row.get("body", "")}
        for k, row in enumerate(picked)
    ] + [
        {"id": f"{BACKGROUND_PREFIX}ne{k:06d}", "title": f"{row['title']} ({k // len(negatives) + 1})", "body": row.get("body", ""), "lang": row.get("lang", "")}
        for k, row in ((k, negatives[k % len(negatives)]) for k in range(foreign))
    ] + bench_items(relevant)
    rng.shuffle(items)
    return items, n - relevant, relevant


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --- ceiling and naive ---------------------------------------------------------------


def measure_ceiling(items: list[dict[str, Any]], embedder, screener: Screener) -> float:
    items = items[:CEILING_ITEMS]
    texts = [text for item in items for text in screener.prepare(item["title"], item["body"]).texts]
    embedder.encode(texts[:64])  # warm-up
    started = time.perf_counter()
    embedder.encode(texts)
    return len(items) / (time.perf_counter() - started)


def measure_naive(servers: list[str], topic: str, out_topic: str, count: int, embedder, screener: Screener,
                  security: KafkaSecurity = KafkaSecurity()) -> float:
    """What a user might write in an afternoon: one message, one model call, one blocking send."""
    consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False, consumer_timeout_ms=10_000, **security.client_options())
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    producer = KafkaProducer(bootstrap_servers=servers, acks="all", **security.client_options())
    done = 0
    started = time.perf_counter()
    try:
        for record in consumer:
            item = NewsItem.from_bytes(record.value, 1_000_000)
            prepared = screener.prepare(item.title, item.body)  # no presearch: every item to the model
            vectors = embedder.encode(prepared.texts)
            embedded = EmbeddedItem(item=item, model=embedder.model_name, chunks=prepared.chunks, vectors=vectors)
            for decision in (d for d in screener.decide(prepared, vectors) if d.matched):
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


def _produce(servers: list[str], topic: str, items: list[dict[str, Any]], rate: float | None = None,
             security: KafkaSecurity = KafkaSecurity()) -> list[float]:
    """Send items (at `rate`/s when given), each stamped `published` with its produce time (old
    background articles would otherwise be stale); returns the send times."""
    producer = KafkaProducer(bootstrap_servers=servers, acks="all", linger_ms=5 if rate is None else 0, **security.client_options())
    times: list[float] = []
    start = time.perf_counter()
    try:
        for index, item in enumerate(items):
            if rate:
                delay = start + index / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            now = time.time()
            times.append(now)
            stamped = dict(item, published=iso_from_epoch(now))
            producer.send(topic, key=item["id"].encode(), value=json.dumps(stamped).encode())
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


def _alert_latencies(servers: list[str], topic: str, wanted: set[str], stop: threading.Event, out: list[float],
                     security: KafkaSecurity = KafkaSecurity()) -> None:
    """Alert record timestamp minus the news record timestamp it carries, for the wanted items."""
    consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False, consumer_timeout_ms=500, **security.client_options())
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(tps)
    consumer.seek_to_end(*tps)
    seen: set[str] = set()
    try:
        while not stop.is_set():
            for record in consumer:
                alert = json.loads(record.value)
                item_id = alert["item"]["id"]
                if item_id in wanted and item_id not in seen and alert.get("ingested_at"):
                    seen.add(item_id)
                    produced = epoch_of(alert["ingested_at"]) or record.timestamp / 1000
                    out.append(record.timestamp / 1000 - produced)
                if stop.is_set():
                    break
    finally:
        consumer.close()


def _count_alerts(servers: list[str], topic: str, security: KafkaSecurity = KafkaSecurity()) -> dict[str, set[str]]:
    """Item id -> watchlists alerted, over the whole alerts topic (read until it stays idle)."""
    consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False, consumer_timeout_ms=2000, **security.client_options())
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    out: dict[str, set[str]] = {}
    try:
        for record in consumer:
            alert = json.loads(record.value)
            out.setdefault(alert["item"]["id"], set()).add(alert["watchlist_id"])
    finally:
        consumer.close()
    return out


@dataclass
class Services:
    """The broker (unless WIREWATCH_BROKER is set), a Slack sink and the workers, on a fresh topic prefix."""

    stack: LocalStack
    servers: list[str]
    names: TopicNames
    workers: list[Worker]
    logdir: Path
    security: KafkaSecurity = KafkaSecurity()  # the clients' TLS and SASL, from the settings

    @classmethod
    def start(cls, workers_wanted: int) -> "Services":
        prefix = f"bench{secrets.token_hex(3)}."
        env = dict(os.environ, WIREWATCH_TOPIC_PREFIX=prefix, WIREWATCH_APP_ID=f"ww-{prefix.rstrip('.')}",
                   WIREWATCH_PARTITIONS=str(PARTITIONS), WIREWATCH_LOG_FORMAT="json")
        logdir = Path(env.get("WIREWATCH_DATA_DIR", "var")) / "bench"
        logdir.mkdir(parents=True, exist_ok=True)
        stack = LocalStack(env, logdir=logdir)
        try:
            names = TopicNames(prefix)
            services = cls(stack, stack.ensure_broker(PARTITIONS, names), names, [], logdir, stack.kafka_security())
            stack.start_sink("xoxb-bench-" + secrets.token_hex(6))
            for k in range(workers_wanted):
                process, port = stack.start_worker(f"worker-{k}", WIREWATCH_DATA_DIR=str(logdir / f"w{k}"))
                services.workers.append(Worker(process, port))
        except BaseException:
            stack.stop()
            raise
        return services

    def wait_ready(self, timeout_s: float = 180) -> None:
        for worker in self.workers:
            deadline = time.monotonic() + timeout_s
            while True:
                if worker.process.poll() is not None:
                    raise RuntimeError(f"bench worker exited with {worker.process.returncode}; see {self.logdir}")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{worker.http_port}/ready", timeout=2):
                        break
                except Exception:  # noqa: BLE001 - not up yet
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)

    def total(self, metric: str) -> float:
        return sum(w.counter(metric) for w in self.workers)

    def stop_workers(self) -> None:
        for worker in self.workers:
            terminate(worker.process, 10)

    def stop(self) -> None:
        self.stack.stop()


MATCHED = 'wirewatch_items_total{stage="matched"}'
EMBEDDED = 'wirewatch_items_total{stage="embedded"}'
CANDIDATES = 'wirewatch_items_total{stage="candidate"}'
LOOP_BLOCKS = ('wirewatch_event_loop_block_seconds_count', 'wirewatch_event_loop_block_seconds_bucket{le="0.1"}')


def _loop_blocks(services: Services) -> float:
    """Event-loop blocks over 100 ms so far: both counts from one reading of each worker's page."""
    readings = [w.metrics() for w in services.workers]
    return sum(r.get(LOOP_BLOCKS[0], 0.0) - r.get(LOOP_BLOCKS[1], 0.0) for r in readings)


def _workers_cpu(services: Services) -> float | None:
    seconds = [process_cpu_seconds(w.process.pid) for w in services.workers]
    return None if None in seconds else sum(s for s in seconds if s is not None)


def _per_item_ms(before: float | None, after: float | None, items: int) -> float | None:
    """Worker CPU per item over the timed part of the pipeline phase (the bench's /metrics polls included)."""
    return None if before is None or after is None or not items else round((after - before) * 1000 / items, 2)


def _renamed(items: list[dict[str, Any]], tag: str) -> list[dict[str, Any]]:
    return [dict(row, id=f"{tag}-{row['id']}") if not row["id"].startswith(BACKGROUND_PREFIX) else dict(row, id=f"{BACKGROUND_PREFIX}{tag}-{row['id']}") for row in items]


def _measure_latency(services: Services, items: list[dict[str, Any]], offered: float) -> list[float]:
    """p50/p99 samples: produce -> alert for the items that alert, at `offered` items/s."""
    latencies: list[float] = []
    stop = threading.Event()
    reader = threading.Thread(target=_alert_latencies, args=(services.servers, services.names.alerts, {r["id"] for r in items}, stop, latencies,
                                                             services.security), daemon=True)
    reader.start()
    time.sleep(1.0)
    matched_before = services.total(MATCHED)
    _produce(services.servers, services.names.news, items, rate=offered, security=services.security)
    _wait_matched(services.workers, matched_before + len(items), 120)
    time.sleep(2.0)
    stop.set()
    reader.join(10)
    return sorted(latencies)


def _compare_backends(items: list[dict[str, Any]], embedder: Any, screener: Screener, settings: Settings) -> dict[str, Any]:
    from wirewatch.backends import compare
    from wirewatch.screening_setup import onnx_dir

    texts = [text for item in items[:300] for text in screener.prepare(item["title"], item["body"]).texts]
    backends = compare(texts, min(300, len(items)), embedder.batch_size, onnx_dir(settings))
    _log(f"backends on {min(300, len(items))} items: {backends}")
    return backends


@dataclass(frozen=True)
class PipelineFigures:
    items_per_s: float
    candidate_share: float  # of the items, those that reached the transformer
    worker_cpu_ms_per_item: float | None
    host_cpu: dict[str, float] | None  # busy and stolen shares over the same timed stretch


def _measure_pipeline(services: Services, items: list[dict[str, Any]]) -> PipelineFigures:
    """Items through the running workers, timed from the first send until the workers count them all matched."""
    warm = _renamed(bench_items(40), "warm")  # first batches pay for lazy initialisation
    _produce(services.servers, services.names.news, warm, security=services.security)
    _wait_matched(services.workers, len(warm), 120)
    base = services.total(MATCHED)
    embedded_before, candidates_before = services.total(EMBEDDED), services.total(CANDIDATES)
    cpu_before, ticks = _workers_cpu(services), read_ticks()
    started = time.perf_counter()
    _produce(services.servers, services.names.news, items, security=services.security)
    finished = _wait_matched(services.workers, base + len(items), max(120, len(items) / 5))
    cpu_ms_per_item = _per_item_ms(cpu_before, _workers_cpu(services), len(items))
    host = shares(ticks, read_ticks())
    pipeline = len(items) / (finished - started)
    candidate_share = (services.total(CANDIDATES) - candidates_before) / max(1.0, services.total(EMBEDDED) - embedded_before)
    _log(f"pipeline {pipeline:.1f} items/s ({len(services.workers)} worker(s)); {candidate_share:.1%} reached the transformer; "
         f"worker CPU {cpu_ms_per_item} ms an item")
    return PipelineFigures(pipeline, candidate_share, cpu_ms_per_item, host)


def _result(
    *, ceiling: float, pipeline: float, naive: float, p50: float, p99: float, offered: float, embedder: Any, settings: Settings,
    rss: float, services: Services, n: int, latencies: list[float], blocks: float, loop_max: float, n_background: int,
    n_relevant: int, candidate_share: float, background_alerts: int, backends: dict[str, Any], n_non_english: int = 0,
    host_cpu: dict[str, Any], worker_cpu_ms_per_item: float | None = None,
) -> dict[str, Any]:
    """The --json object, from run_bench's measurements."""
    return {
        "ceiling_items_per_s": round(ceiling, 2),
        "pipeline_items_per_s": round(pipeline, 2),
        "naive_items_per_s": round(naive, 2),
        "p50_ms": round(p50, 1),
        "p99_ms": round(p99, 1),
        "latency_max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
        "offered_items_per_s": round(offered, 2),
        "backend": embedder.backend,
        "batch_size": embedder.batch_size,  # sentences per forward pass
        "items_per_model_call": settings.embed_batch,
        "cpu_count": os.cpu_count(),
        "worker_rss_mb": round(rss, 1),
        "workers": len(services.workers),
        "items": n,
        "latency_samples": len(latencies),
        "event_loop_blocks_over_100ms": int(blocks),
        "event_loop_block_max_ms": round(loop_max * 1000, 1),
        "mix": {"background": n_background, "relevant": n_relevant, "non_english_background": n_non_english},
        "candidate_share": round(candidate_share, 4),
        "alerts_per_10k_background": round(background_alerts * 10_000 / n_background, 1) if n_background else None,
        # Per phase: the share of the host's CPU time that was busy, and the share the hypervisor took
        # ("steal"); a phase's entry is null off Linux.
        "host_cpu": host_cpu,
        # The workers' CPU time per item in the pipeline phase: steadier than items/s on a shared host.
        "worker_cpu_ms_per_item": worker_cpu_ms_per_item,
        **({"backends": backends} if backends else {}),
    }


def run_bench(
    settings: Settings, n: int, workers_wanted: int = 1, naive_items: int = 60, latency_s: float = LATENCY_SECONDS, compare_backends: bool = False,
    background: Path | None = None, relevant_share: float = 0.02, non_english_share: float = 0.0,
) -> dict[str, Any]:
    from agents.logic.embedder import Embedder
    from wirewatch.screening_setup import build_screener, load_glossary, make_embedder

    services = Services.start(workers_wanted)
    try:
        # Meanwhile, in this process: the model alone, and the naive loop's parts.
        embedder = make_embedder(settings)
        screener = build_screener(settings, load_watchlist_dir(settings.watchlists_dir), embedder.encode, load_glossary(settings))
        if background is not None:
            items, n_background, n_relevant = mixed_items(n, background, relevant_share, non_english_share=non_english_share)
        else:
            items, n_background, n_relevant = bench_items(n), 0, n
        _log(f"ceiling: encoding the chunks of {min(n, CEILING_ITEMS)} items, model batch {embedder.batch_size}, backend {embedder.backend}")
        services.wait_ready()
        ceiling = measure_ceiling(items, embedder, screener)
        _log(f"ceiling {ceiling:.1f} items/s")
        backends = _compare_backends(items, embedder, screener, settings) if compare_backends else {}

        blocks_before = _loop_blocks(services)
        figures = _measure_pipeline(services, items)
        pipeline, candidate_share = figures.items_per_s, figures.candidate_share
        host_cpu = {"pipeline": figures.host_cpu}

        # Latency at half that rate, long enough for a steady state.
        offered = pipeline / 2
        source = mixed_items(max(20, int(offered * latency_s)), background, relevant_share, seed=11, non_english_share=non_english_share)[0] if background else bench_items(max(20, int(offered * latency_s)))
        ticks = read_ticks()
        latencies = _measure_latency(services, _renamed(source, "lat"), offered)
        host_cpu["latency"] = shares(ticks, read_ticks())
        loop_max = max(w.counter("wirewatch_event_loop_block_max_seconds") for w in services.workers)
        rss = max(w.rss_mb() for w in services.workers)
        blocks = _loop_blocks(services) - blocks_before
        p50 = statistics.median(latencies) * 1000 if latencies else float("nan")
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000 if latencies else float("nan")
        _log(f"latency at {offered:.1f} items/s over {len(latencies)} alerts: p50 {p50:.0f} ms, p99 {p99:.0f} ms; host CPU {host_cpu}")
        alerted = _count_alerts(services.servers, services.names.alerts, services.security)
        measured = {row["id"] for row in items}
        background_alerts = sum(len(w) for item_id, w in alerted.items() if item_id in measured and item_id.startswith(BACKGROUND_PREFIX))

        services.stop_workers()  # free the cores for the naive loop
        naive_n = min(naive_items, n)
        # The naive loop gets the model as an afternoon's code would use it: sentence-transformers'
        # defaults (one model, batch 32, torch's own threads), not wirewatch's tuning.
        plain = Embedder(batch_size=32, workers=1, backend="torch")
        naive = measure_naive(services.servers, services.names.news, services.names.alerts + ".naive", naive_n, plain, screener,
                              services.security)
        _log(f"naive {naive:.1f} items/s over {naive_n} items")
        return _result(
            ceiling=ceiling, pipeline=pipeline, naive=naive, p50=p50, p99=p99, offered=offered, embedder=embedder, settings=settings, rss=rss, services=services, n=n, latencies=latencies, blocks=blocks, loop_max=loop_max, n_background=n_background, n_relevant=n_relevant, candidate_share=candidate_share, background_alerts=background_alerts, backends=backends, host_cpu=host_cpu,
            worker_cpu_ms_per_item=figures.worker_cpu_ms_per_item,
            n_non_english=sum(1 for row in items if str(row["id"]).startswith(BACKGROUND_PREFIX + "ne")),
        )
    finally:
        services.stop()


def cmd_bench(
    settings: Settings, n: int, as_json: bool, workers: int, latency_s: float = LATENCY_SECONDS, compare_backends: bool = False,
    background: Path | None = None, relevant_share: float = 0.02, non_english_share: float = 0.0,
) -> int:
    if background is not None and not background.is_file():
        print(f"wirewatch bench: --background {background}: no such file", file=sys.stderr)
        return 2
    for name, share in (("--relevant-share", relevant_share), ("--non-english-share", non_english_share)):
        if not 0.0 <= share <= 1.0:
            print(f"wirewatch bench: {name} {share}: expected a share from 0 to 1", file=sys.stderr)
            return 2
    if non_english_share and background is None:
        print("wirewatch bench: --non-english-share needs --background (it is a share of the firehose mix)", file=sys.stderr)
        return 2
    result = run_bench(settings, n, workers, latency_s=latency_s, compare_backends=compare_backends, background=background,
                       relevant_share=relevant_share, non_english_share=non_english_share)
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
