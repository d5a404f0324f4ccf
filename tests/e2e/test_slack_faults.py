"""120 alerts to three channels through the running notify agent, with Slack faults injected.

Counts every post through conversations.history: each alert exactly once; the sink saw no
post faster than a channel's rate; and a channel answering 500 for a while does not hold
back the healthy ones.
"""

from __future__ import annotations

import statistics
import time

from streams.records import Alert, NewsItem, make_alert_id
from streams.timefmt import utc_now_iso
from tests.harness import Pipeline, wait_for

CHANNELS = ["#wirewatch-c1", "#wirewatch-c2", "#wirewatch-c3"]
TOTAL = 120
OUTAGE_S = 20


def make_alert(i: int) -> Alert:
    item = NewsItem(id=f"flood-{i}", title=f"Story number {i} <!channel>", body="body", url=f"https://example.test/{i}", source="wire")
    return Alert(
        alert_id=make_alert_id(item.id, "flood"), watchlist_id="flood", watchlist_name="Flood", watchlist_version="0" * 16,
        severity="high", channels=[CHANNELS[i % 3]], item=item, score=0.9,
        evidence={"sentence": "s", "matched": [], "scores": {"semantic": 0.9, "lexical": 0.0, "counter": 0.0, "final": 0.9, "threshold": 0.5}, "rule": "r"},
        matched_at=utc_now_iso(), ingested_at=utc_now_iso(),
    )


def sink_stats(pipe: Pipeline) -> dict:
    return pipe.sink_stats()


def test_120_alerts_with_faults_each_posted_once_at_rate_and_channels_isolated(pipeline: Pipeline) -> None:
    pipeline.wait_worker_ready()
    # 429s, 500s, slow answers, dropped connections after store, and one channel down for OUTAGE_S seconds.
    pipeline.set_faults(rate_limit_next=3, retry_after=2, fail_next=4, drop_after_store_next=2, slow_s=0.4, fail_channels="wirewatch-c3")
    alerts = [make_alert(i) for i in range(TOTAL)]
    produced_at = time.time()
    pipeline.produce(pipeline.names.alerts, [(a.alert_id.encode(), a.to_bytes()) for a in alerts])
    time.sleep(OUTAGE_S)
    outage_over = time.time()
    pipeline.set_faults(fail_channels="", slow_s=0)

    def all_posted():
        messages = pipeline.slack_messages()
        return messages if sum(len(messages.get(c.lstrip("#"), [])) for c in CHANNELS) >= TOTAL else None

    messages = wait_for(all_posted, 240, f"{TOTAL} posts")
    time.sleep(3)  # anything duplicated would show up now
    messages = pipeline.slack_messages()
    posted_ids = [m["metadata"]["event_payload"]["alert_id"] for c in CHANNELS for m in messages[c.lstrip("#")]]
    assert len(posted_ids) == TOTAL and set(posted_ids) == {a.alert_id for a in alerts}, "lost or duplicated posts"
    for channel in CHANNELS:  # each alert in its own channel
        expected = {a.alert_id for a in alerts if a.channels == [channel]}
        assert {m["metadata"]["event_payload"]["alert_id"] for m in messages[channel.lstrip("#")]} == expected
    assert all("&lt;!channel&gt;" in m["text"] for c in CHANNELS for m in messages[c.lstrip("#")])

    # Never above the rate: the sink's token bucket never had to refuse one of our posts.
    assert sink_stats(pipeline)["rate_violations"] == {}

    # Isolation: while c3 was down, c1 and c2 kept posting at about 1/s.
    for channel in ("wirewatch-c1", "wirewatch-c2"):
        during = [m for m in messages[channel] if m["x_stored_at"] < outage_over]
        assert len(during) >= OUTAGE_S // 2, f"{channel} posted only {len(during)} while c3 was down"
    assert not [m for m in messages["wirewatch-c3"] if m["x_stored_at"] < outage_over - 1]

    delays = sorted(m["x_stored_at"] - produced_at for c in CHANNELS for m in messages[c.lstrip("#")])
    per_channel = {c: len(messages[c.lstrip("#")]) / (max(m["x_stored_at"] for m in messages[c.lstrip("#")]) - produced_at) for c in CHANNELS}
    print(f"\n{TOTAL} alerts: p50 delay {statistics.median(delays):.1f} s, p99 {delays[int(0.99 * len(delays)) - 1]:.1f} s; "
          + ", ".join(f"{c} {r:.2f}/s" for c, r in per_channel.items()))
