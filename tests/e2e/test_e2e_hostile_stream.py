"""End to end: a few hundred hostile messages, then one good story, through a running pipeline.

Separate broker, worker (real model) and Slack sink processes. The hostile messages are
generated from a fixed seed, so a failure can be replayed. Every one of them must reach the
dead-letter topic with its reason, the worker must not restart, and the good story's alerts
must still arrive. Odd but readable items (broken surrogates, control characters, emoji
floods) must be processed, not dead-lettered.
"""

from __future__ import annotations

import json
import random
import time

import pytest

from agents.logic.deadletter import read_headers
from tests.harness import REPO, Pipeline, alert_ids_in_slack, wait_for

pytestmark = pytest.mark.e2e

SEED = json.loads((REPO / "config" / "sample-news.jsonl").read_text().splitlines()[0])
ODD_CHARS = ["\u202e", "\u0000", "\ufeff", "\u200d", "\U0001f600", "\u0301", "\u3000", "\x1b[31m", "<!channel>", "&lt;"]


def hostile_messages(rng: random.Random, count: int) -> list[tuple[bytes, bytes]]:
    """Messages every stage must refuse: not UTF-8, not an object, wrong types, unreadable numbers."""
    makers = [
        lambda i: bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200))) + b"\xff",
        lambda i: json.dumps(rng.choice([[1, 2], "a string", 42, None, True, 1.5])).encode(),
        lambda i: json.dumps({"id": f"h{i}", "title": rng.choice([5, [], {}, True, 1e308])}).encode(),
        lambda i: json.dumps({"id": rng.choice([[], {}, True, 1.5, "", "   "]), "title": "valid title"}).encode(),
        lambda i: ('{"id": "h%d", "title": "x", "n": %s}' % (i, "9" * rng.randint(4400, 9000))).encode(),
        lambda i: ('{"id": "\\ud8%02x%d", "title": "a lone surrogate in the id"}' % (rng.randint(0, 255), i)).encode(),
        lambda i: ("[" * rng.randint(2000, 50_000)).encode(),
        lambda i: json.dumps({"id": f"h{i}", "title": "body of the wrong type", "body": {"nested": [1, 2]}}).encode(),
        lambda i: json.dumps({"id": f"h{i}", "title": "   "}).encode(),
        lambda i: json.dumps({"id": "x" * 600, "title": "id too long"}).encode(),
    ]
    return [(f"hostile-{i}".encode(), makers[i % len(makers)](i)) for i in range(count)]


def odd_but_readable(rng: random.Random, count: int) -> list[dict[str, str]]:
    items = []
    for i in range(count):
        noise = "".join(rng.choice(ODD_CHARS) for _ in range(rng.randint(1, 400)))
        items.append({"id": f"odd-{i}", "title": noise + " market update " + noise[:10], "body": noise * 3 + " \ud83d lone half"})
    return items


def test_hostile_stream_is_dead_lettered_and_the_good_story_still_alerts(pipeline: Pipeline) -> None:
    rng = random.Random(20261202)
    hostile = hostile_messages(rng, 300)
    odd = odd_but_readable(rng, 20)
    pipeline.wait_worker_ready()
    pid = pipeline.worker.pid
    planted = [  # written straight to the later stages' topics, as an attacker with write access could
        (pipeline.names.embedded, b"planted-embedded", json.dumps({"schema_version": 1, "dim": 0, "chunks": [], "item": {"id": "p", "title": "t"}, "model": "m"}).encode()),
        (pipeline.names.embedded, b"planted-embedded-nan", b'{"schema_version": 1, "dim": 1, "chunks": [{"text": "t", "vector": "AADAfw=="}], "item": {"id": "p", "title": "t"}, "model": "m"}'),
        (pipeline.names.alerts, b"planted-alert", json.dumps({"schema_version": 1, "alert_id": "ww1-x", "watchlist_id": "w", "watchlist_version": "v",
                                                               "channels": ["#x"], "item": {"id": "p", "title": "t"}, "score": 1, "evidence": {"scores": []}, "matched_at": ""}).encode()),
    ]
    with pipeline.producer() as send:
        for key, value in hostile:
            send(pipeline.names.news, key, value)
        for item in odd:
            send(pipeline.names.news, item["id"].encode(), json.dumps(item).encode())
        for topic, key, value in planted:
            send(topic, key, value)
        good_sent = time.monotonic()
        send(pipeline.names.news, SEED["id"].encode(), json.dumps(SEED).encode())

    messages = wait_for(lambda: (m := pipeline.slack_messages()) and len(alert_ids_in_slack(m)) >= 3 and m, 60, "the good story's 3 alerts")
    took = time.monotonic() - good_sent
    print(f"\nthe good story's alerts reached Slack {took:.1f}s after it was produced, behind {len(hostile) + len(odd)} odd messages")
    assert len(alert_ids_in_slack(messages)) == 3

    expected_letters = {key for key, _ in hostile} | {key for _, key, _ in planted}
    letters = wait_for(
        lambda: (d := pipeline.read_topic(pipeline.names.deadletter)) and {r.key for r in d} >= expected_letters and d,
        60, "every hostile message on the dead-letter topic",
    )
    by_key = {r.key: read_headers(r.headers) for r in letters}
    assert set(by_key) == expected_letters, set(by_key) ^ expected_letters  # the odd-but-readable ones are not there
    assert all(h["wirewatch-reason"] and h["wirewatch-stage"] for h in by_key.values())
    assert by_key[b"planted-embedded"]["wirewatch-stage"] == "match"
    assert by_key[b"planted-alert"]["wirewatch-stage"] == "notify"
    originals = {r.key: r.value for r in letters}
    assert all(originals[key] == value[: 256 * 1024] for key, value in hostile)

    embedded_keys = {r.key for r in pipeline.read_topic(pipeline.names.embedded)}
    assert {item["id"].encode() for item in odd} <= embedded_keys

    assert pipeline.worker.poll() is None and pipeline.worker.pid == pid and pipeline.worker_starts == 1
    log = pipeline.worker_log()
    assert "crashed" not in log.lower() and "restarting" not in log.lower(), log[-3000:]
