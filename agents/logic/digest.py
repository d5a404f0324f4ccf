"""When an alert may interrupt people: immediately, in a digest every N minutes, or after quiet hours.

Plain logic; agents/notify.py holds the buffered alerts and posts the digests.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Any, Sequence
from zoneinfo import ZoneInfo

from agents.logic.slack_render import escape_mrkdwn, safe_link, shorten
from agents.logic.watchlists import Delivery
from streams.records import Alert

DIGEST_EVENT = "wirewatch_digest"
MAX_DIGEST_LINES = 40


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


def render_digest(watchlist_name: str, alerts: Sequence[Alert], reason: str) -> dict[str, Any]:
    """One message listing the buffered matches, newest last, within Slack's limits."""
    lines = []
    for alert in list(alerts)[:MAX_DIGEST_LINES]:
        item = alert.item
        title = escape_mrkdwn(shorten(item.title, 150))
        link = safe_link(item.url)
        headline = f"<{link}|{title}>" if link else title
        source = escape_mrkdwn(shorten(item.source or "unknown source", 60))
        lines.append(f"• {headline} · {source} · score {alert.score:.2f}")
    more = len(alerts) - MAX_DIGEST_LINES
    if more > 0:
        lines.append(f"…and {more} more")
    header = f"*{escape_mrkdwn(watchlist_name)}*: {len(alerts)} match{'es' if len(alerts) != 1 else ''} ({reason})"
    text = shorten(header + "\n" + "\n".join(lines), 3000)
    return {
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        "unfurl_links": False,
        "metadata": {"event_type": DIGEST_EVENT, "event_payload": {"alert_ids": [a.alert_id for a in alerts]}},
    }
