"""Agent `match`: news.embedded -> alerts, against the active watchlists."""

from __future__ import annotations

import asyncio
import json

import faust

from agents.logic.matcher import Decision
from agents.runtime import Runtime, log
from streams.records import Alert, EmbeddedItem, InvalidMessage, make_alert_id, utc_now_iso


def decision_to_alert(embedded: EmbeddedItem, decision: Decision) -> Alert:
    wl = decision.watchlist
    return Alert(
        alert_id=make_alert_id(embedded.item.id, wl.id),
        watchlist_id=wl.id,
        watchlist_name=wl.name,
        watchlist_version=decision.version,
        severity=wl.severity,
        channels=list(wl.channels),
        item=embedded.item,
        score=decision.score,
        evidence=decision.evidence,
        matched_at=utc_now_iso(),
        ingested_at=embedded.ingested_at,
    )


def match_batch(runtime: Runtime, items: list[EmbeddedItem]) -> list[Alert]:
    matcher = runtime.registry.matcher
    assert matcher is not None
    alerts: list[Alert] = []
    for embedded in items:
        for decision in matcher.matches(embedded.item.title, embedded.item.body, embedded.chunks, embedded.vectors):
            alerts.append(decision_to_alert(embedded, decision))
    return alerts


def register(app: faust.App, runtime: Runtime) -> None:
    topics = runtime.topics
    assert topics is not None
    settings = runtime.settings

    @app.agent(topics.embedded, name="match")
    async def match(stream: faust.StreamT) -> None:
        async for events in stream.take_events(64, within=settings.embed_within_s):
            deliveries: list[asyncio.Future] = []
            items: list[EmbeddedItem] = []
            for event in events:
                try:
                    items.append(EmbeddedItem.from_bytes(event.message.value))
                except InvalidMessage as exc:
                    deliveries.append(await runtime.dead_letter("match", str(exc), event))
            alerts = await runtime.off_loop(runtime.match_pool, match_batch, runtime, items) if items else []
            for alert in alerts:
                log.info("alert %s watchlist=%s item=%s score=%.3f", alert.alert_id, alert.watchlist_id, alert.item.id, alert.score)
                deliveries.append(
                    await topics.alerts.send(
                        key=alert.alert_id.encode(),
                        value=alert.to_bytes(),
                        headers=[
                            ("wirewatch-schema", b"alert.v1"),
                            ("wirewatch-watchlist", alert.watchlist_id.encode()),
                            ("content-type", b"application/json"),
                        ],
                    )
                )
            runtime.counters["news.matched"] += len(items)
            runtime.counters["alerts.out"] += len(alerts)
            await asyncio.gather(*deliveries)

    @app.timer(interval=settings.reload_interval_s, name="watchlists-reload")
    async def reload_watchlists() -> None:
        outcome = await runtime.off_loop(runtime.match_pool, runtime.registry.reload)
        if outcome.changed:
            event = (
                {"event": "watchlists.activated", "versions": outcome.versions}
                if outcome.ok
                else {"event": "watchlists.rejected", "errors": outcome.errors, "active_versions": outcome.versions}
            )
            await topics.watchlist_events.send(key=b"watchlists", value=json.dumps(event).encode())
