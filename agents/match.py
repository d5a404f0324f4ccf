"""Agent `match`: news.embedded -> alerts, against the active watchlists."""

from __future__ import annotations

import asyncio

import faust

from agents.logic.alerting import alert_headers
from agents.logic.staleness import seconds_since
from agents.logic.steps import AlertOut, Refusal, match_embedded
from agents.runtime import Runtime, log
from streams.commits import acked_only_on_success
from streams.records import EmbeddedItem


def match_batch(runtime: Runtime, raws: list[bytes | None]) -> list[tuple[EmbeddedItem, list[AlertOut]] | Refusal]:
    """Each message matched on its own: one that trips the matcher is refused, the rest go on."""
    matcher = runtime.registry.matcher
    assert matcher is not None
    settings = runtime.settings
    return [match_embedded(raw, matcher, settings.stale_after_s, settings.max_message_bytes) for raw in raws]


def register(app: faust.App, runtime: Runtime) -> None:
    topics = runtime.topics
    assert topics is not None
    settings = runtime.settings

    @app.agent(topics.embedded, name="match")
    async def match(stream: faust.StreamT) -> None:
        async for events in stream.take_events(64, within=settings.match_within_s):
            with acked_only_on_success(events):  # see streams/commits.py
                deliveries: list[asyncio.Future] = []
                raws = [event.message.value for event in events]
                results = await runtime.off_loop(runtime.match_pool, match_batch, runtime, raws)
                matched = 0
                for event, result in zip(events, results):
                    if isinstance(result, Refusal):
                        deliveries.append(await runtime.dead_letter("match", result.reason, event))
                        continue
                    matched += 1
                    for out in result[1]:
                        deliveries.append(await send_alert(out))
                runtime.counters["news.matched"] += matched
                runtime.metrics.items.labels("matched").inc(matched)
                await asyncio.gather(*deliveries)

    async def send_alert(out: AlertOut) -> asyncio.Future:
        alert = out.alert
        log.info(
            "alert %s watchlist=%s item=%s score=%.3f", alert.alert_id, alert.watchlist_id, alert.item.id, alert.score,
            extra={"alert_id": alert.alert_id, "item_id": alert.item.id, "watchlist": alert.watchlist_id},
        )
        runtime.metrics.alerts.labels(alert.watchlist_id).inc()
        runtime.counters["alerts.out"] += 1
        age = seconds_since(alert.ingested_at)
        if age is not None:
            runtime.metrics.produce_to_alert.observe(age)
        return await topics.alerts.send(key=alert.alert_id.encode(), value=out.value, headers=alert_headers(alert, "live"))
