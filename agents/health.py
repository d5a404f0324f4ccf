"""What the pages and the watchdogs read off a running worker: readiness, lag, commit bases."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import faust

from agents.runtime import Runtime
from streams.commits import commit_base


@dataclass
class WorkerHealth:
    """Shared by agents/pages.py and agents/watchdogs.py: the last lag reading and dead-man state."""

    app: faust.App
    runtime: Runtime
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    deadman: dict[str, bool] = field(default_factory=dict)

    @property
    def source_topics(self) -> set[str]:
        names = self.runtime.settings.topic_names
        return {names.news, names.embedded, names.alerts}

    def readiness(self) -> dict[str, Any]:
        app, runtime = self.app, self.runtime
        try:
            assigned = [tp for tp in app.consumer.assignment() if tp.topic in self.source_topics]
            connected = True
        except Exception:  # noqa: BLE001 - not started yet or gone
            assigned, connected = [], False
        checks = {
            "broker_connected": connected,
            "partitions_assigned": len(assigned),
            "model_loaded": runtime.embedder is not None,
            "watchlists_active": runtime.registry.matcher is not None,
        }
        ready = connected and bool(assigned) and checks["model_loaded"] and checks["watchlists_active"] and not app.rebalancing
        return {"ready": ready, "checks": checks, "rebalancing": bool(app.rebalancing)}

    def read_lag(self) -> dict[tuple[str, int], int]:
        """Per assigned source partition: highwater (from the last fetch, exact even on Tansu)
        minus the committed offset. Kept for /status."""
        committed = getattr(self.app.consumer, "_committed_offset", {})
        self.lag = {
            (tp.topic, tp.partition): max(0, end - int(committed.get(tp) or 0))
            for tp, end in self._assigned_ends(self.source_topics)
            if end is not None
        }
        return self.lag

    def bases_and_ends(self, topics: set[str]) -> dict[tuple[str, int], tuple[int | None, int | None]]:
        """Per assigned partition of `topics`: the commit base (streams/commits.py) and the end offset."""
        return {(tp.topic, tp.partition): (commit_base(self.app.consumer, tp), end) for tp, end in self._assigned_ends(topics)}

    def _assigned_ends(self, topics: set[str]) -> list[tuple[Any, int | None]]:
        consumer = self.app.consumer
        try:
            assigned = consumer.assignment()
        except Exception:  # noqa: BLE001 - not started or gone: nothing to judge
            return []
        out: list[tuple[Any, int | None]] = []
        for tp in assigned:
            if tp.topic in topics:
                try:
                    end = consumer.highwater(tp)
                except Exception:  # noqa: BLE001
                    end = None
                out.append((tp, None if end is None else int(end)))
        return out
