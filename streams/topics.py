"""Topic names, declared once. A prefix lets several pipelines (or test runs) share one broker."""

from __future__ import annotations

from dataclasses import dataclass

NEWS = "news"
NEWS_EMBEDDED = "news.embedded"
ALERTS = "alerts"
DEADLETTER = "deadletter"
WATCHLIST_EVENTS = "watchlists.events"


@dataclass(frozen=True)
class TopicNames:
    prefix: str = ""

    @property
    def news(self) -> str:
        return self.prefix + NEWS

    @property
    def embedded(self) -> str:
        return self.prefix + NEWS_EMBEDDED

    @property
    def alerts(self) -> str:
        return self.prefix + ALERTS

    @property
    def deadletter(self) -> str:
        return self.prefix + DEADLETTER

    @property
    def watchlist_events(self) -> str:
        return self.prefix + WATCHLIST_EVENTS

    def all(self) -> tuple[str, ...]:
        """Every topic wirewatch reads or writes; created up front so agents never race on auto-creation."""
        return (self.news, self.embedded, self.alerts, self.deadletter, self.watchlist_events)
