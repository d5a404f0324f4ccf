"""Turn a match decision into an Alert v1 record (shared by the match agent and `rescreen`)."""

from __future__ import annotations

from datetime import datetime, timezone

from agents.logic.gloss import GLOSS_PREFIX
from agents.logic.matcher import Decision
from agents.logic.staleness import DEFAULT_STALE_AFTER_S, is_stale
from agents.logic.stories import signature, story_vector
from streams.records import Alert, EmbeddedItem, make_alert_id
from streams.timefmt import utc_now_iso

ALERT_SCHEMA_HEADER = ("wirewatch-schema", b"alert.v1")


def decision_to_alert(
    embedded: EmbeddedItem, decision: Decision, stale_after_s: float = DEFAULT_STALE_AFTER_S, now: datetime | None = None
) -> Alert:
    wl = decision.watchlist
    gloss_rows = sum(1 for chunk in embedded.chunks if chunk.startswith(GLOSS_PREFIX))
    now = now or datetime.now(timezone.utc)
    return Alert(
        alert_id=make_alert_id(embedded.item.id, wl.id),
        watchlist_id=wl.id,
        watchlist_name=wl.name,
        watchlist_version=decision.version,
        severity=wl.severity,
        channels=list(wl.channels),
        item=embedded.item,
        score=decision.score,
        evidence=decision.evidence,
        matched_at=utc_now_iso(),
        ingested_at=embedded.ingested_at,
        stale=is_stale(embedded.item.published, embedded.ingested_at, now, stale_after_s),
        story_signature=signature(story_vector(embedded.vectors, gloss_rows)) if len(embedded.vectors) else "",
    )


def alert_headers(alert: Alert, origin: str) -> list[tuple[str, bytes]]:
    return [
        ALERT_SCHEMA_HEADER,
        ("wirewatch-watchlist", alert.watchlist_id.encode()),
        ("wirewatch-origin", origin.encode()),
        ("content-type", b"application/json"),
    ]
