"""End to end: the Slack ledger forgets rows older than its retention (tombstones on its changelog),
and nothing is posted twice on the way. Real broker, worker, model and sink."""

from __future__ import annotations

import json
import time

import pytest

from tests.harness import REPO, Pipeline, alert_ids_in_slack, wait_for

pytestmark = pytest.mark.e2e

SEED = json.loads((REPO / "config" / "sample-news.jsonl").read_text().splitlines()[0])
RETENTION_S = 4


@pytest.fixture
def short_memory(broker_url: str, tmp_path):
    pipe = Pipeline(broker_url=broker_url, workdir=tmp_path, extra_env={"WIREWATCH_LEDGER_RETENTION": str(RETENTION_S)}).start()
    try:
        yield pipe
    finally:
        pipe.close()


def test_ledger_rows_past_their_retention_are_deleted_and_nothing_is_posted_twice(short_memory: Pipeline) -> None:
    pipe = short_memory
    pipe.wait_worker_ready()
    pipe.produce_items([dict(SEED, id="first")])
    first = wait_for(lambda: len(ids := alert_ids_in_slack(pipe.slack_messages_and_replies())) >= 3 and ids, 60, "the first story's 3 posts")
    time.sleep(RETENTION_S + 1)
    # Later alerts write to every partition, and each write drops its partition's expired rows.
    later = [dict(SEED, id=f"later-{i}") for i in range(16)]
    pipe.produce_items(later)
    wait_for(lambda: len(alert_ids_in_slack(pipe.slack_messages_and_replies())) >= 3 * 17, 120, "every later post")
    changelog = f"{pipe.env()['WIREWATCH_APP_ID']}-slack_ledger-changelog"
    records = pipe.read_topic(changelog)
    deleted = {json.loads(r.key).split("|")[0] for r in records if r.value is None}
    assert set(first) <= deleted, (first, deleted)
    posted = alert_ids_in_slack(pipe.slack_messages_and_replies())
    assert len(posted) == len(set(posted)) == 51
