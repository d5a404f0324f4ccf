"""The dead-man check: notice silence, growing lag or a failing Slack, and say so once.

Plain state machine, no I/O: `observe` returns the messages to post. Each
condition fires one message when it starts and one when it clears, so a
flapping or lasting problem never floods the ops channel.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DeadManLimits:
    silence_s: float = 900.0  # no news item for this long
    lag: int = 1000  # unprocessed messages across the agents' partitions
    slack_failing_s: float = 300.0  # Slack failing without a success for this long


@dataclass(frozen=True)
class Observation:
    now: float
    last_item_at: float  # epoch s of the last news item (or of the worker start)
    lag: int
    slack_failing_since: float | None


@dataclass(frozen=True)
class Notice:
    condition: str  # silence | lag | slack
    firing: bool  # True: the problem started; False: it cleared
    text: str


@dataclass
class DeadMan:
    limits: DeadManLimits
    firing: dict[str, bool] = field(default_factory=lambda: {"silence": False, "lag": False, "slack": False})

    def observe(self, obs: Observation) -> list[Notice]:
        checks = {
            "silence": (obs.now - obs.last_item_at > self.limits.silence_s, f"no news item for {obs.now - obs.last_item_at:.0f} s (limit {self.limits.silence_s:.0f} s)"),
            "lag": (obs.lag > self.limits.lag, f"consumer lag is {obs.lag} messages (limit {self.limits.lag})"),
            "slack": (
                obs.slack_failing_since is not None and obs.now - obs.slack_failing_since > self.limits.slack_failing_s,
                "Slack has been failing for "
                f"{(obs.now - obs.slack_failing_since) if obs.slack_failing_since else 0:.0f} s (limit {self.limits.slack_failing_s:.0f} s)",
            ),
        }
        notices: list[Notice] = []
        for condition, (bad, detail) in checks.items():
            if bad and not self.firing[condition]:
                self.firing[condition] = True
                notices.append(Notice(condition, True, f":rotating_light: wirewatch dead-man: {detail}"))
            elif not bad and self.firing[condition]:
                self.firing[condition] = False
                notices.append(Notice(condition, False, f":white_check_mark: wirewatch recovered: {condition} is back to normal"))
        return notices
