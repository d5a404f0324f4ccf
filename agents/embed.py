"""Agent `embed`: news -> news.embedded, a batch at a time."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

import faust

from agents.logic.chunking import chunk_item
from agents.logic.gloss import embedding_text
from agents.runtime import Runtime
from streams.commits import acked_only_on_success
from streams.records import EmbeddedItem, InvalidMessage, NewsItem


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
                valid: list[tuple[faust.EventT, NewsItem, list[str]]] = []
                for event in events:
                    runtime.counters["news.in"] += 1
                    runtime.metrics.items.labels("in").inc()
                    runtime.saw_item()
                    try:
                        item = NewsItem.from_bytes(event.message.value, settings.max_item_bytes)
                    except InvalidMessage as exc:
                        deliveries.append(await runtime.dead_letter("embed", str(exc), event))
                        continue
                    valid.append((event, item, chunk_item(item, runtime.glossary)))
                if valid:
                    texts = [embedding_text(chunk) for _, _, chunks in valid for chunk in chunks]
                    started = time.perf_counter()
                    vectors = await runtime.off_loop(runtime.model_pool, runtime.embedder.encode, texts)
                    runtime.metrics.embed_seconds.observe(time.perf_counter() - started)
                    runtime.metrics.embed_batch.observe(len(texts))
                    start = 0
                    for event, item, chunks in valid:
                        embedded = EmbeddedItem(
                            item=item,
                            model=runtime.embedder.model_name,
                            chunks=chunks,
                            vectors=vectors[start : start + len(chunks)],
                            ingested_at=_iso_from_epoch(event.message.timestamp),
                        )
                        start += len(chunks)
                        deliveries.append(await topics.embedded.send(key=item.id.encode(), value=embedded.to_bytes()))
                    runtime.counters["news.embedded"] += len(valid)
                    runtime.metrics.items.labels("embedded").inc(len(valid))
                # At least once: the batch is acked only after every output is on the broker.
                await asyncio.gather(*deliveries)
