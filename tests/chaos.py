"""Fault injection with counted results: `python -m tests.chaos [--faults ...] [options]`.

Each fault runs on its own pipeline (topics, consumer group, Slack sink and worker processes) and
prints items in, items matched (on news.embedded), alerts expected (the same matcher run offline on
the same items), alerts on the topic, Slack posts, lost, duplicated and out of order. The command
exits 1 on any loss, double post or out-of-order post.

Faults:
- kill: SIGKILL the worker --kills times at random moments while --items stream in;
- rebalance: a second worker joins during a backlog of --items, then the first gets SIGTERM and,
  2 s later, SIGKILL (repeat with --runs);
- broker-loss: the broker disappears for --broker-down seconds and comes back empty (the memory
  engine keeps nothing). The worker must exit with a clear message or carry on; the script then
  acts as a supervisor, restarts it if it exited, and checks that new items flow;
- slack-down: the sink refuses every call for --slack-down seconds while items stream in;
- soak: --soak-minutes at --rate items/s on the firehose mix (--background articles with dev items
  at --relevant-share); reports worker RSS at minute 5 and at the end, and lag;
- --throughput: one worker's items/s on a firehose-mix backlog of --items.

`--without-commit-fix` runs the workers without streams/commits.py, to reproduce faust's loss.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from agents.logic.embedder import Embedder  # noqa: E402
from agents.logic.screening import TextItem  # noqa: E402
from agents.logic.watchlists import load_watchlist_dir  # noqa: E402
from streams.broker import EmbeddedBroker, free_port  # noqa: E402
from streams.records import make_alert_id  # noqa: E402
from streams.settings import Settings  # noqa: E402
from tests.harness import REPO, Pipeline, alert_ids_in_slack, spawn, stop, wait_for  # noqa: E402
from wirewatch.bench import bench_items  # noqa: E402
from wirewatch.screening_setup import build_screener  # noqa: E402
from wirewatch.screening_setup import load_glossary  # noqa: E402

FAULTS = ("kill", "rebalance", "broker-loss", "slack-down")
COLUMN = {
    "items_in": "in", "items_produced": "produced", "items_matched": "matched", "alerts_expected": "expected", "alerts_on_topic": "on topic",
    "alert_records_repeated": "repeats", "slack_posts": "posts", "lost": "lost", "duplicated": "doubled",
    "out_of_order": "disorder", "worker_exit_code": "exit code", "unplanned_exits": "exits",
}


def say(message: str) -> None:
    print(f"[chaos] {message}", file=sys.stderr, flush=True)


class Expectation:
    """Which (item, watchlist) pairs should alert, computed once offline and renamed per run."""

    def __init__(self, base_items: list[dict[str, Any]], embedder: Embedder) -> None:
        settings = Settings()
        screener = build_screener(settings, load_watchlist_dir(REPO / "config" / "watchlists"), embedder.encode, load_glossary(settings))
        screened = screener.screen([TextItem(i["id"], i["title"], i["body"]) for i in base_items], embedder.encode)
        self.base_items = base_items
        self.watchlists_by_id = {r.item.id: [d.watchlist.id for d in r.decisions if d.matched] for r in screened}

    def items(self, tag: str, count: int | None = None) -> tuple[list[dict[str, Any]], list[str]]:
        """A renamed copy of the first `count` items, and the alert ids they should produce, in item order."""
        items, alerts = [], []
        for row in self.base_items[: count or len(self.base_items)]:
            copy = dict(row, id=f"{tag}-{row['id']}")
            items.append(copy)
            alerts.extend(make_alert_id(copy["id"], w) for w in self.watchlists_by_id.get(row["id"], []))
        return items, alerts


class Feeder(threading.Thread):
    """Produces items on an absolute schedule with one long-lived producer, and remembers what failed.

    A harness that cannot produce must not look like a pipeline that lost items: a failed send is
    retried, and one that still fails is kept in `errors` for the counts to report.
    """

    def __init__(self, pipe: Pipeline, items: list[dict[str, Any]], rate: float) -> None:
        super().__init__(daemon=True)
        self.pipe, self.items, self.rate = pipe, items, rate
        self.errors: list[str] = []

    def run(self) -> None:
        began = time.monotonic()
        try:
            with self.pipe.producer() as send:
                for start in range(0, len(self.items), 5):
                    for item in self.items[start : start + 5]:
                        self._send_with_retries(send, item)
                    time.sleep(max(0.0, began + (start + 5) / self.rate - time.monotonic()))  # a schedule, so producing takes no rate away
        except Exception as exc:  # noqa: BLE001 - reported in the counts, never swallowed
            self.errors.append(f"feeder stopped: {exc!r}")

    def _send_with_retries(self, send: Callable[[str, bytes, bytes], None], item: dict[str, Any]) -> None:
        for attempt in range(5):
            try:
                send(self.pipe.names.news, str(item["id"]).encode(), json.dumps(item).encode())
                return
            except Exception as exc:  # noqa: BLE001
                self.errors.append(f"{item['id']} attempt {attempt + 1}: {exc!r}")
                time.sleep(1.0)
        raise RuntimeError(f"could not produce {item['id']} after 5 attempts")


def finish(feeder: Feeder) -> None:
    feeder.join()
    for error in feeder.errors:
        say(f"feeder: {error}")


def feed(pipe: Pipeline, items: list[dict[str, Any]], rate: float) -> Feeder:
    feeder = Feeder(pipe, items, rate)
    feeder.start()
    return feeder


def out_of_order_posts(pipe: Pipeline) -> int:
    """Posts in a channel whose alert came later on the same alerts partition than the post after it."""
    position = {}
    for record in pipe.read_topic(pipe.names.alerts, 2):
        position.setdefault(record.key.decode(), (record.partition, record.offset))
    bad = 0
    for messages in pipe.slack_messages_and_replies().values():
        posted = sorted((float(m["ts"]), m["metadata"]["event_payload"]["alert_id"]) for m in messages if m.get("metadata"))
        last: dict[int, int] = {}
        for _, alert_id in posted:
            if alert_id not in position:
                continue
            partition, offset = position[alert_id]
            if offset < last.get(partition, -1):
                bad += 1
            last[partition] = max(offset, last.get(partition, -1))
    return bad


def count(pipe: Pipeline, items: list[dict[str, Any]], expected: list[str], settle_s: float, seen_before: set[str] | None = None) -> dict[str, int]:
    """Wait up to settle_s for everything to arrive, then count what did (a loss shows as a number)."""
    ids = {i["id"] for i in items}
    wanted = set(expected)
    earlier = seen_before or set()
    checks = (
        (lambda: ids <= earlier | {r.key.decode() for r in pipe.read_topic(pipe.names.embedded, 2)}, "every item on news.embedded"),
        (lambda: wanted <= earlier | {r.key.decode() for r in pipe.read_topic(pipe.names.alerts, 2)}, "every expected alert"),
        (lambda: wanted <= set(alert_ids_in_slack(pipe.slack_messages_and_replies())), "every alert in Slack"),
    )
    exits: list[int] = []

    def supervised(check: Callable[[], bool]) -> Callable[[], bool]:
        """The supervisor's part (compose's `restart: unless-stopped`): a worker that exits on its own
        (broker lost: 3, stalled: 4) is started again, and the exit is counted."""

        def run() -> bool:
            if pipe.worker is not None and pipe.worker.poll() is not None:
                exits.append(pipe.worker.returncode)
                say(f"worker exited on its own with code {pipe.worker.returncode}; restarting it")
                pipe.start_worker()
            return check()

        return run

    deadline = time.monotonic() + settle_s
    for check, what in checks:
        try:
            wait_for(supervised(check), max(1.0, deadline - time.monotonic()), what, interval_s=2.0)
        except AssertionError as exc:
            say(str(exc)[:300])
    time.sleep(5)  # room for a late duplicate
    on_news = (earlier | {r.key.decode() for r in pipe.read_topic(pipe.names.news, 2)}) & ids
    if on_news != ids:
        say(f"harness: {len(ids - on_news)} items were never produced: {sorted(ids - on_news)[:20]}")
    matched = (earlier | {r.key.decode() for r in pipe.read_topic(pipe.names.embedded, 2)}) & ids
    on_topic_records = [r.key.decode() for r in pipe.read_topic(pipe.names.alerts, 2)]
    on_topic = earlier | set(on_topic_records)
    posts = Counter(alert_ids_in_slack(pipe.slack_messages_and_replies()))
    for what, missing in (("items not matched", ids - matched), ("alerts not on topic", wanted - on_topic), ("alerts not in Slack", wanted - set(posts))):
        if missing:
            say(f"{what}: {sorted(missing)[:20]}")
    where = {r.key.decode(): f"{r.partition}@{r.offset}" for r in pipe.read_topic(pipe.names.alerts, 2)}
    unposted = sorted(wanted - set(posts))
    if unposted:
        say("unposted alerts on the alerts topic at: " + ", ".join(f"{a} {where.get(a, '?')}" for a in unposted[:20]))
        explain_unposted(pipe, unposted[:3], where)
    return {
        "items_in": len(ids),
        "items_produced": len(on_news),  # less than items_in is a harness failure, not a pipeline loss
        "items_matched": len(matched),
        "alerts_expected": len(wanted),
        "alerts_on_topic": len(wanted & on_topic),
        "alert_records_repeated": len(on_topic_records) - len(set(on_topic_records)),  # allowed: same alert_id
        "slack_posts": sum(posts.values()),
        "lost": len(ids - matched) + len(wanted - on_topic) + len(wanted - set(posts)),
        "duplicated": sum(n - 1 for n in posts.values() if n > 1),
        "out_of_order": out_of_order_posts(pipe),
        "unplanned_exits": len(exits),  # healed by a restart; nothing lost is still checked above
    }


def explain_unposted(pipe: Pipeline, alert_ids: list[str], where: dict[str, str]) -> None:
    """Print what the workers logged about each lost alert and the commit decisions for its partition,
    and whether it was dead-lettered, so that a rare loss can be diagnosed from the test output."""
    dead = {r.key.decode(errors="replace") for r in pipe.read_topic(pipe.names.deadletter, 2) if r.key}
    logs = {path.name: path.read_text(errors="replace").splitlines() for path in sorted(pipe.workdir.glob("worker*.log"))}
    for alert_id in alert_ids:
        partition = where.get(alert_id, "?").split("@")[0]
        say(f"{alert_id}: dead-lettered: {alert_id in dead}")
        marker = f"{pipe.names.alerts}[{partition}]"
        for name, lines in logs.items():
            about = [ln for ln in lines if alert_id in ln or (marker in ln and "commit-trace" in ln)]
            for line in about[-25:]:
                say(f"  {name}: {line[:400]}")


def start_second_worker(pipe: Pipeline) -> tuple[subprocess.Popen[bytes], Path]:
    env = pipe.env()
    env["WIREWATCH_HTTP_PORT"] = str(free_port())
    log_path = pipe.workdir / "worker-second.log"
    proc = spawn(["worker"], env, log_path)
    wait_for(lambda: proc.poll() is None and "Worker ready" in log_path.read_text(errors="replace"), 120, "the second worker to be ready")
    return proc, log_path


def terminate_then_kill(proc: subprocess.Popen[bytes], grace_s: float) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
        return f"exited {proc.returncode} after SIGTERM"
    except subprocess.TimeoutExpired:
        stop(proc, signal.SIGKILL)
        return "SIGKILLed"


# --- the faults ------------------------------------------------------------------------------


def fault_kill(pipe: Pipeline, items: list[dict[str, Any]], args: argparse.Namespace) -> None:
    t0 = time.time()
    feeder = feed(pipe, items, args.rate)
    duration = len(items) / args.rate
    for moment in sorted(random.uniform(0.1, 0.9) * duration for _ in range(args.kills)):
        time.sleep(max(0.0, t0 + moment - time.time()))
        pipe.kill_worker()
        say(f"SIGKILL worker at {moment:.1f} s")
        pipe.start_worker()
        pipe.wait_worker_ready(120)
    finish(feeder)


def fault_rebalance(pipe: Pipeline, items: list[dict[str, Any]], args: argparse.Namespace) -> None:
    pipe.produce_items(items)  # the backlog
    time.sleep(random.uniform(1.0, 4.0))
    second, _ = start_second_worker(pipe)
    say("second worker joined")
    time.sleep(random.uniform(0.5, 3.0))
    assert pipe.worker is not None
    say(f"first worker {terminate_then_kill(pipe.worker, 2.0)}")
    pipe.worker = second


def fault_slack_down(pipe: Pipeline, items: list[dict[str, Any]], args: argparse.Namespace) -> None:
    feeder = feed(pipe, items, args.rate)
    pipe.set_faults(refuse_all=True)
    say(f"Slack down for {args.slack_down:.0f} s")
    time.sleep(args.slack_down)
    pipe.set_faults(refuse_all=False)
    finish(feeder)


def run_fault(name: str, broker_url: str, expectation: Expectation, tag: str, args: argparse.Namespace) -> dict[str, int]:
    items, expected = expectation.items(tag, args.items)
    workdir = Path(tempfile.mkdtemp(prefix=f"chaos-{name}-"))
    pipe = Pipeline(broker_url=broker_url, workdir=workdir, extra_env=worker_env(args)).start()
    say(f"{name}: workdir {workdir}")
    try:
        pipe.wait_worker_ready(120)
        {"kill": fault_kill, "rebalance": fault_rebalance, "slack-down": fault_slack_down}[name](pipe, items, args)
        return count(pipe, items, expected, args.settle)
    finally:
        pipe.close()


def fault_broker_loss(expectation: Expectation, tag: str, args: argparse.Namespace) -> dict[str, int]:
    """Own broker: it is stopped for --broker-down seconds and restarted empty on the same port."""
    port = free_port()
    broker = EmbeddedBroker(port=port).start()
    workdir = Path(tempfile.mkdtemp(prefix="chaos-broker-loss-"))
    before, before_alerts = expectation.items(f"{tag}a", max(10, args.items // 4))
    after, after_alerts = expectation.items(f"{tag}b", max(10, args.items // 4))
    pipe = Pipeline(broker_url=broker.url, workdir=workdir, extra_env=worker_env(args)).start()
    try:
        pipe.wait_worker_ready(120)
        pipe.produce_items(before)
        seen = wait_for(
            lambda: (got := {r.key.decode() for r in pipe.read_topic(pipe.names.embedded, 2)}) >= {i["id"] for i in before} and got,
            args.settle, "the items before the loss",
        )
        seen |= set(before_alerts) & {r.key.decode() for r in pipe.read_topic(pipe.names.alerts, 2)}
        wait_for(lambda: set(before_alerts) <= set(alert_ids_in_slack(pipe.slack_messages_and_replies())), args.settle, "alerts before the loss")
        broker.stop()
        lost_at = time.monotonic()
        say(f"broker stopped; down for {args.broker_down:.0f} s")
        time.sleep(args.broker_down)
        broker = EmbeddedBroker(port=port).start()
        say("broker back, empty")
        worker = pipe.worker
        assert worker is not None
        exit_code = -1  # -1: it kept running
        try:
            wait_for(lambda: worker.poll() is not None, 120, "the worker to exit")
            exit_code = worker.returncode
            line = next((ln for ln in reversed(pipe.worker_log().splitlines()) if "broker" in ln.lower()), "")
            say(f"worker exited {exit_code} {time.monotonic() - lost_at:.0f} s after the loss: {line[-300:]}")
        except AssertionError:
            say("worker still running 120 s after the broker came back")
        if worker.poll() is not None:  # the supervisor's part: restart it
            pipe.start_worker()
            pipe.wait_worker_ready(120)
        pipe.produce_items(after)
        row = count(pipe, before + after, before_alerts + after_alerts, args.settle, seen_before=seen)
        row["worker_exit_code"] = exit_code
        return row
    finally:
        pipe.close()
        broker.stop()


def worker_env(args: argparse.Namespace) -> dict[str, str]:
    # The commit trace costs little at these rates and makes a rare loss diagnosable (explain_unposted).
    env = {"WIREWATCH_LOG_FORMAT": "json", "WIREWATCH_STALL_EXIT": "60", "WIREWATCH_COMMIT_TRACE": "1"}
    if args.without_commit_fix:
        env["WIREWATCH_FAUST_COMMIT_FIX"] = "0"
    return env


DEFAULT_BACKGROUND = REPO.parent / "shared" / "data" / "firehose-background.jsonl"


def firehose_mix(expectation: Expectation, args: argparse.Namespace, count: int) -> list[dict[str, Any]]:
    """A real feed's shape: background articles (almost all irrelevant), with labelled dev items at
    --relevant-share, shuffled; ids are fresh, so a background article may come round again."""
    background = [json.loads(line) for line in Path(args.background).read_text().splitlines() if line.strip()]
    relevant = expectation.base_items
    rng = random.Random(args.seed or 0)
    items = []
    for i in range(count):
        row = rng.choice(relevant) if rng.random() < args.relevant_share else background[i % len(background)]
        items.append({"id": f"mix-{i:07d}", "title": row["title"], "body": row.get("body", ""), "source": row.get("source", "")})
    return items


def worker_sample(pipe: Pipeline) -> tuple[float, float, int, int]:
    """(monotonic time, worker RSS in MB, total lag, items matched so far)."""
    assert pipe.worker is not None
    rss_kb = next(int(ln.split()[1]) for ln in Path(f"/proc/{pipe.worker.pid}/status").read_text().splitlines() if ln.startswith("VmRSS"))
    with urllib.request.urlopen(f"http://127.0.0.1:{pipe.http_port}/status", timeout=5) as response:
        status = json.load(response)
    return time.monotonic(), rss_kb / 1024, sum(row["lag"] for row in status["lag"]), int(status["counters"].get("news.matched", 0))


def throughput(broker_url: str, expectation: Expectation, args: argparse.Namespace) -> dict[str, Any]:
    """One worker's items/s on the firehose mix: a backlog of --items, timed from the first item
    matched to the last."""
    items = firehose_mix(expectation, args, args.items)
    pipe = Pipeline(broker_url=broker_url, workdir=Path(tempfile.mkdtemp(prefix="chaos-rate-")), extra_env=worker_env(args)).start()
    try:
        pipe.wait_worker_ready(120)
        finish(feed(pipe, items, rate=10_000.0))
        first = wait_for(lambda: s if (s := worker_sample(pipe))[3] > 0 else None, 120, "the first item matched", 0.2)
        last = wait_for(lambda: s if (s := worker_sample(pipe))[3] >= len(items) else None, 3600, "every item matched", 0.5)
        rate = (last[3] - first[3]) / max(1e-9, last[0] - first[0])
        return {"items": len(items), "relevant_share": args.relevant_share, "items_per_s": round(rate, 1), "worker_rss_mb": round(last[1])}
    finally:
        pipe.close()


def soak(broker_url: str, expectation: Expectation, args: argparse.Namespace) -> dict[str, Any]:
    """Steady load on the firehose mix; samples the worker's RSS (from /proc) and lag (from its /status page)."""
    n = int(args.soak_minutes * 60 * args.rate)
    items = firehose_mix(expectation, args, n)
    pipe = Pipeline(broker_url=broker_url, workdir=Path(tempfile.mkdtemp(prefix="chaos-soak-")), extra_env=worker_env(args)).start()
    samples: list[tuple[float, float, int, int]] = []
    try:
        pipe.wait_worker_ready(120)
        started = time.monotonic()
        feeder = feed(pipe, items, args.rate)
        while feeder.is_alive():
            time.sleep(30)
            samples.append(worker_sample(pipe))
            say(f"soak {samples[-1][0] - started:.0f} s: rss {samples[-1][1]:.0f} MB, lag {samples[-1][2]}, matched {samples[-1][3]}")
        finish(feeder)
        at_5 = min(samples, key=lambda s: abs(s[0] - started - 300))
        end = samples[-1]
        return {
            "items_offered": n,
            "rate": args.rate,
            "minutes": args.soak_minutes,
            "relevant_share": args.relevant_share,
            "rss_mb_at_minute_5": round(at_5[1]),
            "rss_mb_end": round(end[1]),
            "rss_growth_pct_from_minute_5": round(100 * (end[1] - at_5[1]) / at_5[1], 1),
            "lag_max": max(s[2] for s in samples),
            "lag_end": end[2],
            "items_matched": end[3],
            "slack_posts": len(alert_ids_in_slack(pipe.slack_messages())),
        }
    finally:
        pipe.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", default="kill,rebalance,broker-loss,slack-down", help=f"comma-separated, from {', '.join(FAULTS)}")
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--rate", type=float, default=8.0, help="items/s offered")
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--runs", type=int, default=1, help="repeat each fault this many times")
    parser.add_argument("--slack-down", type=float, default=120.0)
    parser.add_argument("--broker-down", type=float, default=30.0)
    parser.add_argument("--settle", type=float, default=600.0, help="seconds to wait for everything to arrive")
    parser.add_argument("--soak-minutes", type=float, default=0.0, help="run the soak (on the firehose mix) instead of the faults")
    parser.add_argument("--throughput", action="store_true", help="measure one worker's items/s on a firehose-mix backlog of --items")
    parser.add_argument("--background", default=str(DEFAULT_BACKGROUND), help="background articles for the firehose mix (JSON lines)")
    parser.add_argument("--relevant-share", type=float, default=0.02, help="share of labelled dev items in the firehose mix")
    parser.add_argument("--without-commit-fix", action="store_true")
    parser.add_argument("--seed", type=int, default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    random.seed(args.seed)
    faults = [f for f in args.faults.split(",") if f]
    unknown = set(faults) - set(FAULTS)
    if unknown:
        parser.error(f"unknown fault(s): {', '.join(sorted(unknown))}")
    broker = None
    broker_url = os.environ.get("WIREWATCH_TEST_BROKER", "")
    if not broker_url:
        broker = EmbeddedBroker(port=free_port()).start()
        broker_url = broker.url
    try:
        expectation = Expectation(bench_items(max(args.items, 152)), Embedder())
        if args.soak_minutes or args.throughput:
            result = soak(broker_url, expectation, args) if args.soak_minutes else throughput(broker_url, expectation, args)
            print(json.dumps(result))
            return 0
        results: list[tuple[str, dict[str, int]]] = []
        for run in range(args.runs):
            for name in faults:
                tag = f"{name}{run}-{random.randrange(10**6)}"
                if name == "broker-loss":
                    row = fault_broker_loss(expectation, tag, args)
                else:
                    row = run_fault(name, broker_url, expectation, tag, args)
                say(f"{name} run {run + 1}: {json.dumps(row)}")
                results.append((name, row))
    finally:
        if broker is not None:
            broker.stop()
    keys = list(dict.fromkeys(k for _, row in results for k in row))
    print(f"{'fault':<12}" + "".join(f"{COLUMN.get(k, k):>10}" for k in keys))
    for name, row in results:
        print(f"{name:<12}" + "".join(f"{row.get(k, ''):>10}" for k in keys))
    print("columns: " + "; ".join(f"{COLUMN.get(k, k)} = {k}" for k in keys))
    bad = [name for name, row in results if row["lost"] or row["duplicated"] or row["out_of_order"] or row["items_produced"] < row["items_in"]]
    print(f"runs: {len(results)}, with loss, double post or disorder: {len(bad)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
