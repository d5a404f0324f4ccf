"""The Faust app and its topics, configured from Settings.

Settings that Tansu needs (README, "How the broker quirks are handled"): at-least-once processing, acks=-1,
short session timeouts so that a group join takes seconds, not 30 s.
"""

from __future__ import annotations

from dataclasses import dataclass

import faust

from streams.faust_patches import install_faust_patches
from streams.settings import Settings


@dataclass(frozen=True)
class Topics:
    news: faust.TopicT
    embedded: faust.TopicT
    alerts: faust.TopicT
    deadletter: faust.TopicT
    watchlist_events: faust.TopicT


def create_app(settings: Settings) -> faust.App:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=settings.broker,
        broker_credentials=settings.kafka_security.faust_credentials(),  # TLS and SASL: streams/kafka_security.py
        key_serializer="raw",
        value_serializer="raw",  # we parse JSON ourselves so that bad bytes reach the dead-letter topic
        processing_guarantee="at_least_once",
        producer_acks=-1,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        broker_rebalance_timeout=max(20.0, settings.session_timeout_s * 4),
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        producer_max_request_size=2_000_000,
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        table_standby_replicas=0,
        store="memory://",
        datadir=str(settings.data_dir),
        web_host="127.0.0.1",
        web_bind=settings.http_host,
        web_port=settings.http_port,
        web_in_thread=False,
        # faust's own views are off: the table pages would show Slack ledger rows to anyone on the
        # port; agents/observability.py serves /health, /ready, /status and /metrics only.
        web_router_enabled=False,
        web_tables_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        web_metrics_enabled=False,
        stream_wait_empty=False,
    )
    install_faust_patches(app, commit_fix=settings.faust_commit_fix, allow_untested=settings.allow_untested_faust)  # streams/faust_patches.py
    return app


def declare_topics(app: faust.App, settings: Settings) -> Topics:
    def topic(name: str) -> faust.TopicT:
        return app.topic(name, key_type=bytes, value_type=bytes, partitions=settings.partitions)

    names = settings.topic_names
    return Topics(
        news=topic(names.news),
        embedded=topic(names.embedded),
        alerts=topic(names.alerts),
        deadletter=topic(names.deadletter),
        watchlist_events=topic(names.watchlist_events),
    )
