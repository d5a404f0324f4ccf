"""Agent `notify`: alerts -> Slack, with a ledger so each alert is posted at most once.

The ledger is a faust Table (changelog-backed, so it follows partitions
across restarts and rebalances), keyed by alert id + channel:
- no entry: never attempted, post;
- "posting": an attempt started but its outcome is unknown (we crashed), so
  the channel's history is searched for the alert id before posting;
- "posted" / "failed": done, skip.
The "posting" mark is flushed to the broker before the HTTP call, so a crash
at any point leaves either no attempt or a recorded, checkable one.
"""

from __future__ import annotations

import time

import faust

from agents.logic.slack_delivery import PermanentSlackError
from agents.logic.slack_render import render_alert, render_console
from agents.match import seconds_since
from agents.runtime import Runtime, log
from streams.records import Alert, InvalidMessage


def register(app: faust.App, runtime: Runtime) -> None:
    topics = runtime.topics
    assert topics is not None
    settings = runtime.settings
    ledger = app.Table(
        "slack_ledger",
        default=None,
        partitions=settings.partitions,
        # JSON, never pickle: the app's raw serializers do not apply to table rows.
        schema=faust.Schema(key_serializer="json", value_serializer="json"),
    )

    @app.agent(topics.alerts, name="notify")
    async def notify(stream: faust.StreamT) -> None:
        async for event in stream.events():
            try:
                alert = Alert.from_bytes(event.message.value)
            except InvalidMessage as exc:
                await (await runtime.dead_letter("notify", str(exc), event))
                continue
            runtime.counters["alerts.in"] += 1
            if settings.console_alerts:
                print(render_console(alert), flush=True)
            for channel in alert.channels:
                await deliver(event, alert, channel)

    async def deliver(event: faust.EventT, alert: Alert, channel: str) -> None:
        key = f"{alert.alert_id}|{channel}"
        state = ledger.get(key)
        if state and state.get("state") in ("posted", "failed"):
            runtime.counters["slack.skipped_duplicate"] += 1
            return
        uncertain_since = float(state["started"]) if state else None
        if state is None:
            ledger[key] = {"state": "posting", "started": time.time()}
            await app.producer.flush()  # the intent is on the broker before Slack can see the post
        try:
            posted = await runtime.delivery.post(channel, render_alert(alert), alert.alert_id, uncertain_since)
        except PermanentSlackError as exc:
            ledger[key] = {"state": "failed", "reason": exc.reason}
            await (await runtime.dead_letter("notify", f"slack {channel}: {exc.reason}", event))
            return
        ledger[key] = {"state": "posted", "channel_id": posted.channel_id, "ts": posted.ts}
        runtime.counters["slack.posted"] += 1
        age = seconds_since(alert.ingested_at)
        if age is not None:
            runtime.metrics.produce_to_slack.observe(age)
        log.info(
            "slack posted alert=%s channel=%s ts=%s%s", alert.alert_id, channel, posted.ts,
            " (found from an earlier attempt)" if posted.found_existing else "",
            extra={"alert_id": alert.alert_id, "item_id": alert.item.id, "channel": channel},
        )
