"""Agent `notify`: alerts topic -> Slack, through the delivery core (agents/logic/notifier.py)."""

from __future__ import annotations

import faust

from agents.logic.ledger import Ledger
from agents.logic.notifier import Notifier
from agents.logic.slack_render import render_console
from agents.logic.steps import Refusal, read_alert
from agents.origin import EventOrigin
from agents.runtime import Runtime, log
from streams.ledger_table import TableStore


def register(app: faust.App, runtime: Runtime) -> None:
    assert runtime.topics is not None
    settings = runtime.settings
    ledger = Ledger(TableStore(app, settings.partitions), settings.ledger_retention_s, runtime.counters)
    notifier = Notifier(ledger, runtime.delivery, runtime.registry.watchlist, runtime.counters, settings.story_window_s,
                        observe_latency=runtime.metrics.produce_to_slack.observe)

    @app.on_partitions_revoked.connect
    async def settle_posts(sender: faust.App, revoked: set, **kwargs: object) -> None:
        await notifier.settle()

    @app.timer(interval=1.0, name="digests")
    async def flush_digests() -> None:
        await notifier.flush_due_digests()

    @app.agent(runtime.topics.alerts, name="notify")
    async def notify(stream: faust.StreamT) -> None:
        async for event in stream.noack().events():
            alert = read_alert(event.message.value)  # parsed once, so no lane trips on it
            if isinstance(alert, Refusal):
                await (await runtime.dead_letter("notify", alert.reason, event))
                event.ack()
                continue
            runtime.counters["alerts.in"] += 1
            if alert.stale:  # stays on the alerts topic, marked stale, but is not breaking news
                runtime.counters["alerts.stale"] += 1
                log.info("stale alert %s not posted (item %s, published %r, ingested %s)", alert.alert_id, alert.item.id,
                         alert.item.published, alert.ingested_at, extra={"alert_id": alert.alert_id, "item_id": alert.item.id})
                event.ack()
                continue
            if settings.console_alerts:
                print(render_console(alert), flush=True)
            await notifier.submit(alert, EventOrigin(app, runtime, "notify", event))
