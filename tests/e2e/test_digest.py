"""Digest mode and quiet hours: the timing logic (plain), and a digest on the running pipeline."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from agents.logic.digest import DIGEST_TEXT_LIMIT, held_until, in_quiet_hours, quiet_hours_end, render_digests
from agents.logic.watchlists import Delivery, QuietHours
from streams.records import Alert, NewsItem, make_alert_id
from tests.harness import REPO, Pipeline, wait_for

UTC = timezone.utc


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, 15, hour, minute, tzinfo=UTC)


def test_quiet_hours_across_midnight_in_a_time_zone() -> None:
    delivery = Delivery(quiet_hours=QuietHours(start="22:00", end="07:00", timezone="Europe/Berlin"))  # UTC+1 in January
    assert in_quiet_hours(delivery, at(21, 30))  # 22:30 in Berlin
    assert in_quiet_hours(delivery, at(5, 30))  # 06:30 in Berlin
    assert not in_quiet_hours(delivery, at(6, 30))  # 07:30 in Berlin
    assert not in_quiet_hours(delivery, at(12))
    next_morning = at(6) + timedelta(days=1)  # 07:00 in Berlin on the 16th
    assert quiet_hours_end(delivery, at(21, 30)) == next_morning
    assert held_until(delivery, at(21, 30), at(21, 30)) == next_morning
    assert quiet_hours_end(delivery, at(5, 30)) == at(6)  # same morning
    assert held_until(delivery, at(12), at(12)) is None  # outside quiet hours: post now


def test_digest_mode_is_due_one_period_after_the_first_held_alert() -> None:
    delivery = Delivery(mode="digest", digest_minutes=30)
    assert held_until(delivery, at(10), at(10, 5)) == at(10, 30)
    quiet_digest = Delivery(mode="digest", digest_minutes=30, quiet_hours=QuietHours(start="09:00", end="11:00"))
    assert held_until(quiet_digest, at(10), at(10, 5)) == at(11)  # never inside quiet hours


def _alerts(n: int, url: str = "javascript:alert(1)", title: str = "<!channel> story") -> list[Alert]:
    return [
        Alert(alert_id=make_alert_id(str(i), "w"), watchlist_id="w", watchlist_name="W <!here>", watchlist_version="0" * 16,
              severity="high", channels=["#c"], item=NewsItem(id=str(i), title=f"{title} {i}", url=url, source="s"), score=0.5,
              evidence={"sentence": "", "matched": [], "scores": {"semantic": 0.9, "lexical": 0.0, "counter": 0.0, "final": 0.9, "threshold": 0.5}}, matched_at="")
        for i in range(n)
    ]


def test_a_long_digest_is_split_into_messages_within_slack_limits_and_escaped() -> None:
    alerts = _alerts(60)
    parts = render_digests("W <!here>", alerts, "digest")
    assert [len(part) for part, _ in parts] == [40, 20]
    for number, (part, message) in enumerate(parts, 1):
        text = message["text"]
        assert "<!channel>" not in text and "<!here>" not in text and "javascript:" not in text
        assert len(text) <= DIGEST_TEXT_LIMIT and f"part {number} of 2" in text and f"{len(part)} matches" in text
        assert message["metadata"]["event_payload"]["alert_ids"] == [a.alert_id for a in part]
    assert [a for part, _ in parts for a in part] == alerts  # nothing cut, nothing repeated


def test_digest_parts_stay_under_the_text_limit_with_long_links_and_titles() -> None:
    alerts = _alerts(30, url="https://example.com/" + "a" * 900, title="word " * 100)
    parts = render_digests("W", alerts, "digest")
    assert len(parts) > 1 and all(len(message["text"]) <= DIGEST_TEXT_LIMIT for _, message in parts)
    assert sum(len(part) for part, _ in parts) == 30


@pytest.fixture
def digest_pipeline(broker_url: str, tmp_path: Path):
    folder = tmp_path / "watchlists"
    folder.mkdir()
    text = (REPO / "config" / "watchlists" / "sanctions.yaml").read_text()
    (folder / "sanctions.yaml").write_text(text.replace("thresholds:", "delivery: {mode: digest, digest_minutes: 0.25}\nthresholds:", 1))
    pipe = Pipeline(broker_url=broker_url, workdir=tmp_path, watchlists=folder).start()
    try:
        yield pipe
    finally:
        pipe.close()


def test_digest_mode_posts_one_message_for_several_matches(digest_pipeline: Pipeline) -> None:
    pipe = digest_pipeline
    pipe.wait_worker_ready()
    rows = [json.loads(line) for line in (REPO / "tests" / "data" / "paraphrases.jsonl").read_text().splitlines() if line.strip()]
    items = [{"id": f"d-{i}", "title": r["title"], "body": r["body"], "source": r["source"]}
             for i, r in enumerate(rows) if r["story"] in ("ofacferry", "euoligarch")]
    pipe.produce_items(items)
    alerts = wait_for(lambda: (a := [json.loads(r.value) for r in pipe.read_topic(pipe.names.alerts, 1.5)]) and len(a) >= len(items) and a,
                      60, "alerts for every item")
    assert not pipe.slack_messages().get("wirewatch-sanctions")  # held, not posted one by one
    messages = wait_for(lambda: pipe.slack_messages().get("wirewatch-sanctions"), 60, "the digest")
    assert len(messages) == 1
    payload = messages[0]["metadata"]["event_payload"]
    assert messages[0]["metadata"]["event_type"] == "wirewatch_digest"
    assert sorted(payload["alert_ids"]) == sorted(a["alert_id"] for a in alerts)
    assert f"{len(items)} matches" in messages[0]["text"]
