"""Every change wirewatch makes to faust-streaming and aiokafka, installed from one function.

Each patch was written against, and measured with, exactly the releases in TESTED_VERSIONS (see
the README, "Changes to faust"). They reach into private methods, so a different release may
change what they patch: the worker refuses to start on one unless the override is set.

- **Commit repair** (streams/commits.py): faust can commit offsets past messages that were never
  processed after a rebalance; the repair commits only what was acknowledged.
- **End offsets** (streams/offsets.py): table recovery trusts ListOffsets, which Tansu answers
  short; the fix confirms each end offset with a fetch.
- **Fetch wait** (here): faust hard-codes aiokafka's `fetch_max_wait_ms` at 1,500 ms. A consumer
  of several partitions on Tansu then waits out most of that window before a new record reaches
  it (measured: a median of 483 ms at 1,500, 12 ms at 100, one group consumer on four
  partitions), and a news item crosses two such hops before it alerts.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import faust

from streams.commits import install_commit_fix
from streams.offsets import install_faust_highwater_fix

TESTED_VERSIONS = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}
OVERRIDE_ENV = "WIREWATCH_ALLOW_UNTESTED_FAUST"
FETCH_MAX_WAIT_MS = 100


def untested_versions() -> list[str]:
    """'package installed (tested: X)' for each patched package whose release differs."""
    out = []
    for package, tested in TESTED_VERSIONS.items():
        try:
            installed = version(package)
        except PackageNotFoundError:
            installed = "not installed"
        if installed != tested:
            out.append(f"{package} {installed} (tested: {tested})")
    return out


def check_versions(allow_untested: bool = False) -> None:
    differing = untested_versions()
    if differing and not allow_untested:
        raise SystemExit(
            "wirewatch patches private parts of faust and aiokafka and was tested only with "
            + ", ".join(f"{p}=={v}" for p, v in TESTED_VERSIONS.items())
            + "; installed: "
            + "; ".join(differing)
            + f". Install the tested releases, or set {OVERRIDE_ENV}=1 to start anyway at your own risk."
        )


def install_fetch_wait_fix() -> None:
    """Make faust's group consumers wait at most FETCH_MAX_WAIT_MS for new records. Idempotent."""
    from faust.transport.drivers import aiokafka as faust_aiokafka

    thread_cls = faust_aiokafka.AIOKafkaConsumerThread
    if getattr(thread_cls._create_worker_consumer, "_wirewatch_fixed", False):
        return
    original = thread_cls._create_worker_consumer

    def _create_worker_consumer(self, transport):  # type: ignore[no-untyped-def]
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when the consumer starts its fetcher
        return consumer

    _create_worker_consumer._wirewatch_fixed = True  # type: ignore[attr-defined]
    thread_cls._create_worker_consumer = _create_worker_consumer


def install_faust_patches(app: faust.App, commit_fix: bool = True, allow_untested: bool = False) -> None:
    """All of them, after the version check. `commit_fix=False` only for reproducing faust's loss."""
    check_versions(allow_untested)
    install_faust_highwater_fix()
    install_fetch_wait_fix()
    if commit_fix:
        install_commit_fix(app)
