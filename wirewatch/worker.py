"""`wirewatch worker`: wire settings, model, watchlists and Slack into a faust worker."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

import faust

from agents import embed, match, notify, pages, reload, watchdogs
from agents.health import WorkerHealth
from agents.logic.registry import WatchlistRegistry
from agents.logic.slack_delivery import SlackDelivery, make_client, plain_http_refusal
from agents.runtime import Runtime
from streams.app import create_app, declare_topics
from streams.broker import EmbeddedBroker, ensure_topics
from streams.kafka_security import BrokerUnreachable, KafkaAccessDenied, check_access
from streams.processes import EXIT_ACCESS_DENIED, EXIT_BROKER_LOST, EXIT_FORCED
from streams.settings import Settings
from wirewatch.logs import logging_config
from wirewatch.screening_setup import build_screener, ensure_static, load_glossary, make_embedder

log = logging.getLogger("wirewatch")


def build(settings: Settings) -> tuple[faust.App, Runtime]:
    """Load the model and watchlists first, so a bad config fails before joining the group."""
    embedder = make_embedder(settings)
    glossary = load_glossary(settings)
    static = ensure_static(settings, embedder.encode, glossary)
    registry = WatchlistRegistry(settings.watchlists_dir, lambda loaded: build_screener(settings, loaded, embedder.encode, glossary, static),
                                 warm_up=True)
    registry.load_initial()
    if not settings.slack_token:
        raise SystemExit("SLACK_BOT_TOKEN is not set (use `wirewatch run --demo` for a local Slack sink)")
    refusal = plain_http_refusal(settings.slack_token, settings.slack_api_url)
    if refusal:
        raise SystemExit(refusal)
    delivery = SlackDelivery(make_client(settings.slack_token, settings.slack_api_url))
    app = create_app(settings)
    runtime = Runtime(
        settings=settings, embedder=embedder, registry=registry, delivery=delivery, glossary=glossary
    )
    runtime.topics = declare_topics(app, settings)
    delivery.observer = _slack_metrics(runtime)
    runtime.metrics.set_watchlists(registry.versions)
    embed.register(app, runtime)
    match.register(app, runtime)
    reload.register(app, runtime)
    notify.register(app, runtime)
    health = WorkerHealth(app, runtime)
    pages.register(app, health)
    watchdogs.register(app, health)
    return app, runtime


def _slack_metrics(runtime: Runtime):
    metrics = runtime.metrics

    def observe(kind: str, channel: str, detail: str) -> None:
        if kind == "posted":
            metrics.slack_posts.labels(channel).inc()
        elif kind == "retry":
            metrics.slack_retries.labels(channel).inc()
        else:
            metrics.slack_failures.labels(channel, detail[:60]).inc()

    return observe


STOP_DEADLINE_S = 8.0


class StoppableWorker(faust.Worker):
    """faust's worker, with a bounded stop: a second SIGTERM or SIGINT exits at once, and a stop
    that hangs (a broker that went away first cannot take the final commit) ends after
    STOP_DEADLINE_S. Exit code 1 in both cases; uncommitted work is read again at the next start."""

    def _schedule_shutdown(self, signal: signal.Signals) -> None:
        if self._signal_stop_time:
            _force_exit(f"second {signal.name} while stopping")
        else:
            timer = threading.Timer(STOP_DEADLINE_S, _force_exit, (f"still stopping {STOP_DEADLINE_S:.0f}s after {signal.name}",))
            timer.daemon = True
            timer.start()
        super()._schedule_shutdown(signal)


def _force_exit(why: str) -> None:
    print(f"wirewatch worker: {why}, exiting now", file=sys.stderr, flush=True)
    os._exit(EXIT_FORCED)  # the embedded broker follows: it dies with its parent


def _check_access_or_exit(settings: Settings) -> None:
    """Reach the broker, complete TLS and log in before faust starts: faust and aiokafka would
    retry a refused password or an untrusted certificate without end."""
    try:
        server = check_access(settings.bootstrap_servers, settings.kafka_security, timeout_s=settings.broker_give_up_s)
    except BrokerUnreachable as exc:
        print(f"wirewatch worker: {exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_BROKER_LOST)
    except KafkaAccessDenied as exc:
        print(f"wirewatch worker: {exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_ACCESS_DENIED)
    logging.getLogger("wirewatch").info("broker %s reached (%s)", server, settings.kafka_security.describe())


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    broker: EmbeddedBroker | None = None
    if not settings.broker:
        broker = EmbeddedBroker().start()
        # The embedded broker speaks plain text, whatever TLS or SASL settings a real cluster needs.
        settings = settings.model_copy(update={"broker": broker.url, "kafka_security_protocol": "PLAINTEXT",
                                               "kafka_sasl_username": "", "kafka_sasl_password": ""})
        print(f"wirewatch: started the embedded broker (memory only) at {broker.bootstrap}", flush=True)
    try:
        _check_access_or_exit(settings)
        ensure_topics(settings.bootstrap_servers, settings.partitions, settings.topic_names, security=settings.kafka_security)
        app, _runtime = build(settings)
        print(
            f"wirewatch worker: broker={settings.broker} watchlists={settings.watchlists_dir} "
            f"slack={settings.slack_api_url} http=127.0.0.1:{settings.http_port}",
            flush=True,
        )
        worker = StoppableWorker(
            app, loglevel=loglevel, quiet=True, redirect_stdouts=False, logging_config=logging_config(settings.log_format, loglevel)
        )
        worker.execute_from_commandline()
    finally:
        if broker is not None:
            broker.stop()
    sys.exit(0)
