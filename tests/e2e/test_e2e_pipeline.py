"""End to end: separate broker, worker (real model) and Slack sink processes; kafka-python in and out."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jsonschema
import pytest

from agents.logic.deadletter import read_headers
from tests.harness import REPO, Pipeline, alert_ids_in_slack, wait_for

pytestmark = pytest.mark.e2e

SAMPLE = [json.loads(line) for line in (REPO / "config" / "sample-news.jsonl").read_text().splitlines() if line.strip()]
SEED = SAMPLE[0]
NEGATIVES = SAMPLE[1:]
EXPECTED_CHANNELS = {"wirewatch-sanctions", "wirewatch-rare-earths", "wirewatch-salt-typhoon"}
ALERT_SCHEMA = json.loads((REPO / "streams" / "schemas" / "alert.v1.json").read_text())


def test_seed_story_alerts_three_channels_and_negatives_stay_silent(pipeline: Pipeline) -> None:
    assert SEED["id"].startswith("sample-seed") and len(NEGATIVES) == 5
    pipeline.produce_items([SEED, *NEGATIVES])

    messages = wait_for(
        lambda: (m := pipeline.slack_messages()) and sum(len(v) for v in m.values()) >= 3 and m,
        timeout_s=120,
        what="three Slack messages",
    )
    # Every item, the negatives included, has been embedded and matched before we count.
    embedded = wait_for(lambda: len(pipeline.read_topic(pipeline.names.embedded)) >= 6 and pipeline.read_topic(pipeline.names.embedded), 60, "6 embedded items")
    assert sorted(r.key.decode() for r in embedded) == sorted(i["id"] for i in SAMPLE)
    time.sleep(3)  # room for any wrong extra alert to surface

    messages = pipeline.slack_messages()
    non_empty = {name: msgs for name, msgs in messages.items() if msgs}
    assert set(non_empty) == EXPECTED_CHANNELS
    assert all(len(msgs) == 1 for msgs in non_empty.values()), {k: len(v) for k, v in non_empty.items()}

    alerts = pipeline.read_topic(pipeline.names.alerts)
    assert len(alerts) == 3
    values = [json.loads(r.value) for r in alerts]
    for record, value in zip(alerts, values):
        jsonschema.validate(value, ALERT_SCHEMA)
        assert record.key.decode() == value["alert_id"]
        assert value["item"]["id"] == SEED["id"]
        assert value["evidence"]["sentence"]
        headers = read_headers(record.headers)
        assert headers["wirewatch-schema"] == "alert.v1"
    assert {v["watchlist_id"] for v in values} == {"sanctions", "rare_earths", "salt_typhoon"}
    assert sorted(alert_ids_in_slack(messages)) == sorted(v["alert_id"] for v in values)


def test_malformed_messages_go_to_deadletter_and_the_stream_continues(pipeline: Pipeline) -> None:
    good = dict(NEGATIVES[0], id="good-after-bad")
    bad = [
        (b"bad-json", b"{this is not json"),
        (b"no-id", json.dumps({"title": "A story without an id", "body": "x"}).encode()),
        (b"huge", json.dumps({"id": "huge", "title": "Huge", "body": "word " * 4_000_000}).encode()),
        (b"bad-utf8", b'{"id": "bad-utf8", "title": "\xff\xfe broken"}'),
    ]
    assert len(bad[2][1]) > 20_000_000
    pipeline.produce(pipeline.names.news, [(bad[0][0], bad[0][1]), (bad[1][0], bad[1][1])])
    pipeline.produce(pipeline.names.news, [(bad[2][0], bad[2][1]), (bad[3][0], bad[3][1])])
    pipeline.produce_items([good])

    letters = wait_for(lambda: (d := pipeline.read_topic(pipeline.names.deadletter)) and len(d) >= 4 and d, 120, "4 dead letters")
    by_key = {r.key: read_headers(r.headers) for r in letters}
    assert set(by_key) == {k for k, _ in bad}
    assert "not JSON" in by_key[b"bad-json"]["wirewatch-reason"]
    assert "'id'" in by_key[b"no-id"]["wirewatch-reason"]
    assert "above the limit" in by_key[b"huge"]["wirewatch-reason"]
    assert "UTF-8" in by_key[b"bad-utf8"]["wirewatch-reason"]
    assert all(h["wirewatch-stage"] == "embed" for h in by_key.values())
    originals = {r.key: r.value for r in letters}
    assert originals[b"bad-json"] == bad[0][1] and originals[b"bad-utf8"] == bad[3][1]
    assert by_key[b"huge"]["wirewatch-original-bytes"] == str(len(bad[2][1]))

    embedded = wait_for(lambda: [r for r in pipeline.read_topic(pipeline.names.embedded) if r.key == b"good-after-bad"], 60, "the good item")
    assert len(embedded) == 1


@pytest.mark.parametrize("fault", ["before_store", "after_store"])
def test_sigkill_during_slack_post_gives_exactly_once(pipeline: Pipeline, fault: str) -> None:
    """Kill the worker while Slack holds its first post: before storing it, or after storing it."""
    pipeline.wait_worker_ready()
    if fault == "before_store":
        pipeline.set_faults(slow_s=60)  # the post hangs and is never stored before the kill
    else:
        pipeline.set_faults(hang_after_store_s=60)  # stored, but the answer never comes
    pipeline.produce_items([SEED])
    alerts = wait_for(lambda: len(pipeline.read_topic(pipeline.names.alerts)) >= 3, 90, "3 alerts on the topic")
    assert alerts
    def posts_in_flight() -> bool:
        stats = pipeline.sink_stats()
        stored = sum(stats["channels"].values())
        return stats["requests"] >= 1 and (stored >= 1 if fault == "after_store" else True)

    wait_for(posts_in_flight, 60, "the first Slack post to be in flight")
    time.sleep(1.0)
    pipeline.kill_worker()
    stored_before = sum(len(v) for v in pipeline.slack_messages().values())
    # The three alerts go to three channels, whose lanes post in parallel: all three posts
    # are stored-but-unanswered (after_store) or hanging unstored (before_store) at the kill.
    assert stored_before == (3 if fault == "after_store" else 0)
    pipeline.set_faults(slow_s=0, hang_after_store_s=0)
    pipeline.start_worker()

    # The restarted worker must settle all three (post them, or find them already posted).
    wait_for(lambda: pipeline.worker_log().count("slack posted alert=") >= 3, 120, "the restarted worker to settle 3 posts")
    time.sleep(4)
    messages = pipeline.slack_messages()
    ids = alert_ids_in_slack(messages)
    assert len(ids) == 3 and len(set(ids)) == 3, ids
    if fault == "after_store":
        assert "found from an earlier attempt" in pipeline.worker_log()
