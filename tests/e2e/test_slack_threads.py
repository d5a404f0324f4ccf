"""Alert fatigue on the running pipeline: near-duplicate stories thread, stale items stay out of Slack."""

from __future__ import annotations

import json
from typing import Any

from tests.harness import REPO, Pipeline, wait_for

PARAPHRASES = [json.loads(line) for line in (REPO / "tests" / "data" / "paraphrases.jsonl").read_text().splitlines() if line.strip()]


def as_item(row: dict[str, Any], index: int, **extra: str) -> dict[str, Any]:
    return {"id": f"{row['story']}-{index}", "title": row["title"], "body": row["body"], "source": row["source"],
            "url": f"https://{row['source']}.example/{row['story']}/{index}", **extra}


def sanctions_channel(pipe: Pipeline) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    client = pipe.slack()
    channel = next(c for c in client.conversations_list()["channels"] if c["name"] == "wirewatch-sanctions")
    top = client.conversations_history(channel=channel["id"], limit=1000, include_all_metadata=True)["messages"]
    replies = {
        m["ts"]: [r for r in client.conversations_replies(channel=channel["id"], ts=m["ts"], include_all_metadata=True)["messages"] if r["ts"] != m["ts"]]
        for m in top
    }
    return top, replies


def test_paraphrases_thread_other_story_stands_alone_stale_is_not_posted(pipeline: Pipeline) -> None:
    pipeline.wait_worker_ready()
    same_event = [as_item(r, i) for i, r in enumerate(PARAPHRASES) if r["story"] == "msspause"]
    other_event = as_item(next(r for r in PARAPHRASES if r["story"] == "juxinhe"), 0)
    stale = as_item(next(r for r in PARAPHRASES if r["story"] == "ofacferry"), 0, published="2020-03-02T09:00:00Z")
    assert len(same_event) == 5
    pipeline.produce_items(same_event[:1])
    wait_for(lambda: pipeline.slack_messages().get("wirewatch-sanctions"), 60, "the first post")
    pipeline.produce_items(same_event[1:] + [other_event, stale])

    def settled():
        top, replies = sanctions_channel(pipeline)
        return (top, replies) if len(top) + sum(map(len, replies.values())) >= 6 else None

    top, replies = wait_for(settled, 90, "six sanctions posts")
    ids_top = {m["metadata"]["event_payload"]["item_id"] for m in top}
    assert ids_top == {"msspause-0", "juxinhe-0"}, ids_top
    thread = next(m for m in top if m["metadata"]["event_payload"]["item_id"] == "msspause-0")
    in_thread = {r["metadata"]["event_payload"]["item_id"] for r in replies[thread["ts"]]}
    assert in_thread == {"msspause-1", "msspause-2", "msspause-3", "msspause-4"}
    assert all("Also reported by" in json.dumps(r["blocks"]) for r in replies[thread["ts"]])
    other = next(m for m in top if m["metadata"]["event_payload"]["item_id"] == "juxinhe-0")
    assert replies[other["ts"]] == []

    # The stale item is on the alerts topic, marked stale, and nowhere in Slack.
    alerts = [json.loads(r.value) for r in pipeline.read_topic(pipeline.names.alerts)]
    stale_alerts = [a for a in alerts if a["item"]["id"] == "ofacferry-0"]
    assert stale_alerts and all(a["stale"] for a in stale_alerts)
    assert not any(a["stale"] for a in alerts if a["item"]["id"] != "ofacferry-0")
    posted = [m["metadata"]["event_payload"]["item_id"] for msgs in pipeline.slack_messages().values() for m in msgs]
    assert "ofacferry-0" not in posted
