"""Health pages, metrics, lag and the dead-man check, wired to the faust app.

GET /health  liveness: the event loop answers.
GET /ready   200 when the broker is connected with partitions assigned, the model
             is loaded and a valid watchlist set is active; else 503. JSON body.
GET /metrics Prometheus text format (agents/metrics.py).
GET /status  the JSON that `wirewatch status` prints readably.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from aiohttp.web import HTTPNotFound
from aiohttp.web import middleware as web_middleware

import faust
from faust.types import TP

from agents.logic.broker_watch import BrokerWatch
from agents.logic.stall_watch import StallWatch
from agents.logic.deadman import DeadMan, DeadManLimits, Observation
from agents.runtime import Runtime, log
from streams.broker import probe_broker
from streams.records import utc_now_iso

HEALTH_INTERVAL_S = 2.0
BROKER_PROBE_S = 5.0
EXIT_BROKER_LOST = 3
EXIT_STALLED = 4
LOOP_PROBE_S = 0.05


def _lag_by_partition(app: faust.App, topics: set[str]) -> dict[tuple[str, int], int]:
    """highwater (from the last fetch, exact even on Tansu) minus the committed offset."""
    consumer = app.consumer
    lags: dict[tuple[str, int], int] = {}
    try:
        assigned = consumer.assignment()
    except Exception:  # noqa: BLE001 - not started yet or gone: no lag to report
        return lags
    committed = getattr(consumer, "_committed_offset", {})
    for tp in assigned:
        if tp.topic not in topics:
            continue
        try:
            highwater = consumer.highwater(tp)
        except Exception:  # noqa: BLE001
            highwater = None
        if highwater is None:
            continue
        done = committed.get(tp) or 0
        lags[(tp.topic, tp.partition)] = max(0, int(highwater) - int(done))
    return lags


def _bases_and_ends(app: faust.App, topics: set[str]) -> dict[tuple[str, int], tuple[int | None, int | None]]:
    """Per assigned partition of `topics`: the commit base (streams/commits.py) and the end offset."""
    from streams.commits import commit_base

    consumer = app.consumer
    try:
        assigned = consumer.assignment()
    except Exception:  # noqa: BLE001 - not started or gone: nothing to judge
        return {}
    out: dict[tuple[str, int], tuple[int | None, int | None]] = {}
    for tp in assigned:
        if tp.topic in topics:
            try:
                end = consumer.highwater(tp)
            except Exception:  # noqa: BLE001
                end = None
            out[(tp.topic, tp.partition)] = (commit_base(consumer, tp), None if end is None else int(end))
    return out


def _dump_tasks_and_threads() -> None:
    out = io.StringIO()
    tasks = asyncio.all_tasks()
    out.write(f"{len(tasks)} asyncio tasks\n")
    for task in tasks:
        out.write(f"--- {task.get_name()} {task.get_coro()!r}\n")
        task.print_stack(limit=12, file=out)
    for thread_id, frame in sys._current_frames().items():
        out.write(f"--- thread {thread_id}\n{''.join(traceback.format_stack(frame, limit=12))}")
    log.warning("stack dump on SIGUSR1:\n%s", out.getvalue())


def _file_name_only(line: str) -> str:
    """A watchlist error without the folder it came from: /status is no map of the file system."""
    path, sep, rest = line.partition(":")
    return f"{Path(path).name}{sep}{rest}" if sep else line


def register(app: faust.App, runtime: Runtime) -> None:
    topics = runtime.topics
    assert topics is not None
    settings = runtime.settings
    metrics = runtime.metrics
    names = settings.topic_names
    source_topics = {names.news, names.embedded, names.alerts}
    deadman = DeadMan(DeadManLimits(settings.deadman_silence_s, settings.deadman_lag, settings.deadman_slack_s))
    state: dict[str, Any] = {"lag": {}, "deadman": deadman.firing}

    def readiness() -> dict[str, Any]:
        try:
            assigned = [tp for tp in app.consumer.assignment() if tp.topic in source_topics]
            connected = True
        except Exception:  # noqa: BLE001
            assigned, connected = [], False
        checks = {
            "broker_connected": connected,
            "partitions_assigned": len(assigned),
            "model_loaded": runtime.embedder is not None,
            "watchlists_active": runtime.registry.matcher is not None,
        }
        ready = connected and bool(assigned) and checks["model_loaded"] and checks["watchlists_active"] and not app.rebalancing
        return {"ready": ready, "checks": checks, "rebalancing": bool(app.rebalancing)}

    def status() -> dict[str, Any]:
        delivery = runtime.delivery
        return {
            **readiness(),
            "now": utc_now_iso(),
            "started_at": runtime.started_at,
            "last_item_at": runtime.last_item_at,
            "counters": dict(runtime.counters),
            "lag": [{"topic": t, "partition": p, "lag": n} for (t, p), n in sorted(state["lag"].items())],
            "watchlists": {
                "versions": runtime.registry.versions,
                "rejected_edit": [_file_name_only(line) for line in runtime.registry.last_errors],
            },
            "slack": {
                "failing_since": delivery.failing_since,
                "last_ok_at": delivery.last_ok_at,
                "last_error": delivery.last_error,
                "posts": delivery.posts,
                "retries": delivery.retries,
                "failures": delivery.failures,
            },
            "deadman": dict(deadman.firing),
        }

    def json_response(web: Any, body: dict[str, Any], status: int = 200) -> Any:
        return web.bytes(json.dumps(body).encode(), content_type="application/json", status=status)

    # Only these four pages: faust's own views (its table pages would show ledger rows) are
    # switched off in streams/app.py, and anything else is answered 404 before it reaches a view.
    pages = frozenset({"/health", "/ready", "/status", "/metrics"})

    @web_middleware
    async def only_our_pages(request: Any, handler: Any) -> Any:
        if request.path.rstrip("/") not in pages:
            raise HTTPNotFound()
        return await handler(request)

    app.web.web_app.middlewares.append(only_our_pages)

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        return json_response(web, {"alive": True})

    @app.page("/ready")
    async def ready(web: Any, request: Any) -> Any:
        body = readiness()
        return json_response(web, body, 200 if body["ready"] else 503)

    @app.page("/status")
    async def status_page(web: Any, request: Any) -> Any:
        return json_response(web, status())

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(metrics.exposition(), content_type="text/plain; version=0.0.4")

    @app.task
    async def dump_on_sigusr1() -> None:
        """`kill -USR1 <worker>` logs what every asyncio task and thread is waiting on: a stuck
        worker can then be diagnosed in place, without a debugger or a restart."""
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, _dump_tasks_and_threads)

    @app.task
    async def watch_event_loop() -> None:
        """Heartbeats need a responsive loop: record how late a short sleep wakes up."""
        worst = 0.0
        while True:
            before = time.perf_counter()
            await asyncio.sleep(LOOP_PROBE_S)
            late = max(0.0, time.perf_counter() - before - LOOP_PROBE_S)
            metrics.loop_block.observe(late)
            if late > worst:
                worst = late
                metrics.loop_block_max.set(worst)

    broker_watch = BrokerWatch(give_up_after_s=settings.broker_give_up_s)
    watched = sorted(source_topics)

    @app.timer(interval=BROKER_PROBE_S, name="broker-watch")
    async def watch_broker() -> None:
        try:
            ends = await asyncio.to_thread(probe_broker, settings.bootstrap_servers, watched)
        except Exception as exc:  # noqa: BLE001 - a probe that cannot decide must not decide
            log.warning("broker probe failed: %s: %s", type(exc).__name__, exc)
            return
        reason = broker_watch.observe(time.monotonic(), ends)
        if reason is None:
            return
        message = f"broker {settings.broker} {reason}; exiting with code {EXIT_BROKER_LOST} so that a supervisor restarts the worker"
        log.error(message)
        print(f"wirewatch worker: {message}", file=sys.stderr, flush=True)
        # Not a graceful stop: that would commit and leave the group through the broker that is
        # gone, and hang. Everything unacked is read again after the restart (at least once).
        os._exit(EXIT_BROKER_LOST)

    stall_watch = StallWatch(limit_s=settings.stall_exit_s)
    unhurried = {names.news, names.embedded}  # stages that never hold a message on purpose (notify may)

    @app.timer(interval=HEALTH_INTERVAL_S, name="stall-watch")
    async def watch_stalls() -> None:
        if not settings.stall_exit_s or app.rebalancing:
            return
        reason = stall_watch.observe(time.monotonic(), _bases_and_ends(app, unhurried))
        if reason is None:
            return
        message = f"{reason}; exiting with code {EXIT_STALLED} so that a supervisor restarts the worker (the waiting messages are read again)"
        log.error(message)
        print(f"wirewatch worker: {message}", file=sys.stderr, flush=True)
        _dump_tasks_and_threads()  # what it was stuck on, for the bug report
        os._exit(EXIT_STALLED)

    @app.timer(interval=HEALTH_INTERVAL_S, name="health")
    async def check_health() -> None:
        if not state.get("started"):
            # Silence is counted from when the worker can first read, not from the model load.
            state["started"] = True
            runtime.last_item_epoch = max(runtime.last_item_epoch, time.time())
        lags = _lag_by_partition(app, source_topics)
        state["lag"] = lags
        metrics.lag.clear()
        for (topic, partition), n in lags.items():
            metrics.lag.labels(topic, str(partition)).set(n)
        metrics.ready.set(1 if readiness()["ready"] else 0)
        delivery = runtime.delivery
        now = time.time()
        metrics.slack_failing.set(now - delivery.failing_since if delivery.failing_since else 0)
        # Only the worker holding news partition 0 speaks, so N workers post one message, not N.
        try:
            leader = TP(names.news, 0) in app.consumer.assignment()
        except Exception:  # noqa: BLE001
            leader = False
        if not leader:
            return
        notices = deadman.observe(
            Observation(now=now, last_item_at=runtime.last_item_epoch, lag=sum(lags.values()), slack_failing_since=delivery.failing_since)
        )
        for notice in notices:
            metrics.deadman.labels(notice.condition).set(1 if notice.firing else 0)
            log.warning("dead-man %s %s: %s", notice.condition, "firing" if notice.firing else "recovered", notice.text)
            # In the background: a dead-man about Slack must not wait on Slack.
            asyncio.ensure_future(_post_ops(runtime, notice.condition, notice.firing, notice.text))


async def _post_ops(runtime: Runtime, condition: str, firing: bool, text: str) -> None:
    channel = runtime.settings.ops_channel
    message = {
        "text": text,
        "metadata": {"event_type": "wirewatch_deadman", "event_payload": {"condition": condition, "firing": firing}},
        "unfurl_links": False,
    }
    try:
        await runtime.delivery.post(channel, message, f"deadman-{condition}-{'fire' if firing else 'clear'}-{time.time():.0f}")
    except Exception as exc:  # noqa: BLE001 - reported, never fatal
        log.error("dead-man message to %s failed: %s", channel, exc)
