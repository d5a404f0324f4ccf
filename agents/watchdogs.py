"""Watchdogs of a running worker: the event loop, the broker, stalled inputs, and the dead-man.

A worker that cannot do its job exits with a distinct code, so that a supervisor restarts it
(3: the broker is gone; 4: an input stopped moving). The dead-man tells the ops channel when
news stops, lag builds up or Slack keeps failing. `kill -USR1` logs what every task waits on.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
import time
import traceback

import faust
from faust.types import TP

from agents.health import WorkerHealth
from agents.logic.broker_watch import BrokerWatch
from agents.logic.deadman import DeadMan, DeadManLimits, Notice, Observation
from agents.logic.stall_watch import StallWatch
from agents.runtime import Runtime, log
from streams.broker import probe_broker
from streams.processes import EXIT_BROKER_LOST

HEALTH_INTERVAL_S = 2.0
BROKER_PROBE_S = 5.0
EXIT_STALLED = 4
LOOP_PROBE_S = 0.05


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


def _exit(message: str, code: int) -> None:
    """Not a graceful stop: that would commit and leave the group through a broker that may be
    gone, and hang. Everything unacked is read again after the restart (at least once)."""
    log.error(message)
    print(f"wirewatch worker: {message}", file=sys.stderr, flush=True)
    os._exit(code)


def register(app: faust.App, health: WorkerHealth) -> None:
    _watch_loop(app, health.runtime)
    _watch_exits(app, health)
    _watch_health(app, health)


def _watch_loop(app: faust.App, runtime: Runtime) -> None:
    @app.task
    async def dump_on_sigusr1() -> None:
        """`kill -USR1 <worker>`: diagnose a stuck worker in place, without a debugger or a restart."""
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, _dump_tasks_and_threads)

    @app.task
    async def watch_event_loop() -> None:
        """Heartbeats need a responsive loop: record how late a short sleep wakes up."""
        worst = 0.0
        while True:
            before = time.perf_counter()
            await asyncio.sleep(LOOP_PROBE_S)
            late = max(0.0, time.perf_counter() - before - LOOP_PROBE_S)
            runtime.metrics.loop_block.observe(late)
            if late > worst:
                worst = late
                runtime.metrics.loop_block_max.set(worst)


def _watch_exits(app: faust.App, health: WorkerHealth) -> None:
    settings = health.runtime.settings
    broker_watch = BrokerWatch(give_up_after_s=settings.broker_give_up_s)
    stall_watch = StallWatch(limit_s=settings.stall_exit_s)
    names = settings.topic_names
    unhurried = {names.news, names.embedded}  # stages that never hold a message on purpose (notify may)

    @app.timer(interval=BROKER_PROBE_S, name="broker-watch")
    async def watch_broker() -> None:
        try:
            ends = await asyncio.to_thread(probe_broker, settings.bootstrap_servers, sorted(health.source_topics),
                                           security=settings.kafka_security)
        except Exception as exc:  # noqa: BLE001 - a probe that cannot decide must not decide
            log.warning("broker probe failed: %s: %s", type(exc).__name__, exc)
            return
        reason = broker_watch.observe(time.monotonic(), ends)
        if reason is not None:
            _exit(f"broker {settings.broker} {reason}; exiting with code {EXIT_BROKER_LOST} so that a supervisor restarts the worker",
                  EXIT_BROKER_LOST)

    @app.timer(interval=HEALTH_INTERVAL_S, name="stall-watch")
    async def watch_stalls() -> None:
        if not settings.stall_exit_s or app.rebalancing:
            return
        reason = stall_watch.observe(time.monotonic(), health.bases_and_ends(unhurried))
        if reason is not None:
            _dump_tasks_and_threads()  # what it was stuck on, for the bug report
            _exit(f"{reason}; exiting with code {EXIT_STALLED} so that a supervisor restarts the worker "
                  "(the waiting messages are read again)", EXIT_STALLED)


def _watch_health(app: faust.App, health: WorkerHealth) -> None:
    runtime, settings = health.runtime, health.runtime.settings
    deadman = DeadMan(DeadManLimits(settings.deadman_silence_s, settings.deadman_lag, settings.deadman_slack_s))
    health.deadman = deadman.firing
    started = False

    @app.timer(interval=HEALTH_INTERVAL_S, name="health")
    async def check_health() -> None:
        nonlocal started
        if not started:  # silence is counted from when the worker can first read, not from the model load
            started = True
            runtime.last_item_epoch = max(runtime.last_item_epoch, time.time())
        lags = health.read_lag()
        _export_gauges(health, lags)
        try:  # only the worker holding news partition 0 speaks, so N workers post one message, not N
            leader = TP(settings.topic_names.news, 0) in app.consumer.assignment()
        except Exception:  # noqa: BLE001
            leader = False
        if leader:
            failing = runtime.delivery.failing_since
            observed = Observation(now=time.time(), last_item_at=runtime.last_item_epoch, lag=sum(lags.values()), slack_failing_since=failing)
            for notice in deadman.observe(observed):
                _announce(runtime, notice)


def _export_gauges(health: WorkerHealth, lags: dict[tuple[str, int], int]) -> None:
    metrics, delivery = health.runtime.metrics, health.runtime.delivery
    metrics.lag.clear()
    for (topic, partition), n in lags.items():
        metrics.lag.labels(topic, str(partition)).set(n)
    metrics.ready.set(1 if health.readiness()["ready"] else 0)
    metrics.slack_failing.set(time.time() - delivery.failing_since if delivery.failing_since else 0)


def _announce(runtime: Runtime, notice: Notice) -> None:
    runtime.metrics.deadman.labels(notice.condition).set(1 if notice.firing else 0)
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
