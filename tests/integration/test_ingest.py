"""`wirewatch ingest` against the session broker: bad lines are reported with their number, the rest are sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from streams.broker import ensure_topics
from streams.topics import TopicNames
from tests.harness import REPO, Pipeline


def test_ingest_reports_bad_lines_and_sends_the_rest(broker_url: str, tmp_path: Path) -> None:
    prefix = f"ing{uuid.uuid4().hex[:6]}."
    feed = tmp_path / "feed.jsonl"
    feed.write_text(
        "\n".join(
            [
                json.dumps({"id": "a", "title": "First"}),
                "{broken",
                json.dumps({"title": "no id"}),
                "",
                json.dumps({"id": "b", "title": "Second", "body": "x"}),
            ]
        )
        + "\n"
    )
    bootstrap = [broker_url.split("://", 1)[1]]
    ensure_topics(bootstrap, 4, TopicNames(prefix))
    env = dict(os.environ, WIREWATCH_BROKER=broker_url, WIREWATCH_TOPIC_PREFIX=prefix)
    done = subprocess.run([sys.executable, "-m", "wirewatch", "ingest", str(feed)], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"{feed}:2: news item: not JSON" in done.stderr
    assert f"{feed}:3: news item: missing required field 'id'" in done.stderr
    assert "ingested 2 items, rejected 2" in done.stdout
    records = Pipeline(broker_url=broker_url, workdir=tmp_path, prefix=prefix).read_topic(TopicNames(prefix).news)
    assert sorted(r.key for r in records) == [b"a", b"b"]
