"""Metrics, health, status and the dead-man alert on a running worker (real broker, sink, model)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import REPO, SAMPLE, Pipeline, wait_for

SILENCE_S = 10


def scrape(pipe: Pipeline) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{pipe.http_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(metrics: dict, name: str, **labels: str) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


def ops_messages(pipe: Pipeline) -> list[dict[str, Any]]:
    return pipe.slack_messages().get("wirewatch-ops", [])


@pytest.fixture(scope="module")
def pipe(broker_url: str, tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("ops")
    pipe = Pipeline(
        broker_url=broker_url,
        workdir=workdir,
        extra_env={"WIREWATCH_DEADMAN_SILENCE": str(SILENCE_S), "WIREWATCH_OPS_CHANNEL": "#wirewatch-ops", "WIREWATCH_LOG_FORMAT": "json"},
    ).start()
    try:
        pipe.wait_worker_ready()
        yield pipe
    finally:
        pipe.close()


def test_metrics_move_by_the_right_amounts(pipe: Pipeline) -> None:
    wait_for(lambda: value(scrape(pipe), "wirewatch_ready") == 1.0, 30, "/metrics to report ready")
    before = scrape(pipe)
    pipe.produce_items(SAMPLE)  # the seed story (3 watchlists) + 5 negatives
    pipe.produce(pipe.names.news, [(b"bad", b"not json")])
    wait_for(lambda: value(scrape(pipe), "wirewatch_slack_posts_total", channel="#wirewatch-sanctions") >= 1
             and value(scrape(pipe), "wirewatch_slack_posts_total", channel="#wirewatch-rare-earths") >= 1
             and value(scrape(pipe), "wirewatch_slack_posts_total", channel="#wirewatch-salt-typhoon") >= 1, 60, "three Slack posts")
    after = scrape(pipe)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("wirewatch_items_total", stage="in") == 7
    assert delta("wirewatch_items_total", stage="embedded") == 6
    assert delta("wirewatch_items_total", stage="matched") == 6
    assert delta("wirewatch_items_total", stage="deadlettered") == 1
    assert delta("wirewatch_deadletters_total", stage="embed") == 1
    for watchlist in ("sanctions", "rare_earths", "salt_typhoon"):
        assert delta("wirewatch_alerts_total", watchlist=watchlist) == 1
    assert delta("wirewatch_produce_to_alert_seconds_count") == 3
    assert delta("wirewatch_produce_to_slack_seconds_count") == 3
    assert delta("wirewatch_embed_seconds_count") >= 1
    assert delta("wirewatch_embed_batch_sentences_sum") >= 6
    versions = {dict(labels)["watchlist"] for (name, labels), v in after.items() if name == "wirewatch_watchlist_info" and v == 1}
    assert versions == {"sanctions", "rare_earths", "salt_typhoon"}
    lag_series = [labels for (name, labels) in after if name == "wirewatch_consumer_lag"]
    assert {dict(l)["topic"] for l in lag_series} >= {pipe.names.news, pipe.names.embedded, pipe.names.alerts}
    # Structured logs: JSON lines carrying the alert and item ids; the token never appears.
    log = pipe.worker_log()
    posted = [json.loads(line) for line in log.splitlines() if line.startswith("{") and "slack posted" in line]
    assert len(posted) == 3 and all(entry["alert_id"].startswith("ww1-") and entry["item_id"] for entry in posted)
    assert pipe.token not in log


def test_health_ready_and_status(pipe: Pipeline) -> None:
    base = f"http://127.0.0.1:{pipe.http_port}"
    with urllib.request.urlopen(f"{base}/health", timeout=5) as response:
        assert json.load(response) == {"alive": True}
    with urllib.request.urlopen(f"{base}/ready", timeout=5) as response:
        ready = json.load(response)
    assert ready["ready"] and ready["checks"]["partitions_assigned"] >= 3 and ready["checks"]["model_loaded"]
    out = subprocess.run(
        [sys.executable, "-m", "wirewatch", "status", "--url", base], cwd=REPO, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert "READY" in out.stdout and "watchlists   " in out.stdout and "sanctions@" in out.stdout
    assert "slack        ok" in out.stdout


def test_the_worker_serves_only_its_four_pages_and_no_paths(pipe: Pipeline) -> None:
    base = f"http://127.0.0.1:{pipe.http_port}"
    for path in ("/", "/router/", "/table/", "/table/slack_ledger/", "/graph/", "/stats/", "/performance/", "/nothing"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(base + path, timeout=5)
        assert refused.value.code == 404, path
    with urllib.request.urlopen(f"{base}/status", timeout=5) as response:
        text = response.read().decode()
    assert str(pipe.watchlists) not in text and str(REPO) not in text and str(pipe.workdir) not in text


def test_dead_man_speaks_once_when_news_stops_and_once_when_it_returns(pipe: Pipeline) -> None:
    # No news since the previous test: after SILENCE_S the dead-man posts exactly one message.
    wait_for(lambda: len(ops_messages(pipe)) >= 1, SILENCE_S + 30, "the dead-man message")
    time.sleep(3 * 2.0 + 1)  # several more checks while still silent: no repeat
    messages = ops_messages(pipe)
    assert len(messages) == 1 and "no news item" in messages[0]["text"]

    pipe.produce_items([{"id": "wake-up", "title": "Quiet day at the port", "body": "Nothing happened."}])
    wait_for(lambda: len(ops_messages(pipe)) >= 2, 30, "the recovery message")
    time.sleep(2 * 2.0 + 1)
    messages = ops_messages(pipe)
    assert len(messages) == 2
    texts = sorted(m["text"] for m in messages)
    assert any("recovered" in t for t in texts) and any("no news item" in t for t in texts)
