"""Agent `embed`: news -> news.embedded, a batch at a time."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

import faust

from agents.logic.steps import PreparedNews, Refusal, embedded_record, encode_each, prepare_news
from agents.runtime import Runtime
from streams.commits import acked_only_on_success


def _iso_from_epoch(seconds: float | None) -> str:
    if not seconds:
        return ""
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def register(app: faust.App, runtime: Runtime) -> None:
    topics = runtime.topics
    assert topics is not None
    settings = runtime.settings

    # Two actors share the queue: one encodes while the other sends its results and takes its next
    # batch, so the model does not wait for the event loop between batches (README, Throughput).
    @app.agent(topics.news, name="embed", concurrency=settings.embed_actors)
    async def embed(stream: faust.StreamT) -> None:
        async for events in stream.take_events(settings.embed_batch, within=settings.embed_within_s):
            with acked_only_on_success(events):  # see streams/commits.py
                deliveries: list[asyncio.Future] = []
                valid: list[tuple[faust.EventT, PreparedNews]] = []
                for event in events:
                    runtime.counters["news.in"] += 1
                    runtime.metrics.items.labels("in").inc()
                    runtime.saw_item()
                    prepared = prepare_news(event.message.value, settings.max_item_bytes, runtime.glossary)
                    if isinstance(prepared, Refusal):
                        deliveries.append(await runtime.dead_letter("embed", prepared.reason, event))
                    else:
                        valid.append((event, prepared))
                if valid:
                    started = time.perf_counter()
                    vectors = await runtime.off_loop(runtime.model_pool, encode_each, runtime.embedder.encode, [p for _, p in valid])
                    runtime.metrics.embed_seconds.observe(time.perf_counter() - started)
                    runtime.metrics.embed_batch.observe(sum(len(p.texts) for _, p in valid))
                    embedded = 0
                    for (event, prepared), item_vectors in zip(valid, vectors):
                        value = item_vectors if isinstance(item_vectors, Refusal) else embedded_record(
                            prepared, item_vectors, runtime.embedder.model_name, _iso_from_epoch(event.message.timestamp), settings.max_message_bytes
                        )
                        if isinstance(value, Refusal):
                            deliveries.append(await runtime.dead_letter("embed", value.reason, event))
                            continue
                        deliveries.append(await topics.embedded.send(key=prepared.item.id.encode(), value=value))
                        embedded += 1
                    runtime.counters["news.embedded"] += embedded
                    runtime.metrics.items.labels("embedded").inc(embedded)
                # At least once: the batch is acked only after every output is on the broker.
                await asyncio.gather(*deliveries)
