"""Topic names, declared once. Partition counts come from settings."""

from __future__ import annotations

NEWS = "news"
NEWS_EMBEDDED = "news.embedded"
ALERTS = "alerts"
DEADLETTER = "deadletter"
WATCHLIST_EVENTS = "watchlists.events"

#: Every topic wirewatch reads or writes; created up front so that agents never race on auto-creation.
ALL_TOPICS: tuple[str, ...] = (NEWS, NEWS_EMBEDDED, ALERTS, DEADLETTER, WATCHLIST_EVENTS)
