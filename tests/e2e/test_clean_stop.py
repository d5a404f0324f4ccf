"""Every long-running command stops cleanly on SIGTERM, as a supervisor would send it.

Each test starts the real command, waits until it is up, notes its descendant processes and
ports, sends SIGTERM, and checks: exit code 0 within 10 s, no descendant left, ports free.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from streams.broker import free_port
from streams.processes import descendants
from tests.harness import REPO

pytestmark = pytest.mark.e2e
STOP_WITHIN_S = 10.0


@dataclass
class Stopped:
    code: int | None
    seconds: float
    left: list[int]
    busy_ports: list[int]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


STARTED: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _nothing_left_when_a_test_fails() -> Iterator[None]:
    yield
    while STARTED:
        proc = STARTED.pop()
        for pid in descendants(proc.pid):
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "wirewatch", *args], cwd=REPO, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT
    )
    STARTED.append(proc)
    return proc


def wait_until(proc: subprocess.Popen[bytes], log: Path, text: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in log.read_text(errors="replace"):
        assert proc.poll() is None, f"exited with {proc.returncode} before {text!r}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {text!r} after {timeout_s}s:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)


def stop_and_measure(proc: subprocess.Popen[bytes], ports: list[int], sig: int = signal.SIGTERM) -> Stopped:
    family = descendants(proc.pid)
    started = time.monotonic()
    proc.send_signal(sig)
    try:
        proc.wait(timeout=STOP_WITHIN_S)
    except subprocess.TimeoutExpired:
        pass
    took = time.monotonic() - started
    deadline = started + STOP_WITHIN_S  # parent-death signals arrive at once; a Python child then stops cleanly
    while any(alive(pid) for pid in family) and time.monotonic() < deadline:
        time.sleep(0.05)
    while any(port_in_use(port) for port in ports) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in family if alive(pid)]
    busy = [port for port in ports if port_in_use(port)]
    for pid in left:  # leave nothing behind even when the test fails
        os.kill(pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    print(f"\n{' '.join(proc.args[3:])}: {signal.Signals(sig).name} -> exit {proc.returncode} after {took:.2f}s; "
          f"{len(family)} descendants, {len(left)} left; ports busy: {busy}")
    return Stopped(proc.returncode, took, left, busy)


def assert_clean(stopped: Stopped) -> None:
    assert stopped.code == 0 and stopped.seconds < STOP_WITHIN_S, stopped
    assert not stopped.left, f"processes left behind: {stopped.left}"
    assert not stopped.busy_ports, f"ports still in use: {stopped.busy_ports}"


def test_broker_stops_on_sigterm_with_its_tansu(tmp_path: Path) -> None:
    port = free_port()
    proc = start(["broker", "--port", str(port)], tmp_path / "broker.log")
    wait_until(proc, tmp_path / "broker.log", "topics ready")
    assert len(descendants(proc.pid)) == 1  # Tansu
    assert_clean(stop_and_measure(proc, [port]))


def test_sigkilled_broker_takes_its_tansu_along(tmp_path: Path) -> None:
    port = free_port()
    proc = start(["broker", "--port", str(port)], tmp_path / "broker.log")
    wait_until(proc, tmp_path / "broker.log", "topics ready")
    stopped = stop_and_measure(proc, [port], signal.SIGKILL)
    assert stopped.code == -signal.SIGKILL
    assert not stopped.left and not stopped.busy_ports, stopped


def test_slack_sink_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    proc = start(["slack-sink", "--port", str(port)], tmp_path / "sink.log")
    wait_until(proc, tmp_path / "sink.log", "slack-sink: http")
    deadline = time.monotonic() + 10
    while not port_in_use(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert_clean(stop_and_measure(proc, [port]))


def _env_without_broker(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("WIREWATCH_BROKER", "SLACK_BOT_TOKEN", "SLACK_API_URL")}
    env.update(WIREWATCH_DATA_DIR=str(tmp_path / "data"), WIREWATCH_HTTP_PORT=str(free_port()), HF_HUB_OFFLINE="1")
    return env


def _worker_env(tmp_path: Path) -> dict[str, str]:
    """The worker alone needs a Slack address; nothing is posted in these tests."""
    return _env_without_broker(tmp_path) | {"SLACK_BOT_TOKEN": "xoxb-unused", "SLACK_API_URL": f"http://127.0.0.1:{free_port()}/api/"}


def test_worker_with_its_embedded_broker_stops_on_sigterm(tmp_path: Path) -> None:
    env = _worker_env(tmp_path)
    proc = start(["worker"], tmp_path / "worker.log", env)
    wait_until(proc, tmp_path / "worker.log", "Worker ready")
    family = descendants(proc.pid)
    assert family, "the embedded broker should be a child of the worker"
    assert_clean(stop_and_measure(proc, [int(env["WIREWATCH_HTTP_PORT"])]))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_demo_stops_with_everything_it_started(tmp_path: Path, sig: int) -> None:
    env = _env_without_broker(tmp_path)
    proc = start(["run", "--demo"], tmp_path / "demo.log", env)
    wait_until(proc, tmp_path / "demo.log", "Worker ready")
    assert len(descendants(proc.pid)) >= 3  # broker, sink, worker
    stopped = stop_and_measure(proc, [int(env["WIREWATCH_HTTP_PORT"])], sig)
    if sig == signal.SIGTERM:
        assert_clean(stopped)
    else:  # the demo cannot clean up; its children must still go, by the parent-death signal
        assert not stopped.left and not stopped.busy_ports, stopped


def test_a_second_signal_forces_the_exit(tmp_path: Path) -> None:
    env = _env_without_broker(tmp_path)
    proc = start(["run", "--demo"], tmp_path / "demo.log", env)
    wait_until(proc, tmp_path / "demo.log", "Worker ready")
    family = descendants(proc.pid)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)  # the demo is now stopping its worker, which takes seconds
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=3) == 1  # forced, not the clean 0
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in family) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in family if alive(pid)]
