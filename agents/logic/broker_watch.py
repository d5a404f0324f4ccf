"""Decide when a worker must give up on its broker.

aiokafka reconnects forever, so a worker whose broker vanished would wait
forever, and one whose broker came back empty (the embedded memory broker
keeps nothing; a wiped Kafka volume does the same) would carry on with
offsets and a Slack ledger that no longer exist. Neither is visible from
Slack. The worker therefore exits with a clear message, and its supervisor
(docker compose `restart:`, systemd, Kubernetes) starts it again; a fresh
start recreates the topics and reads from the beginning.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class BrokerWatch:
    give_up_after_s: float
    down_since: float | None = None
    known_ends: dict[tuple[str, int], int] | None = None

    def observe(self, now: float, ends: dict[tuple[str, int], int] | None) -> str | None:
        """The reason to exit, or None to carry on. `ends`: watched partitions' end offsets, None if unreachable."""
        if ends is None:
            if self.down_since is None:
                self.down_since = now
            if now - self.down_since >= self.give_up_after_s:
                return f"unreachable for {now - self.down_since:.0f} s (limit {self.give_up_after_s:.0f} s)"
            return None
        self.down_since = None
        if self.known_ends is not None:
            missing = sorted(tp for tp in self.known_ends if tp not in ends)
            if missing:
                topic, partition = missing[0]
                return f"no longer has {topic}[{partition}]: it restarted empty or the topic was deleted"
            shrunk = sorted(tp for tp, end in ends.items() if end < self.known_ends.get(tp, 0))
            if shrunk:
                topic, partition = shrunk[0]
                return (
                    f"lost data: the end of {topic}[{partition}] went back from "
                    f"{self.known_ends[(topic, partition)]} to {ends[(topic, partition)]}"
                )
        if ends:
            merged = dict(self.known_ends or {})
            merged.update(ends)
            self.known_ends = merged
        return None
