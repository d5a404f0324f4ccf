"""The Slack ledger forgets rows older than its retention, per partition, and only those."""

from __future__ import annotations

from agents.logic.ledger_retention import LedgerRetention


def test_rows_older_than_the_retention_expire_in_the_order_written() -> None:
    retention = LedgerRetention(retention_s=100.0)
    retention.index(0, [])
    for at, key in ((10.0, "a|#c"), (20.0, "b|#c"), (150.0, "c|#c")):
        retention.note(0, key, at)
    assert retention.expired(0, now=115.0) == ["a|#c"]
    assert retention.expired(0, now=115.0) == []  # each key is returned once
    assert retention.expired(0, now=500.0) == ["b|#c", "c|#c"]
    assert len(retention) == 0


def test_partitions_are_independent() -> None:
    retention = LedgerRetention(retention_s=10.0)
    retention.note(0, "a", 0.0)
    retention.note(1, "b", 0.0)
    assert retention.expired(1, now=100.0) == ["b"]
    assert len(retention) == 1


def test_index_takes_only_this_partitions_stamped_rows_oldest_first() -> None:
    rows = [
        ("x", {"state": "posted", "at": 50.0, "p": 2}),
        ("y", {"state": "posted", "at": 5.0, "p": 2}),
        ("z", {"state": "posted", "at": 1.0, "p": 3}),  # another partition
        ("old", {"state": "posted"}),  # written before rows were stamped: never expired
        ("bad", "not a row"),
    ]
    retention = LedgerRetention(retention_s=10.0)
    assert retention.needs_index(2)
    retention.index(2, rows)
    assert not retention.needs_index(2)
    assert retention.expired(2, now=100.0) == ["y", "x"]
    retention.forget_partitions()
    assert retention.needs_index(2) and len(retention) == 0


def test_memory_stays_flat_under_a_steady_stream() -> None:
    retention = LedgerRetention(retention_s=60.0)
    sizes = []
    for second in range(10_000):
        retention.note(second % 4, f"alert-{second}|#c", float(second))
        retention.expired(second % 4, now=float(second))
        if second % 1000 == 999:
            sizes.append(len(retention))
    assert max(sizes) - min(sizes) <= 4 and max(sizes) <= 64
