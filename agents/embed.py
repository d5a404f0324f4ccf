"""Agent `embed`: news -> news.embedded, a batch at a time."""

from __future__ import annotations

import asyncio
import time

import faust

from agents.logic.steps import EmbedStep, Refusal
from agents.runtime import Runtime
from streams.commits import acked_only_on_success
from streams.timefmt import iso_from_epoch


def register(app: faust.App, runtime: Runtime) -> None:
    topics = runtime.topics
    assert topics is not None
    settings = runtime.settings

    step = EmbedStep(
        runtime.embedder.encode, runtime.embedder.model_name, runtime.active_screener, settings.max_item_bytes, settings.max_message_bytes,
        on_encode=runtime.metrics.embed_batch.observe,
    )

    # Two actors share the queue: one encodes while the other sends its results and takes its next
    # batch, so the model does not wait for the event loop between batches (README, Throughput).
    @app.agent(topics.news, name="embed", concurrency=settings.embed_actors)
    async def embed(stream: faust.StreamT) -> None:
        async for events in stream.take_events(settings.embed_batch, within=settings.embed_within_s):
            with acked_only_on_success(events):  # see streams/commits.py
                runtime.counters["news.in"] += len(events)
                runtime.metrics.items.labels("in").inc(len(events))
                runtime.saw_item()
                started = time.perf_counter()
                stamps = [iso_from_epoch(e.message.timestamp) if e.message.timestamp else "" for e in events]
                # Two threads, two stages: this batch is parsed and presearched while the one before
                # it is in the model, which runs without the interpreter lock.
                screened = await runtime.off_loop(runtime.screen_pool, step.screen, [e.message.value for e in events], stamps)
                results = await runtime.off_loop(runtime.model_pool, step.embed, screened)
                runtime.metrics.embed_seconds.observe(time.perf_counter() - started)
                deliveries: list[asyncio.Future] = []
                for event, result in zip(events, results):
                    if isinstance(result, Refusal):
                        deliveries.append(await runtime.dead_letter("embed", result.reason, event))
                    else:
                        deliveries.append(await topics.embedded.send(key=result.key, value=result.value))
                written = [r for r in results if not isinstance(r, Refusal)]
                candidates = sum(1 for r in written if r.candidate)
                runtime.counters["news.embedded"] += len(written)
                runtime.counters["news.candidates"] += candidates
                runtime.metrics.items.labels("embedded").inc(len(written))
                runtime.metrics.items.labels("candidate").inc(candidates)
                # At least once: the batch is acked only after every output is on the broker.
                await asyncio.gather(*deliveries)
