"""The stall check: a partition with messages waiting and a base that does not move for limit_s."""

from __future__ import annotations

from agents.logic.stall_watch import StallWatch

NEWS0 = ("news", 0)


def test_a_base_that_does_not_move_while_messages_wait_is_a_stall() -> None:
    watch = StallWatch(limit_s=60)
    assert watch.observe(0, {NEWS0: (8, 20)}) is None
    assert watch.observe(59, {NEWS0: (8, 20)}) is None
    reason = watch.observe(60, {NEWS0: (8, 20)})
    assert reason == "no progress on news[0] at offset 8 with 12 waiting for 60 s"


def test_progress_restarts_the_clock() -> None:
    watch = StallWatch(limit_s=60)
    watch.observe(0, {NEWS0: (8, 20)})
    assert watch.observe(50, {NEWS0: (9, 20)}) is None  # one message done
    assert watch.observe(100, {NEWS0: (9, 20)}) is None  # only 50 s at 9
    assert watch.observe(110, {NEWS0: (9, 20)}) is not None


def test_nothing_waiting_or_unknown_runs_no_clock() -> None:
    watch = StallWatch(limit_s=60)
    watch.observe(0, {NEWS0: (20, 20)})
    assert watch.observe(1000, {NEWS0: (20, 20)}) is None  # idle is not stuck
    watch.observe(1000, {NEWS0: (None, 25)})  # mid-rebalance: no base
    assert watch.observe(1070, {NEWS0: (20, 25)}) is None  # the clock starts again at 1070
    assert watch.observe(1130, {NEWS0: (20, 25)}) is not None


def test_a_revoked_partition_is_forgotten() -> None:
    watch = StallWatch(limit_s=60)
    watch.observe(0, {NEWS0: (8, 20)})
    watch.observe(30, {})
    assert watch.observe(80, {NEWS0: (8, 20)}) is None  # a fresh clock, not 80 s
