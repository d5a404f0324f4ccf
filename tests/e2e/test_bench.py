"""`wirewatch bench` keeps working (a smoke run on 50 items; the figures themselves are not judged here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.harness import REPO

KEYS = {
    "ceiling_items_per_s", "pipeline_items_per_s", "naive_items_per_s", "p50_ms", "p99_ms",
    "offered_items_per_s", "backend", "batch_size", "cpu_count", "worker_rss_mb",
    "mix", "candidate_share", "alerts_per_10k_background", "latency_max_ms", "host_cpu", "worker_cpu_ms_per_item",
}


def test_bench_json_contract_on_50_items(broker_url: str, tmp_path) -> None:
    env = dict(os.environ, WIREWATCH_BROKER=broker_url, WIREWATCH_DATA_DIR=str(tmp_path), HF_HUB_OFFLINE="1")
    out = subprocess.run(
        [sys.executable, "-m", "wirewatch", "bench", "--items", "50", "--latency-seconds", "3", "--json"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=400,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)  # exactly one JSON object on stdout; progress goes to stderr
    assert KEYS <= set(result)
    for key in ("ceiling_items_per_s", "pipeline_items_per_s", "naive_items_per_s", "offered_items_per_s", "worker_rss_mb"):
        assert result[key] > 0, key
    assert result["latency_samples"] > 0 and result["latency_max_ms"] >= result["p99_ms"] >= result["p50_ms"] > 0
    assert result["worker_cpu_ms_per_item"] > 0
    for phase in ("pipeline", "latency"):  # this machine is Linux: /proc/stat is there
        assert 0 < result["host_cpu"][phase]["busy"] <= 1 and 0 <= result["host_cpu"][phase]["steal"] < 1, phase
    assert result["cpu_count"] == os.cpu_count() and result["items"] == 50
    # The enriched stream: dev items only, most of which reach the transformer.
    assert result["mix"] == {"background": 0, "relevant": 50, "non_english_background": 0} and result["alerts_per_10k_background"] is None
    assert 0.3 < result["candidate_share"] <= 1.0
