"""Shared fixtures: one broker per session (a separately started `wirewatch broker`), one model load."""

from __future__ import annotations

import os
import subprocess
import sys
import signal
import time
from pathlib import Path
from typing import Iterator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Every process the tests start inherits this mark, so the session's end can find any left behind.
SESSION_MARK = f"wirewatch-tests-{os.getpid()}-{time.time_ns()}"
os.environ["WIREWATCH_TEST_SESSION"] = SESSION_MARK

from streams.broker import free_port, wait_for_port  # noqa: E402
from tests.harness import REPO, Pipeline, stop  # noqa: E402


TIERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each test carries its tier's mark (its folder), so `-m unit` and the like select by tier."""
    for item in items:
        tier = Path(str(item.fspath)).parent.name
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def broker_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """WIREWATCH_TEST_BROKER if given (any Kafka), else `wirewatch broker` as its own process."""
    given = os.environ.get("WIREWATCH_TEST_BROKER")
    if given:
        yield given
        return
    port = free_port()
    folder = tmp_path_factory.mktemp("broker")
    log = folder / "broker.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "wirewatch", "broker", "--port", str(port), "--log", str(folder / "tansu.log")],
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


@pytest.fixture(scope="session")
def static_encoder(embedder):
    """The static presearch model (built once if the install step did not build it)."""
    from streams.settings import Settings
    from wirewatch.screening_setup import ensure_static

    return ensure_static(Settings(), embedder.encode, glossary())


def glossary():
    from agents.logic.gloss import Glossary

    return Glossary.load(REPO / "config" / "glossary.yaml")


@pytest.fixture(scope="session")
def screener(embedder, static_encoder):
    """The shipped watchlists with their presearch, as a worker compiles them."""
    from agents.logic.screening import Screener
    from agents.logic.watchlists import load_watchlist_dir

    return Screener.build(load_watchlist_dir(REPO / "config" / "watchlists"), embedder.encode, static_encoder, glossary())


@pytest.fixture(scope="session")
def multilingual_screener(embedder, static_encoder):
    """The shipped watchlists as a worker compiles them by default: with the multilingual model."""
    from agents.logic.crosslingual import MultilingualModel, parse_languages
    from agents.logic.screening import Screener
    from agents.logic.watchlists import load_watchlist_dir
    from streams.settings import Settings

    return Screener.build(
        load_watchlist_dir(REPO / "config" / "watchlists"), embedder.encode, static_encoder, glossary(),
        multilingual=MultilingualModel(), glossary_languages=parse_languages(Settings().glossary_languages),
    )


@pytest.fixture
def pipeline(broker_url: str, tmp_path: Path, static_encoder) -> Iterator[Pipeline]:
    pipe = Pipeline(broker_url=broker_url, workdir=tmp_path).start()
    try:
        yield pipe
    finally:
        pipe.close()


def marked_processes() -> list[tuple[int, str]]:
    """(pid, command line) of living processes that carry this session's mark, other than pytest."""
    needle = f"WIREWATCH_TEST_SESSION={SESSION_MARK}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue  # exited; only its exit status is left
            found.append((int(entry.name), (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")))
        except OSError:
            continue
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any broker, sink or worker the tests started is still alive."""
    deadline = time.monotonic() + 10
    left = marked_processes()
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = marked_processes()
    if not left:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
    for pid, cmdline in left:
        if reporter is not None:
            reporter.write_line(f"LEFT BEHIND by the tests: pid {pid}: {cmdline[:200]}", red=True)
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
