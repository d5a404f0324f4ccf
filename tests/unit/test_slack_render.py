from __future__ import annotations

import json

from agents.logic.slack_render import escape_mrkdwn, render_alert, safe_link, shorten
from streams.records import Alert, NewsItem, make_alert_id

INJECTIONS = ["<!channel>", "<@U123>", "<http://evil|click>", "<!here>", "&lt;"]


def make_alert(title: str, body: str = "", url: str = "https://example.com/a", sentence: str | None = None) -> Alert:
    return Alert(
        alert_id=make_alert_id("i", "w"), watchlist_id="w", watchlist_name="Watch <b>", watchlist_version="0" * 16,
        severity="high", channels=["#c"], item=NewsItem(id="i", title=title, body=body, url=url, source="Src"),
        score=0.8, matched_at="2025-01-01T00:00:00Z",
        evidence={"sentence": sentence if sentence is not None else title,
                  "matched": [{"kind": "keyword", "text": "OFAC", "found": "ofac"}],
                  "scores": {"semantic": 0.5, "lexical": 0.25, "counter": 0.1, "final": 0.8, "threshold": 0.5}},
    )


def test_injection_strings_arrive_escaped_everywhere() -> None:
    text = " ".join(INJECTIONS)
    message = render_alert(make_alert(title=f"Story {text}", sentence=f"OFAC said {text}"))
    dumped = json.dumps(message)
    for raw in ("<!channel>", "<@U123>", "<http://evil|click>", "<!here>"):
        assert raw not in dumped
    assert "&lt;!channel&gt;" in message["text"]
    assert "&amp;lt;" in dumped  # an already-escaped entity is escaped again, so it shows literally


def test_links_only_http_and_cannot_break_out() -> None:
    assert safe_link("javascript:alert(1)") is None
    assert safe_link("https://x.test/a|b>c") == "https://x.test/a%7Cb%3Ec"
    message = render_alert(make_alert(title="T", url="https://x.test/a|<!channel>"))
    assert "<!channel>" not in json.dumps(message)


def test_hit_terms_are_bold_and_metadata_carries_alert_id() -> None:
    message = render_alert(make_alert(title="OFAC designates a firm"))
    assert "*OFAC*" in message["blocks"][1]["text"]["text"]
    assert message["metadata"]["event_payload"]["alert_id"] == make_alert_id("i", "w")


def test_long_text_stays_within_slack_limits() -> None:
    message = render_alert(make_alert(title="word " * 5000, sentence="word " * 5000))
    assert len(message["text"]) <= 4000 * 2  # escaped fallback stays far below Slack's 40,000
    for block in message["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
    assert shorten("alpha beta gamma", 11) == "alpha beta…"
    assert escape_mrkdwn("a & <b>") == "a &amp; &lt;b&gt;"


def test_a_listed_entry_shows_with_its_number_and_official_record() -> None:
    alert = make_alert("Ivor Volkharsk flew to Dubai")
    entry = {"list": "OFAC SDN", "entry_id": "102", "name": "VOLKHARSK, Ivor <@channel>", "found": "ivor volkharsk",
             "alias": "VOLKHARSKY, Ivor", "alias_strength": "aka", "type": "individual", "programs": ["FICTA"],
             "url": "https://sanctionssearch.ofac.treas.gov/Details.aspx?id=102", "alone": True}
    listed = alert.model_copy(update={"evidence": {**alert.evidence, "listed": [entry, {**entry, "url": "javascript:x", "alone": False}]}})
    text = json.dumps(render_alert(listed)["blocks"])
    assert "Listed: *VOLKHARSK, Ivor &lt;@channel&gt;*" in text and "OFAC SDN #102 (individual, FICTA)" in text
    assert "<https://sanctionssearch.ofac.treas.gov/Details.aspx?id=102|official record>" in text
    assert "javascript:" not in text and "(too common a name to alert on its own)" in text
    assert "Listed:" not in json.dumps(render_alert(alert)["blocks"])
