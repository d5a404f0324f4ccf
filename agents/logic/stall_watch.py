"""Notice a stage that has work waiting and makes no progress, so the worker can be restarted.

The embed and match stages never hold a message on purpose: each batch is done
in seconds. If a partition of their input has messages waiting past its
commit base and that base has not moved for `limit_s`, something inside the
worker is stuck (a hung model call, a fetch that stopped). Nothing is lost by
restarting then: everything past the base is read again. Kafka's own
`max.poll.interval.ms` kicks such a member out of its group for the same reason.

Plain state machine, no I/O: `observe` returns a reason to exit, or None.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Partition = tuple[str, int]


@dataclass
class StallWatch:
    limit_s: float
    _since: dict[Partition, tuple[int, float]] = field(default_factory=dict)  # base and when it was first seen

    def observe(self, now: float, positions: dict[Partition, tuple[int | None, int | None]]) -> str | None:
        """positions: per partition, (commit base, end offset); None where unknown (e.g. mid-rebalance)."""
        stuck: list[str] = []
        for partition, (base, end) in positions.items():
            if base is None or end is None or end <= base:
                self._since.pop(partition, None)  # unknown, or nothing waiting: no clock runs
                continue
            seen = self._since.get(partition)
            if seen is None or seen[0] != base:
                self._since[partition] = (base, now)
                continue
            waited = now - seen[1]
            if waited >= self.limit_s:
                topic, number = partition
                stuck.append(f"{topic}[{number}] at offset {base} with {end - base} waiting for {waited:.0f} s")
        for partition in set(self._since) - set(positions):
            del self._since[partition]  # revoked
        if not stuck:
            return None
        return "no progress on " + "; ".join(sorted(stuck))
