"""`wirewatch ingest` against the session broker: bad lines are reported with their number, the rest are sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from streams.broker import ensure_topics, free_port
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


def test_ingest_checks_the_file_first_and_names_an_unreachable_broker_in_one_line(tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_text(json.dumps({"id": "a", "title": "First"}) + "\n{broken\n")
    env = dict(os.environ, WIREWATCH_BROKER=f"kafka://127.0.0.1:{free_port()}")
    done = subprocess.run([sys.executable, "-m", "wirewatch", "ingest", str(feed)], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith(f"{feed}:2: news item: not JSON")  # reported before any connection attempt
    assert len(lines) == 2 and lines[1].startswith("wirewatch ingest: cannot reach the broker at 127.0.0.1:"), done.stderr
    assert "Traceback" not in done.stderr
