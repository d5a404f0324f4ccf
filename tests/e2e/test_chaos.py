"""The fast faults of tests/chaos.py, counted: no item lost, no alert lost, no double post.

The long runs (1,000+ items, rebalance x10, the soak) are `python -m tests.chaos` (see the README).
Each fault here gets its own pipeline (topics, group, sink, worker processes) with real parts only.
"""

from __future__ import annotations

import pytest

from tests import chaos


@pytest.fixture(scope="module")
def expectation(embedder) -> chaos.Expectation:  # type: ignore[no-untyped-def]
    from wirewatch.bench import bench_items

    return chaos.Expectation(bench_items(152), embedder)


def assert_nothing_lost(row: dict[str, int]) -> None:
    assert row["items_produced"] == row["items_in"], f"the harness could not produce every item (not a pipeline loss): {row}"
    assert row["items_matched"] == row["items_in"], row
    assert row["alerts_on_topic"] == row["alerts_expected"], row
    assert row["lost"] == 0 and row["duplicated"] == 0 and row["out_of_order"] == 0, row
    assert row["alerts_expected"] > 0, "the items must produce alerts, or the Slack counts prove nothing"


def test_sigkill_during_a_stream(broker_url: str, expectation: chaos.Expectation) -> None:
    args = chaos.build_parser().parse_args(["--items", "80", "--rate", "8", "--kills", "2", "--settle", "240", "--seed", "7"])
    assert_nothing_lost(chaos.run_fault("kill", broker_url, expectation, "ci-kill", args))


def test_second_worker_joins_then_first_is_killed(broker_url: str, expectation: chaos.Expectation) -> None:
    args = chaos.build_parser().parse_args(["--items", "150", "--settle", "240", "--seed", "11"])
    assert_nothing_lost(chaos.run_fault("rebalance", broker_url, expectation, "ci-rebalance", args))


def test_slack_down_then_back(broker_url: str, expectation: chaos.Expectation) -> None:
    args = chaos.build_parser().parse_args(["--items", "40", "--rate", "4", "--slack-down", "20", "--settle", "240"])
    assert_nothing_lost(chaos.run_fault("slack-down", broker_url, expectation, "ci-slack", args))


def test_broker_lost_and_back_empty(expectation: chaos.Expectation) -> None:
    """Own broker. The worker must exit with a clear reason (it came back empty), then a restart carries on."""
    args = chaos.build_parser().parse_args(["--items", "40", "--broker-down", "8", "--settle", "240"])
    row = chaos.fault_broker_loss(expectation, "ci-broker", args)
    assert_nothing_lost(row)
    assert row["worker_exit_code"] == 3, row
