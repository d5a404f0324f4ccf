"""Is an item too old to be a fresh alert? (published long ago, or replayed from a backlog)"""

from __future__ import annotations

from datetime import datetime, timezone

from streams.timefmt import parse_time

DEFAULT_STALE_AFTER_S = 48 * 3600.0


def seconds_since(text: str) -> float | None:
    """Age of a timestamp in seconds (for latency metrics), or None when absent or unreadable."""
    then = parse_time(text)
    return None if then is None else max(0.0, (datetime.now(timezone.utc) - then).total_seconds())


def is_stale(published: str, ingested_at: str, now: datetime, stale_after_s: float = DEFAULT_STALE_AFTER_S) -> bool:
    """Stale when the story was published, or reached the news topic, more than the cutoff ago.

    The second case is a backlog replayed after an outage: the story may be recent
    news by its date line, but the analysts should not get it as if it just broke.
    """
    for stamp in (parse_time(published), parse_time(ingested_at)):
        if stamp is not None and (now - stamp).total_seconds() > stale_after_s:
            return True
    return False
