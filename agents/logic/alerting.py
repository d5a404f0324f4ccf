"""Turn a match decision into an Alert v1 record (shared by the match agent and `rescreen`)."""

from __future__ import annotations

from agents.logic.matcher import Decision
from streams.records import Alert, EmbeddedItem, make_alert_id, utc_now_iso

ALERT_SCHEMA_HEADER = ("wirewatch-schema", b"alert.v1")


def decision_to_alert(embedded: EmbeddedItem, decision: Decision) -> Alert:
    wl = decision.watchlist
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
    )


def alert_headers(alert: Alert, origin: str) -> list[tuple[str, bytes]]:
    return [
        ALERT_SCHEMA_HEADER,
        ("wirewatch-watchlist", alert.watchlist_id.encode()),
        ("wirewatch-origin", origin.encode()),
        ("content-type", b"application/json"),
    ]
