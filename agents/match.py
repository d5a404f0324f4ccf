"""Agent `match`: news.embedded -> alerts, against the active watchlists."""

from __future__ import annotations

import asyncio
import json
import os
import socket

import faust

from agents.logic.alerting import alert_headers, decision_to_alert
from agents.logic.staleness import seconds_since
from agents.runtime import Runtime, log
from streams.commits import acked_only_on_success
from streams.records import Alert, EmbeddedItem, InvalidMessage, utc_now_iso


def match_batch(runtime: Runtime, items: list[EmbeddedItem]) -> list[Alert]:
    matcher = runtime.registry.matcher
    assert matcher is not None
    alerts: list[Alert] = []
    for embedded in items:
        for decision in matcher.matches(embedded.item.title, embedded.item.body, embedded.chunks, embedded.vectors):
            alerts.append(decision_to_alert(embedded, decision, runtime.settings.stale_after_s))
    return alerts


def register(app: faust.App, runtime: Runtime) -> None:
    topics = runtime.topics
    assert topics is not None
    settings = runtime.settings

    @app.agent(topics.embedded, name="match")
    async def match(stream: faust.StreamT) -> None:
        async for events in stream.take_events(64, within=settings.embed_within_s):
            with acked_only_on_success(events):  # see streams/commits.py
                deliveries: list[asyncio.Future] = []
                items: list[EmbeddedItem] = []
                for event in events:
                    try:
                        items.append(EmbeddedItem.from_bytes(event.message.value))
                    except InvalidMessage as exc:
                        deliveries.append(await runtime.dead_letter("match", str(exc), event))
                alerts = await runtime.off_loop(runtime.match_pool, match_batch, runtime, items) if items else []
                for alert in alerts:
                    log.info(
                        "alert %s watchlist=%s item=%s score=%.3f", alert.alert_id, alert.watchlist_id, alert.item.id, alert.score,
                        extra={"alert_id": alert.alert_id, "item_id": alert.item.id, "watchlist": alert.watchlist_id},
                    )
                    runtime.metrics.alerts.labels(alert.watchlist_id).inc()
                    age = seconds_since(alert.ingested_at)
                    if age is not None:
                        runtime.metrics.produce_to_alert.observe(age)
                    deliveries.append(
                        await topics.alerts.send(
                            key=alert.alert_id.encode(),
                            value=alert.to_bytes(),
                            headers=alert_headers(alert, "live"),
                        )
                    )
                runtime.counters["news.matched"] += len(items)
                runtime.metrics.items.labels("matched").inc(len(items))
                runtime.counters["alerts.out"] += len(alerts)
                await asyncio.gather(*deliveries)

    worker_id = f"{socket.gethostname()}:{os.getpid()}"
    announced = False

    @app.timer(interval=settings.reload_interval_s, name="watchlists-reload")
    async def reload_watchlists() -> None:
        # Runs in the match pool, so a swap never lands in the middle of a match batch:
        # each batch is matched with exactly one version, which its alerts carry.
        nonlocal announced
        outcome = await runtime.off_loop(runtime.match_pool, runtime.registry.reload)
        runtime.metrics.set_watchlists(outcome.versions)
        if outcome.changed or not announced:
            event: dict[str, object] = (
                {"event": "watchlists.activated" if announced else "watchlists.active", "versions": outcome.versions}
                if outcome.ok
                else {"event": "watchlists.rejected", "errors": outcome.errors, "active_versions": outcome.versions}
            )
            event.update(worker=worker_id, at=utc_now_iso(), folder=str(settings.watchlists_dir))
            announced = True
            await topics.watchlist_events.send(key=b"watchlists", value=json.dumps(event, ensure_ascii=False).encode())
