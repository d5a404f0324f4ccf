"""When an alert may interrupt people: immediately, in a digest every N minutes, or after quiet hours.

Plain logic: `DigestBuffers` holds the alerts, agents/logic/notifier.py posts the digests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from typing import Any, Generic, Sequence, TypeVar
from zoneinfo import ZoneInfo

from agents.logic.slack_render import escape_mrkdwn, safe_link, shorten
from agents.logic.watchlists import Delivery, Watchlist
from streams.records import Alert

DIGEST_EVENT = "wirewatch_digest"
MAX_DIGEST_LINES = 40
MAX_DIGEST_HELD = 200  # a buffer this full is posted at once, quiet hours or not: memory stays bounded
DIGEST_TEXT_LIMIT = 3000  # Slack: section text
HEADER_ROOM = 300
MAX_LINK_CHARS = 1000

Job = TypeVar("Job")


def in_quiet_hours(delivery: Delivery, now: datetime) -> bool:
    quiet = delivery.quiet_hours
    if quiet is None:
        return False
    local = now.astimezone(ZoneInfo(quiet.timezone)).time()
    start, end = time.fromisoformat(quiet.start), time.fromisoformat(quiet.end)
    return start <= local < end if start < end else (local >= start or local < end)


def quiet_hours_end(delivery: Delivery, now: datetime) -> datetime:
    """The next moment quiet hours end (now, if they are not on)."""
    quiet = delivery.quiet_hours
    if quiet is None or not in_quiet_hours(delivery, now):
        return now
    zone = ZoneInfo(quiet.timezone)
    local = now.astimezone(zone)
    end = datetime.combine(local.date(), time.fromisoformat(quiet.end), tzinfo=zone)
    if end <= local:
        end += timedelta(days=1)
    return end.astimezone(timezone.utc)


def held_until(delivery: Delivery, first_buffered: datetime, now: datetime) -> datetime | None:
    """None: post now. Otherwise when the buffer this alert joins is due."""
    quiet_end = quiet_hours_end(delivery, now)
    if delivery.mode == "digest":
        due = first_buffered + timedelta(minutes=delivery.digest_minutes)
        return max(due, quiet_end)
    return quiet_end if quiet_end > now else None


def _line(alert: Alert) -> str:
    item = alert.item
    title = escape_mrkdwn(shorten(item.title, 150))
    link = safe_link(item.url)
    headline = f"<{link}|{title}>" if link and len(link) <= MAX_LINK_CHARS else title
    source = escape_mrkdwn(shorten(item.source or "unknown source", 60))
    return f"• {headline} · {source} · score {alert.score:.2f}"


def render_digests(watchlist_name: str, alerts: Sequence[Alert], reason: str) -> list[tuple[list[Alert], dict[str, Any]]]:
    """The buffered matches as one or more messages, each within Slack's limits (at most
    MAX_DIGEST_LINES lines and DIGEST_TEXT_LIMIT characters): a long digest is split, never cut."""
    parts: list[list[tuple[Alert, str]]] = [[]]
    size = 0
    for alert in alerts:
        line = _line(alert)
        if parts[-1] and (len(parts[-1]) >= MAX_DIGEST_LINES or size + len(line) + 1 > DIGEST_TEXT_LIMIT - HEADER_ROOM):
            parts.append([])
            size = 0
        parts[-1].append((alert, line))
        size += len(line) + 1
    out = []
    for number, part in enumerate(parts, 1):
        count = len(part)
        of = f", part {number} of {len(parts)}" if len(parts) > 1 else ""
        header = f"*{escape_mrkdwn(shorten(watchlist_name, 150))}*: {count} match{'es' if count != 1 else ''} ({reason}{of})"
        text = header + "\n" + "\n".join(line for _, line in part)
        part_alerts = [alert for alert, _ in part]
        out.append((part_alerts, {
            "text": text,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
            "unfurl_links": False,
            "metadata": {"event_type": DIGEST_EVENT, "event_payload": {"alert_ids": [a.alert_id for a in part_alerts]}},
        }))
    return out


@dataclass
class DigestBuffer(Generic[Job]):
    """Alerts of one watchlist held for one channel, posted together when `due`."""

    first: datetime
    due: datetime
    watchlist_name: str
    reason: str
    jobs: list[Job] = field(default_factory=list)


class DigestBuffers(Generic[Job]):
    """Held alerts per (channel, watchlist id), for digest mode and quiet hours."""

    def __init__(self) -> None:
        self._buffers: dict[tuple[str, str], DigestBuffer[Job]] = {}

    def hold(self, channel: str, watchlist: Watchlist, job: Job, now: datetime) -> bool:
        """Buffer the job if the watchlist's delivery says so now; False: post it at once."""
        key = (channel, watchlist.id)
        buffer = self._buffers.get(key)
        until = held_until(watchlist.delivery, buffer.first if buffer else now, now)
        if until is None:
            return False
        if buffer is None:
            reason = "digest" if watchlist.delivery.mode == "digest" else "held during quiet hours"
            buffer = self._buffers[key] = DigestBuffer(first=now, due=until, watchlist_name=watchlist.name, reason=reason)
        buffer.due = max(buffer.due, until)
        buffer.jobs.append(job)
        if len(buffer.jobs) >= MAX_DIGEST_HELD:
            buffer.due = now  # capped: posted at the next tick rather than held without bound
        return True

    def take_due(self, now: datetime) -> list[tuple[str, DigestBuffer[Job]]]:
        """Remove and return the buffers whose time has come, with their channel."""
        due = [key for key, buffer in self._buffers.items() if buffer.due <= now]
        return [(key[0], self._buffers.pop(key)) for key in due]

    def __len__(self) -> int:
        return sum(len(buffer.jobs) for buffer in self._buffers.values())
