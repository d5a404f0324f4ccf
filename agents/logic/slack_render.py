"""Render an alert as a Slack Block Kit message that is safe and readable.

News text is untrusted. Slack gives `<`, `>` and `&` meaning in mrkdwn
(`<!channel>`, `<@U123>`, `<http://x|label>`), so every piece of news text is
escaped before it is placed in a message; only our own markup is added after.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from agents.logic.evidence_text import closest_exemplar, language_note, matched_terms, score_line
from streams.records import Alert

SECTION_TEXT_LIMIT = 3000  # Slack: section text
FALLBACK_TEXT_LIMIT = 4000  # Slack truncates `text` beyond 40,000; 4,000 is the advice
CONTEXT_TEXT_LIMIT = 2000
HEADLINE_LIMIT = 300
SENTENCE_LIMIT = 600
METADATA_EVENT = "wirewatch_alert"
SEVERITY_MARK = {"low": "🔵", "medium": "🟡", "high": "🟠", "critical": "🔴"}


def escape_mrkdwn(text: str) -> str:
    """Slack's own escaping: only these three characters are control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def shorten(text: str, limit: int) -> str:
    """Cut at a word boundary and mark the cut, so no word or entity is split."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


def safe_link(url: str) -> str | None:
    """Only http(s) links, with the characters that would break `<url|label>` percent-encoded."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C").replace(" ", "%20")


def _bold_hits(sentence: str, found_terms: list[str]) -> str:
    """Escape the sentence, then bold each matched term (matched case-insensitively)."""
    escaped = escape_mrkdwn(sentence)
    for term in sorted({t for t in found_terms if t and len(t) >= 2}, key=len, reverse=True):
        pattern = re.compile(r"(?<![\w*])(" + re.escape(escape_mrkdwn(term)).replace(r"\ ", r"[\s\-]+") + r")(?![\w*])", re.IGNORECASE)
        escaped = pattern.sub(r"*\1*", escaped, count=3)
    return escaped


def _why(evidence: dict[str, Any]) -> str:
    """The terms and the exemplar that made the match, for the analyst reading the alert."""
    terms = [f"{m['kind']} “{escape_mrkdwn(shorten(str(m.get('text', '')), 80))}”" for m in matched_terms(evidence)][:4]
    exemplar = closest_exemplar(evidence)
    if exemplar:
        terms.append(f"like “{escape_mrkdwn(shorten(exemplar, 120))}”")
    return shorten("Why: " + "; ".join(terms), CONTEXT_TEXT_LIMIT) if terms else "Why: semantic similarity"


def _listed_line(evidence: dict[str, Any]) -> str:
    """Designated-party entries the story names, each with a link to its official record."""
    entries = evidence.get("listed")
    if not isinstance(entries, list):
        return ""
    lines = []
    for entry in [e for e in entries if isinstance(e, dict)][:3]:
        name = escape_mrkdwn(shorten(str(entry.get("name", "")), 120))
        where = escape_mrkdwn(f"{entry.get('list', '')} #{entry.get('entry_id', '')}")
        kind = escape_mrkdwn(shorten(", ".join([str(entry.get("type", ""))] + [str(p) for p in entry.get("programs", []) or []][:4]), 120))
        alias = str(entry.get("alias", ""))
        also = f", as “{escape_mrkdwn(shorten(alias, 80))}”" if alias and alias != entry.get("name") else ""
        link = safe_link(str(entry.get("url", "")))
        record = f" · <{link}|official record>" if link else ""
        support = "" if entry.get("alone", True) else " (too common a name to alert on its own)"
        lines.append(f":pushpin: Listed: *{name}*{also} — {where} ({kind}){support}{record}")
    return "\n".join(lines)  # each part is bounded, so the whole stays under the section limit


def render_alert(alert: Alert, also_reported_by: str | None = None) -> dict[str, Any]:
    """chat.postMessage arguments (text, blocks, metadata) for one alert."""
    item = alert.item
    ev = alert.evidence
    title = escape_mrkdwn(shorten(item.title, HEADLINE_LIMIT))
    link = safe_link(item.url)
    headline = f"*<{link}|{title}>*" if link else f"*{title}*"
    source = escape_mrkdwn(shorten(item.source or (urlsplit(item.url).netloc if link else "") or "unknown source", 120))
    published = escape_mrkdwn(shorten(item.published or "time unknown", 60))
    mark = SEVERITY_MARK.get(alert.severity, "")
    watch = f"{mark} *{escape_mrkdwn(alert.watchlist_name)}* · {escape_mrkdwn(alert.severity)}"

    found = [m.get("found", "") for m in ev.get("matched", []) if m.get("kind") in ("keyword", "entity", "context")]
    sentence = _bold_hits(shorten(str(ev.get("sentence", "")), SENTENCE_LIMIT), found)
    why = _why(ev)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": shorten(f"{headline}\n{source} · {published}", SECTION_TEXT_LIMIT)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": shorten(f"{watch}\n> {sentence}", SECTION_TEXT_LIMIT)}},
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": shorten(why, CONTEXT_TEXT_LIMIT)},
                {"type": "mrkdwn", "text": f"{score_line(ev, alert.score)} · item `{escape_mrkdwn(shorten(item.id, 120))}` · alert `{alert.alert_id}`"},
            ],
        },
    ]
    listed = _listed_line(ev)
    if listed:
        blocks.insert(2, {"type": "section", "text": {"type": "mrkdwn", "text": listed}})
    note = language_note(ev)
    if note:
        blocks[-1]["elements"].insert(1, {"type": "mrkdwn", "text": f":globe_with_meridians: {escape_mrkdwn(shorten(note, CONTEXT_TEXT_LIMIT))}"})
    if also_reported_by:
        blocks.insert(0, {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Also reported by {escape_mrkdwn(shorten(also_reported_by, 200))}"}]})
    fallback = shorten(
        f"[{alert.watchlist_name} · {alert.severity}] {item.title} ({item.source or 'unknown source'}) {ev.get('sentence', '')}",
        FALLBACK_TEXT_LIMIT,
    )
    return {
        "text": escape_mrkdwn(fallback),
        "blocks": blocks,
        "unfurl_links": False,
        "unfurl_media": False,
        "metadata": {
            "event_type": METADATA_EVENT,
            "event_payload": {
                "alert_id": alert.alert_id,
                "watchlist_id": alert.watchlist_id,
                "item_id": shorten(item.id, 200),
                "story_signature": alert.story_signature,
            },
        },
    }


def render_console(alert: Alert) -> str:
    """A plain, readable line block for a terminal."""
    ev = alert.evidence
    terms = ", ".join(f"{m['kind']}:{m.get('found', m.get('text', ''))}" for m in matched_terms(ev))
    return (
        f"ALERT [{alert.watchlist_id}/{alert.severity}] {alert.item.title}\n"
        f"  source: {alert.item.source or alert.item.url or '-'}  published: {alert.item.published or '-'}\n"
        f"  why: {shorten(str(ev.get('sentence', '')), 200)}\n"
        f"  evidence: {terms or 'semantic only'}; {score_line(ev, alert.score)}; rule: {ev.get('rule', '-')}\n"
        f"  channels: {', '.join(alert.channels)}  alert_id: {alert.alert_id}"
    )
