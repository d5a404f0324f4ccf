"""Prometheus metrics of one worker, on a private registry (several workers can share a process in tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 300, 1800)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.items = Counter("wirewatch_items_total", "news items per pipeline stage", ["stage"], registry=r)
        self.deadletters = Counter("wirewatch_deadletters_total", "messages sent to the dead-letter topic", ["stage"], registry=r)
        self.alerts = Counter("wirewatch_alerts_total", "alerts produced", ["watchlist"], registry=r)
        self.slack_posts = Counter("wirewatch_slack_posts_total", "alerts posted to Slack", ["channel"], registry=r)
        self.slack_retries = Counter("wirewatch_slack_retries_total", "Slack calls retried (429, 5xx, timeouts)", ["channel"], registry=r)
        self.slack_failures = Counter("wirewatch_slack_failures_total", "Slack posts given up", ["channel", "reason"], registry=r)
        self.slack_failing = Gauge("wirewatch_slack_failing_seconds", "seconds Slack has been failing (0 when healthy)", registry=r)
        self.embed_batch = Histogram(
            "wirewatch_embed_batch_sentences", "sentences per model call", buckets=(1, 4, 16, 32, 64, 128, 256, 512, 1024), registry=r
        )
        self.embed_seconds = Histogram(
            "wirewatch_embed_seconds", "seconds per model call", buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10), registry=r
        )
        self.produce_to_alert = Histogram(
            "wirewatch_produce_to_alert_seconds", "news produced -> alert produced", buckets=LATENCY_BUCKETS, registry=r
        )
        self.produce_to_slack = Histogram(
            "wirewatch_produce_to_slack_seconds", "news produced -> Slack post confirmed", buckets=LATENCY_BUCKETS, registry=r
        )
        self.lag = Gauge("wirewatch_consumer_lag", "messages not yet committed", ["topic", "partition"], registry=r)
        self.watchlist = Gauge("wirewatch_watchlist_info", "active watchlist version (value 1)", ["watchlist", "version"], registry=r)
        self.last_item = Gauge("wirewatch_last_item_timestamp_seconds", "when the last news item arrived (epoch s)", registry=r)
        self.ready = Gauge("wirewatch_ready", "1 when /ready answers 200", registry=r)
        self.loop_block = Histogram(
            "wirewatch_event_loop_block_seconds",
            "how late a 50 ms sleep on the event loop wakes up (CPU work on the loop shows here)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.loop_block_max = Gauge("wirewatch_event_loop_block_max_seconds", "worst event-loop delay since start", registry=r)
        self.deadman = Gauge("wirewatch_deadman_firing", "1 while a dead-man condition fires", ["condition"], registry=r)

    def set_watchlists(self, versions: dict[str, str]) -> None:
        self.watchlist.clear()
        for watchlist_id, version in versions.items():
            self.watchlist.labels(watchlist_id, version).set(1)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
