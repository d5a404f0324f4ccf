"""Child processes that die with their parent, and one way for every command to stop on a signal.

Supervisors (Docker, systemd, Kubernetes, `timeout`) stop a process with SIGTERM, whose default
action ends Python at once, skipping every `finally` that would stop a child. And a SIGKILL
skips everything. So:

- `install_stop_signals()` makes SIGTERM behave like Ctrl-C (KeyboardInterrupt), so the same
  clean-up runs for both; a second signal exits at once (code 1).
- Children are started with the parent-death signal (Linux `prctl(PR_SET_PDEATHSIG)`): the
  kernel signals the child the moment its parent dies, even by SIGKILL. It costs one libc call
  through ctypes, needs no extra package, and needs no watchdog thread or pipe that could itself
  die. Tansu gets SIGKILL (it keeps nothing worth a clean stop); our own Python children get
  SIGTERM, set by themselves at start (`die_with_parent()`), so that they stop their own children.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

PR_SET_PDEATHSIG = 1
PARENT_ENV = "WIREWATCH_PARENT_PID"  # set for our Python children: the pid they must not outlive
EXIT_FORCED = 1
EXIT_BROKER_LOST = 3  # the broker could not be reached, or was lost: a supervisor restarts the worker
EXIT_ACCESS_DENIED = 5  # the broker refused the login or its certificate: a restart will not help

_libc: Any = None
_signals_seen = 0


def _prctl() -> Callable[..., int] | None:
    global _libc
    if not sys.platform.startswith("linux"):
        return None
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc.prctl


def die_with_parent(sig: int = signal.SIGTERM, parent_pid: int | None = None) -> None:
    """Ask the kernel to send `sig` to this process when its parent dies (Linux; elsewhere nothing).

    If the parent is already gone (it died before this call), act on it now.
    """
    prctl = _prctl()
    if prctl is None:
        return
    prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if parent_pid is not None and os.getppid() != parent_pid:
        os.kill(os.getpid(), sig)


def follow_parent_from_env() -> None:
    """In a wirewatch child started by `spawn_python`: stop with SIGTERM when the parent dies."""
    raw = os.environ.pop(PARENT_ENV, "")
    if raw.isdigit():
        die_with_parent(signal.SIGTERM, int(raw))


def _kill_with_parent_preexec(parent_pid: int) -> Callable[[], None]:
    prctl = _prctl()  # looked up before the fork: the child only makes the call

    def preexec() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
            if os.getppid() != parent_pid:
                os._exit(EXIT_FORCED)

    return preexec


def spawn_binary(args: list[str], **popen: Any) -> "subprocess.Popen[bytes]":
    """Start a non-Python child (Tansu) that is SIGKILLed when this process dies."""
    return subprocess.Popen(args, preexec_fn=_kill_with_parent_preexec(os.getpid()), **popen)


def spawn_python(args: list[str], env: dict[str, str] | None = None, **popen: Any) -> "subprocess.Popen[bytes]":
    """Start `python -m wirewatch ARGS`; the child stops (SIGTERM) when this process dies."""
    child_env = dict(os.environ if env is None else env)
    child_env[PARENT_ENV] = str(os.getpid())
    return subprocess.Popen([sys.executable, "-m", "wirewatch", *args], env=child_env, **popen)


def _on_stop_signal(signum: int, frame: object) -> None:
    global _signals_seen
    _signals_seen += 1
    if _signals_seen > 1:
        print(f"wirewatch: second {signal.Signals(signum).name}, exiting now", file=sys.stderr, flush=True)
        os._exit(EXIT_FORCED)  # children still stop: they follow their parent's death
    raise KeyboardInterrupt


def install_stop_signals() -> None:
    """SIGTERM and SIGINT both raise KeyboardInterrupt once; a second one exits at once."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _on_stop_signal)


def descendants(pid: int) -> list[int]:
    """Every living descendant of `pid` (Linux /proc), for checks that nothing is left behind."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
