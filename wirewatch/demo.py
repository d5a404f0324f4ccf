"""`wirewatch run --demo`: broker, Slack sink and worker as child processes, then the sample feed.

It ends (after --duration, or at Ctrl-C) with a one-screen summary read from the pipeline itself:
the alerts topic, the worker's /status and the sink's message counts.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from streams.settings import Settings
from wirewatch.ingest import IngestReport, ingest_file
from wirewatch.local_stack import LocalStack

SAMPLE = Path(__file__).resolve().parent.parent / "config" / "sample-news.jsonl"
FIVE_YEARS_S = 5 * 365 * 86400


def run_demo(settings: Settings, sample: Path = SAMPLE, duration_s: float | None = None) -> int:
    env = dict(os.environ)
    stack = LocalStack(env)
    try:
        servers = stack.ensure_broker(settings.partitions, settings.topic_names)
        if stack.broker is not None:
            print(f"[demo] embedded broker (memory only) at {stack.broker.bootstrap}", flush=True)
        sink_token = ""
        if not env.get("SLACK_BOT_TOKEN"):
            sink_token = "xoxb-demo-" + secrets.token_hex(8)
            port = stack.start_sink(sink_token)
            env["WIREWATCH_CONSOLE_ALERTS"] = "1"
            print(f"[demo] Slack sink at http://127.0.0.1:{port}/api/ (no Slack workspace configured)", flush=True)
        if "WIREWATCH_STALE_AFTER" not in env:
            # The bundled sample is real news from 2025; with the 48 h default it would be stale
            # (kept on the alerts topic, not posted). The demo is meant to show the posts.
            env["WIREWATCH_STALE_AFTER"] = str(FIVE_YEARS_S)
            print("[demo] staleness cutoff set to 5 years: the sample feed is historical news", flush=True)
        env.setdefault("WIREWATCH_DATA_DIR", f"var/demo-{os.getpid()}")
        worker, http_port = stack.start_worker(http_port=settings.http_port if "WIREWATCH_HTTP_PORT" in env else None)
        started = time.monotonic()
        report = ingest_file(sample, servers, settings.topic_names)
        print(f"[demo] ingested {report.sent} items from {sample} ({report.rejected} rejected); alerts follow", flush=True)
        try:
            while worker.poll() is None and (duration_s is None or time.monotonic() - started < duration_s):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass  # Ctrl-C ends the demo: summary, then an orderly stop
        if worker.poll() is None:
            posts = _sink_posts(env.get("SLACK_API_URL", ""), sink_token) if sink_token else None
            print(summary(report, servers, settings, http_port, posts, env.get("SLACK_API_URL", "")), flush=True)
        return 0 if worker.returncode in (None, 0) else int(worker.returncode)
    finally:
        stack.stop()


def summary(report: IngestReport, servers: list[str], settings: Settings, http_port: int, sink_posts: dict[str, int] | None,
            slack_url: str) -> str:
    """What the run did, and where to look next: one screen. `sink_posts`: messages per channel of
    the demo's own Slack sink (None when a real workspace was used)."""
    alerts = _alerts_by_watchlist(servers, settings.topic_names.alerts)
    status = _get_json(f"http://127.0.0.1:{http_port}/status")
    counters = status.get("counters", {})
    posts = sink_posts or {}
    where = "the local sink" if sink_posts is not None else slack_url
    lines = [
        "",
        "== wirewatch demo summary ==",
        f"items in        {report.sent} ({report.rejected} rejected at ingest)",
        f"alerts          {sum(alerts.values())}" + (f" ({_listing(alerts)})" if alerts else ""),
        f"Slack posts     {counters.get('slack.posted', 0)} to {where}" + (f" ({_listing(posts)})" if posts else ""),
        f"dead letters    {sum(v for k, v in counters.items() if k.startswith('deadletter.'))}",
        "next            wirewatch status --url http://127.0.0.1:%d   (the running worker, while it runs)" % http_port,
        "                edit config/watchlists/*.yaml: a saved change applies within seconds, no restart",
        "                README: the alerts topic's schema, settings, and going to production",
    ]
    return "\n".join(lines)


def _listing(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))


def _alerts_by_watchlist(servers: list[str], topic: str) -> dict[str, int]:
    """Fresh (not stale) alerts on the alerts topic, per watchlist id."""
    consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False, consumer_timeout_ms=1500)
    counts: Counter[str] = Counter()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        for record in consumer:
            try:
                alert = json.loads(record.value)
            except ValueError:
                continue
            if isinstance(alert, dict) and not alert.get("stale"):
                counts[str(alert.get("watchlist_id"))] += 1
    finally:
        consumer.close()
    return dict(counts)


def _get_json(url: str, token: str = "") -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            body = json.loads(response.read())
    except (OSError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _sink_posts(slack_url: str, token: str) -> dict[str, int]:
    base = slack_url.rstrip("/").removesuffix("/api")
    channels = _get_json(f"{base}/_sink/stats", token).get("channels", {})
    return {f"#{name}": int(n) for name, n in channels.items()}
