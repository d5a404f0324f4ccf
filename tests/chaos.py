"""Fault-injection run with counted results: `python -m tests.chaos [--items N] [--kills K] [--slack-down S]`.

Faults (each on its own pipeline: broker, Slack sink and worker processes):
- kill: SIGKILL the worker K times at random moments while N items stream in, restarting it each time;
- slack-down: the sink answers 503 to every call for S seconds while N items stream in.

For each fault it prints items in, items matched (on news.embedded), alerts expected (the same
matcher run offline on the same items), alerts on the topic, Slack posts, lost and duplicated,
and exits 1 on any loss or double post. Broker loss and rebalance are not covered yet.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from agents.logic.embedder import Embedder  # noqa: E402
from agents.logic.matcher import Matcher  # noqa: E402
from agents.logic.screening import TextItem, embed_items, screen  # noqa: E402
from agents.logic.watchlists import load_watchlist_dir  # noqa: E402
from streams.broker import EmbeddedBroker, free_port  # noqa: E402
from streams.records import make_alert_id  # noqa: E402
from streams.settings import Settings  # noqa: E402
from tests.harness import REPO, Pipeline, alert_ids_in_slack, wait_for  # noqa: E402
from wirewatch.bench import bench_items  # noqa: E402
from wirewatch.worker import load_glossary  # noqa: E402


def expected_alerts(items: list[dict], embedder: Embedder) -> set[str]:
    matcher = Matcher.build(load_watchlist_dir(REPO / "config" / "watchlists"), embedder.encode)
    embedded = embed_items([TextItem(i["id"], i["title"], i["body"]) for i in items], embedder.encode, load_glossary(Settings()))
    return {make_alert_id(r.item.id, d.watchlist.id) for r in screen(embedded, matcher) for d in r.decisions if d.matched}


def feed(pipe: Pipeline, items: list[dict], rate: float) -> threading.Thread:
    def run() -> None:
        for start in range(0, len(items), 5):
            pipe.produce_items(items[start : start + 5])
            time.sleep(5 / rate)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def count(pipe: Pipeline, items: list[dict], expected: set[str], settle_s: float) -> dict[str, int]:
    ids = {i["id"] for i in items}
    checks = (
        (lambda: ids <= {r.key.decode() for r in pipe.read_topic(pipe.names.embedded, 2)}, "every item on news.embedded"),
        (lambda: expected <= {r.key.decode() for r in pipe.read_topic(pipe.names.alerts, 2)}, "every expected alert"),
        (lambda: expected <= set(alert_ids_in_slack(pipe.slack_messages_and_replies())), "every alert in Slack"),
    )
    deadline = time.monotonic() + settle_s
    for check, what in checks:  # wait, but count whatever arrived: a loss must show as a number
        try:
            wait_for(check, max(1.0, deadline - time.monotonic()), what)
        except AssertionError as exc:
            print(f"[chaos] {exc}", file=sys.stderr, flush=True)
    time.sleep(5)  # room for a late duplicate
    matched = {r.key.decode() for r in pipe.read_topic(pipe.names.embedded, 2)} & ids
    on_topic = [r.key.decode() for r in pipe.read_topic(pipe.names.alerts, 2)]
    posts = Counter(alert_ids_in_slack(pipe.slack_messages_and_replies()))
    return {
        "items_in": len(ids),
        "items_matched": len(matched),
        "alerts_expected": len(expected),
        "alerts_on_topic": len(set(on_topic)),
        "alert_records_repeated": len(on_topic) - len(set(on_topic)),  # allowed: same alert_id
        "slack_posts": sum(posts.values()),
        "lost": len(ids - matched) + len(expected - set(on_topic)) + len(expected - set(posts)),
        "duplicated": sum(n - 1 for n in posts.values() if n > 1),
    }


def run_fault(name: str, broker_url: str, items: list[dict], expected: set[str], args: argparse.Namespace) -> dict[str, int]:
    workdir = Path(tempfile.mkdtemp(prefix=f"chaos-{name}-"))
    pipe = Pipeline(broker_url=broker_url, workdir=workdir, extra_env={"WIREWATCH_LOG_FORMAT": "json"}).start()
    try:
        pipe.wait_worker_ready()
        t0 = time.time()
        feeder = feed(pipe, items, args.rate)
        duration = len(items) / args.rate
        if name == "kill":
            for moment in sorted(random.uniform(0.1, 0.9) * duration for _ in range(args.kills)):
                time.sleep(max(0.0, t0 + moment - time.time()))
                pipe.kill_worker()
                print(f"[chaos] SIGKILL worker at {moment:.1f} s", file=sys.stderr, flush=True)
                pipe.start_worker()
                pipe.wait_worker_ready()
        else:
            pipe.set_faults(refuse_all=True)
            print(f"[chaos] Slack down for {args.slack_down:.0f} s", file=sys.stderr, flush=True)
            time.sleep(args.slack_down)
            pipe.set_faults(refuse_all=False)
        feeder.join()
        return count(pipe, items, expected, args.settle)
    finally:
        pipe.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--rate", type=float, default=10.0, help="items/s offered")
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--slack-down", type=float, default=120.0)
    parser.add_argument("--settle", type=float, default=600.0, help="seconds to wait for everything to arrive")
    parser.add_argument("--faults", default="kill,slack-down")
    args = parser.parse_args(argv)
    broker = None
    broker_url = os.environ.get("WIREWATCH_TEST_BROKER")
    if not broker_url:
        broker = EmbeddedBroker(port=free_port()).start()
        broker_url = broker.url
    try:
        embedder = Embedder()
        results = {}
        for name in args.faults.split(","):
            items = bench_items(args.items)
            for row in items:
                row["id"] = f"{name}-{row['id']}"
            expected = expected_alerts(items, embedder)
            results[name] = run_fault(name, broker_url, items, expected, args)
            print(f"[chaos] {name}: {json.dumps(results[name])}", file=sys.stderr, flush=True)
    finally:
        if broker is not None:
            broker.stop()
    keys = list(next(iter(results.values())))
    print(f"{'fault':<11}" + "".join(f"{k:>24}" for k in keys))
    for name, row in results.items():
        print(f"{name:<11}" + "".join(f"{row[k]:>24}" for k in keys))
    bad = any(row["lost"] or row["duplicated"] for row in results.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
