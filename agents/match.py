"""Agent `match`: news.embedded -> alerts, against the active watchlists."""

from __future__ import annotations

import asyncio
import json
import os
import socket

import faust

from agents.logic.alerting import alert_headers
from agents.logic.staleness import seconds_since
from agents.logic.steps import AlertOut, Refusal, match_embedded
from agents.runtime import Runtime, log
from streams.commits import acked_only_on_success
from streams.records import EmbeddedItem
from streams.timefmt import utc_now_iso


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
        async for events in stream.take_events(64, within=settings.embed_within_s):
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

    worker_id = f"{socket.gethostname()}:{os.getpid()}"
    announced = False

    @app.timer(interval=settings.reload_interval_s, name="watchlists-reload")
    async def reload_watchlists() -> None:
        try:
            await reload_once()
        except Exception:  # noqa: BLE001 - the timer must keep running: the next edit may be good
            log.exception("watchlist reload failed; the active set is unchanged and the folder is checked again")

    async def reload_once() -> None:
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
