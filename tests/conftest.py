"""Shared fixtures: one broker per session (a separately started `wirewatch broker`), one model load."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from streams.broker import free_port, wait_for_port  # noqa: E402
from tests.harness import REPO, Pipeline, stop  # noqa: E402


@pytest.fixture(scope="session")
def broker_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """WIREWATCH_TEST_BROKER if given (any Kafka), else `wirewatch broker` as its own process."""
    given = os.environ.get("WIREWATCH_TEST_BROKER")
    if given:
        yield given
        return
    port = free_port()
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "wirewatch", "broker", "--port", str(port)],
        cwd=REPO, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    wait_for_port("127.0.0.1", port, 20)
    deadline = time.monotonic() + 20
    while "topics ready" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    yield f"kafka://127.0.0.1:{port}"
    stop(proc)


@pytest.fixture(scope="session")
def embedder():
    from agents.logic.embedder import Embedder

    return Embedder()


@pytest.fixture
def pipeline(broker_url: str, tmp_path: Path) -> Iterator[Pipeline]:
    pipe = Pipeline(broker_url=broker_url, workdir=tmp_path).start()
    try:
        yield pipe
    finally:
        pipe.close()
