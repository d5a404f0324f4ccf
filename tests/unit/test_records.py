from __future__ import annotations

import json

import jsonschema
import pytest

from streams.records import Alert, InvalidMessage, NewsItem, make_alert_id
from tests.harness import REPO

SCHEMA = json.loads((REPO / "streams" / "schemas" / "alert.v1.json").read_text())


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"{nope", "not JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"title": "x"}', "'id'"),
        (b'{"id": "a"}', "'title'"),
        (b'{"id": "a", "title": 5}', "must be a string"),
        (b'{"id": "a", "title": "\xff"}', "UTF-8"),
        (None, "empty message"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_news_item_rejects_with_a_reason(raw: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidMessage) as info:
        NewsItem.from_bytes(raw)
    assert reason in str(info.value)


def test_size_limit_is_checked_before_decoding() -> None:
    with pytest.raises(InvalidMessage, match="above the limit"):
        NewsItem.from_bytes(b'{"id":"a","title":"' + b"x" * 2000 + b'"}', max_bytes=1000)


def test_dev_data_aliases_are_accepted() -> None:
    item = NewsItem.from_dict({"id": "d1", "title": "T", "body": "B", "source_url": "https://x.test/a", "lang": "de"})
    assert item.url == "https://x.test/a" and item.language == "de"


def test_alert_id_is_deterministic_and_pair_specific() -> None:
    assert make_alert_id("item-1", "sanctions") == make_alert_id("item-1", "sanctions")
    assert make_alert_id("item-1", "sanctions") != make_alert_id("item-1", "rare_earths")
    assert make_alert_id("a\x1fb", "c") != make_alert_id("a", "b\x1fc")


def test_alert_round_trip_validates_against_the_published_schema() -> None:
    alert = Alert(
        alert_id=make_alert_id("i", "sanctions"), watchlist_id="sanctions", watchlist_name="Sanctions",
        watchlist_version="0123456789abcdef", severity="high", channels=["#x"],
        item=NewsItem(id="i", title="T"), score=0.7,
        evidence={"sentence": "T", "matched": [{"kind": "keyword", "text": "OFAC", "found": "ofac"}],
                  "scores": {"semantic": 0.5, "lexical": 0.25, "counter": 0.1, "final": 0.55, "threshold": 0.5}},
        matched_at="2025-01-01T00:00:00.000Z",
    )
    data = json.loads(alert.to_bytes())
    jsonschema.validate(data, SCHEMA)
    assert Alert.from_bytes(alert.to_bytes()) == alert
    data["severity"] = "apocalyptic"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, SCHEMA)
