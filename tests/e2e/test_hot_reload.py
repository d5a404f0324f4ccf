"""Watchlist edits on a running pipeline (real broker, worker and Slack sink processes), then a rescreen.

One scenario, in order: an item that matches nothing; a valid edit that makes the
same kind of item match; an invalid edit that is rejected while the old behaviour
stays; a steady stream of filler items throughout, none of which may be lost or
processed twice; finally `rescreen`, which must alert the early item that the old
presearch dropped, embedding it (and nothing else) on demand.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agents.logic.watchlists import content_version
from streams.records import make_alert_id
from streams.settings import Settings
from tests.harness import Pipeline, alert_ids_in_slack, wait_for

BEFORE = """\
id: kestrel
name: Kestrel watch
channels: ["#wirewatch-kestrel"]
thresholds: {{match: 0.2}}
exemplars:
  - A covert procurement network shipped controlled parts through front companies.
keywords: [{keywords}]
rules:
  - name: named
    require: [keyword]
"""


def news(item_id: str, title: str) -> dict[str, Any]:
    return {"id": item_id, "title": title, "body": "Investigators described the network in a report on Tuesday.", "url": f"https://example.test/{item_id}"}


def events(pipe: Pipeline) -> list[dict[str, Any]]:
    return [json.loads(r.value) | {"_ts": r.timestamp} for r in pipe.read_topic(pipe.names.watchlist_events, timeout_s=1.5)]


def alerts(pipe: Pipeline) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in pipe.read_topic(pipe.names.alerts, timeout_s=1.5)]


@pytest.fixture(scope="module")
def scenario(broker_url: str, tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("reload")
    folder = workdir / "watchlists"
    folder.mkdir()
    path = folder / "kestrel.yaml"
    path.write_text(BEFORE.format(keywords="Project Nightjar"))
    pipe = Pipeline(broker_url=broker_url, workdir=workdir, watchlists=folder).start()
    try:
        pipe.wait_worker_ready()
        yield pipe, path
    finally:
        pipe.close()


def test_valid_edit_applies_invalid_edit_is_rejected_and_nothing_is_lost(scenario) -> None:
    pipe, path = scenario
    wait_for(lambda: any(e["event"] == "watchlists.active" for e in events(pipe)), 30, "the start-up announcement")
    first_version = content_version(path.read_bytes())

    stop = threading.Event()
    fillers: list[str] = []

    def feed() -> None:  # a steady stream through both edits
        n = 0
        while not stop.is_set():
            n += 1
            fillers.append(f"filler-{n}")
            pipe.produce_items([news(f"filler-{n}", f"Weather report number {n} for the coast")])
            time.sleep(0.2)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        pipe.produce_items([news("early", "Operation Kestrel smuggled drone parts via shell firms")])
        wait_for(lambda: "early" in {r.key.decode() for r in pipe.read_topic(pipe.names.embedded, 1)}, 30, "the early item to be matched")
        assert not alerts(pipe), "nothing should match before the edit"

        # Valid edit: the running worker picks it up.
        edited_at = time.time()
        path.write_text(BEFORE.format(keywords="Project Nightjar, Operation Kestrel"))
        new_version = content_version(path.read_bytes())
        activated = wait_for(
            lambda: next((e for e in events(pipe) if e["event"] == "watchlists.activated" and e["versions"].get("kestrel") == new_version), None),
            15,
            "the valid edit to be activated",
        )
        latency = activated["_ts"] / 1000 - edited_at
        print(f"\nreload latency: {latency:.2f} s")
        assert latency < 5.0

        pipe.produce_items([news("after-valid", "Operation Kestrel moved sensors through a front company")])
        wait_for(lambda: any(a["item"]["id"] == "after-valid" for a in alerts(pipe)), 30, "an alert after the valid edit")

        # Invalid edit: rejected with FILE:LINE, old behaviour stays.
        path.write_text(BEFORE.format(keywords="Project Nightjar, Operation Kestrel") + "thresholds: [unclosed\n")
        rejected = wait_for(lambda: next((e for e in events(pipe) if e["event"] == "watchlists.rejected"), None), 15, "the rejection event")
        assert any(err.startswith(f"{path}:") for err in rejected["errors"]), rejected
        assert rejected["active_versions"] == {"kestrel": new_version}
        assert "watchlist rejected, keeping the last good version" in pipe.worker_log()

        pipe.produce_items([news("after-invalid", "Operation Kestrel again routed parts through Dubai")])
        wait_for(lambda: any(a["item"]["id"] == "after-invalid" for a in alerts(pipe)), 30, "an alert after the invalid edit")
    finally:
        stop.set()
        feeder.join(10)

    by_item = {a["item"]["id"]: a for a in alerts(pipe)}
    assert set(by_item) == {"after-valid", "after-invalid"}
    assert {a["watchlist_version"] for a in by_item.values()} == {new_version} != {first_version}

    # Nothing lost, nothing processed twice: every produced item is on news.embedded exactly once.
    expected = set(fillers) | {"early", "after-valid", "after-invalid"}

    def embedded_keys() -> list[str]:
        return [r.key.decode() for r in pipe.read_topic(pipe.names.embedded, 1.5)]

    keys = wait_for(lambda: (k := embedded_keys()) and expected <= set(k) and k, 30, "every item on news.embedded")
    assert sorted(keys) == sorted(expected), "an item was lost or embedded twice"
    assert len(fillers) >= 10


def test_rescreen_embeds_on_demand_only_the_dropped_items_that_now_pass(scenario, embedder) -> None:
    from wirewatch.rescreen import parse_since, rescreen

    pipe, path = scenario
    path.write_text(BEFORE.format(keywords="Project Nightjar, Operation Kestrel"))  # repair the invalid edit
    encoded: list[str] = []

    def counting_encode(texts):
        encoded.extend(texts)
        return embedder.encode(texts)

    # Before the edit no list could match the early item: the presearch dropped it, and
    # news.embedded carries it without vectors. The later ones were embedded.
    records = {r.key.decode(): json.loads(r.value) for r in pipe.read_topic(pipe.names.embedded, 1.5)}
    assert records["early"]["presearch"]["candidate"] is False and records["early"]["chunks"] == []
    assert all(records[i]["presearch"]["candidate"] and records[i]["chunks"] for i in ("after-valid", "after-invalid"))
    fillers = sum(1 for key in records if key.startswith("filler-"))

    settings = Settings(broker=pipe.broker_url, topic_prefix=pipe.prefix, watchlists_dir=path.parent)
    report = rescreen(settings, parse_since("1h"), counting_encode, embedder.model_name)

    assert report.new_alerts == [make_alert_id("early", "kestrel")]
    assert report.already_alerted == 2  # after-valid and after-invalid, matched from their vectors
    # The exemplar, then the early item's two sentences: of all the items the old presearch
    # dropped (the early one and every filler), only the one the new list passes was embedded.
    assert report.screened_out_before == 1 + fillers and report.passed_presearch_now == 1
    early = news("early", "Operation Kestrel smuggled drone parts via shell firms")
    assert encoded == ["A covert procurement network shipped controlled parts through front companies.", early["title"], early["body"]]
    assert report.exemplar_sentences_encoded == 1 and report.item_sentences_encoded == 2

    again = rescreen(settings, parse_since("1h"), counting_encode, embedder.model_name)
    assert again.new_alerts == [] and again.already_alerted == 3

    # The rescreened alert reaches Slack through the normal notify path, once.
    # The three stories are near-duplicates, so two of them may be thread replies: count those too.
    wait_for(lambda: len(alert_ids_in_slack(pipe.slack_messages_and_replies())) == 3, 60, "three Slack posts")
    assert sorted(alert_ids_in_slack(pipe.slack_messages_and_replies())) == sorted(
        make_alert_id(i, "kestrel") for i in ("early", "after-valid", "after-invalid")
    )
