"""Alert v1 for downstream teams: the schema is generated from the model, and it still accepts
everything the schema published before the model existed accepted (tests/data/alert.v1.published.json)."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest

from streams.records import Alert, InvalidMessage, NewsItem, alert_json_schema, make_alert_id
from tests.harness import REPO

PUBLISHED = json.loads((REPO / "tests" / "data" / "alert.v1.published.json").read_text())
CURRENT = json.loads((REPO / "streams" / "schemas" / "alert.v1.json").read_text())


def test_the_shipped_schema_is_the_generated_one() -> None:
    assert CURRENT == alert_json_schema(), "run `wirewatch alerts schema --write streams/schemas/alert.v1.json`"


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = root["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _types(node: dict[str, Any]) -> set[str]:
    if "anyOf" in node:
        return set().union(*(_types(option) for option in node["anyOf"]))
    kind = node.get("type")
    return {kind} if isinstance(kind, str) else set(kind or [])


def _never_stricter(old: dict[str, Any], new: dict[str, Any], where: str, root: dict[str, Any]) -> list[str]:
    """Every way in which `new` could refuse what `old` accepts, for the keywords the schemas use."""
    new = _resolve(new, root)
    found = []
    if _types(old) and _types(new) and not _types(old) <= _types(new):
        found.append(f"{where}: type {sorted(_types(old))} -> {sorted(_types(new))}")
    if "enum" in new and not set(old.get("enum", [None])) <= set(new["enum"]):
        found.append(f"{where}: enum narrowed")
    for key in ("const", "pattern"):
        if key in new and new[key] != old.get(key):
            found.append(f"{where}: {key} {old.get(key)!r} -> {new[key]!r}")
    for key in ("minLength", "minItems"):
        if new.get(key, 0) > old.get(key, 0):
            found.append(f"{where}: {key} raised")
    for key in ("maxLength", "maxItems", "maximum", "minimum"):
        if key in new and new[key] != old.get(key):
            found.append(f"{where}: {key} added or changed")
    if not set(new.get("required", [])) <= set(old.get("required", [])):
        found.append(f"{where}: newly required {sorted(set(new['required']) - set(old.get('required', [])))}")
    if old.get("additionalProperties", True) is not False and new.get("additionalProperties", True) is False:
        found.append(f"{where}: unknown fields refused")
    for name, old_child in old.get("properties", {}).items():
        if name not in new.get("properties", {}):
            found.append(f"{where}.{name}: removed")
        else:
            found += _never_stricter(old_child, new["properties"][name], f"{where}.{name}", root)
    if isinstance(old.get("items"), dict) and isinstance(new.get("items"), dict):
        found += _never_stricter(old["items"], new["items"], f"{where}[]", root)
    if isinstance(old.get("additionalProperties"), dict) and isinstance(new.get("additionalProperties"), dict):
        found += _never_stricter(old["additionalProperties"], new["additionalProperties"], f"{where}{{}}", root)
    return found


def test_the_generated_schema_is_never_stricter_than_the_published_one() -> None:
    assert _never_stricter(PUBLISHED, CURRENT, "alert", CURRENT) == []


def a_published_alert() -> dict[str, Any]:
    return {
        "schema_version": 1, "alert_id": make_alert_id("i", "sanctions"), "watchlist_id": "sanctions", "watchlist_name": "Sanctions",
        "watchlist_version": "0123456789abcdef", "severity": "high", "channels": ["#x"],
        "item": {"id": "i", "title": "T", "body": "", "url": "", "source": "", "published": "", "language": None},
        "score": 0.7, "matched_at": "2025-01-01T00:00:00.000Z", "stale": False,
        "evidence": {"sentence": "T", "matched": [{"kind": "keyword", "text": "OFAC", "found": "ofac"}],
                     "scores": {"semantic": 0.5, "lexical": 0.25, "counter": 0.1, "final": 0.55, "threshold": 0.5}},
    }


VARIANTS = {
    "as published": lambda a: a,
    "unknown fields everywhere": lambda a: {**a, "future": 1, "item": {**a["item"], "x": [1]}, "evidence": {**a["evidence"], "y": {}}},
    "optional fields of later writers": lambda a: {**a, "ingested_at": "2025-01-01T00:00:00.000Z", "story_signature": "AAEC", "item_body_truncated": True},
    "every severity and kind": lambda a: {**a, "severity": "critical", "evidence": {**a["evidence"], "matched": [
        {"kind": k, "text": "t"} for k in ("exemplar", "keyword", "entity", "context")]}},
    "a long item id": lambda a: {**a, "item": {**a["item"], "id": "x" * 600}},
    "extra scores": lambda a: {**a, "evidence": {**a["evidence"], "scores": {**a["evidence"]["scores"], "presearch": 0.2}}},
    "language as text": lambda a: {**a, "item": {**a["item"], "language": "ko"}},
}


@pytest.mark.parametrize("variant", VARIANTS, ids=list(VARIANTS))
def test_what_the_published_schema_accepted_the_generated_one_accepts(variant: str) -> None:
    alert = VARIANTS[variant](copy.deepcopy(a_published_alert()))
    jsonschema.validate(alert, PUBLISHED)
    jsonschema.validate(alert, CURRENT)


REFUSED = {
    "a made-up severity": lambda a: {**a, "severity": "apocalyptic"},
    "no channel": lambda a: {**a, "channels": []},
    "a malformed alert id": lambda a: {**a, "alert_id": "ww1-xyz"},
    "scores missing": lambda a: {**a, "evidence": {"sentence": "T", "matched": []}},
}


@pytest.mark.parametrize("variant", REFUSED, ids=list(REFUSED))
def test_both_schemas_and_the_reader_refuse_what_v1_never_allowed(variant: str) -> None:
    alert = REFUSED[variant](copy.deepcopy(a_published_alert()))
    for schema in (PUBLISHED, CURRENT):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(alert, schema)
    with pytest.raises(InvalidMessage, match="^alert: field "):
        Alert.from_bytes(json.dumps(alert).encode())


def test_an_exclude_term_beside_a_keyword_is_documented_evidence() -> None:
    """The matcher has always listed an exclude hit in a match that a keyword carried; the schema
    as first published did not name the kind, so it refused such alerts. It is named now."""
    alert = a_published_alert()
    alert["evidence"]["matched"].append({"kind": "exclude", "text": "sanctions relief", "found": "sanctions relief"})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(alert, PUBLISHED)
    jsonschema.validate(alert, CURRENT)
    assert Alert.from_bytes(json.dumps(alert).encode()).evidence["matched"][-1]["kind"] == "exclude"


def test_listed_entries_are_an_additive_field_both_schemas_accept() -> None:
    alert = a_published_alert()
    alert["evidence"]["listed"] = [{"list": "OFAC SDN", "entry_id": "12735", "name": "AL-ASSAD, Bashar", "found": "bashar al assad",
                                    "alias": "AL-ASSAD, Bashar", "alias_strength": "primary", "type": "individual",
                                    "programs": ["SYRIA"], "url": "https://sanctionssearch.ofac.treas.gov/Details.aspx?id=12735",
                                    "alone": True}]
    jsonschema.validate(alert, PUBLISHED)  # an old reader ignores it
    jsonschema.validate(alert, CURRENT)
    assert Alert.from_bytes(json.dumps(alert).encode()).evidence["listed"][0]["entry_id"] == "12735"
    alert["evidence"]["listed"][0]["entry_id"] = 12735
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(alert, CURRENT)


def test_the_reader_takes_what_an_earlier_v1_writer_left_out() -> None:
    old = a_published_alert()
    del old["watchlist_name"], old["stale"], old["item"]["language"]
    old["story_signature"] = None
    alert = Alert.from_bytes(json.dumps(old).encode())
    assert alert.watchlist_name == "sanctions" and alert.stale is False and alert.story_signature == ""
    assert Alert.from_bytes(alert.to_bytes()) == alert
    jsonschema.validate(json.loads(alert.to_bytes()), PUBLISHED)  # what we write still meets the published contract


def test_a_news_item_keeps_its_producer_aliases_and_reasons() -> None:
    item = NewsItem.from_dict({"id": 7, "title": " T ", "link": "https://x.test", "lang": "de", "other": 1})
    assert (item.id, item.title, item.url, item.language) == ("7", "T", "https://x.test", "de")
    with pytest.raises(InvalidMessage, match="must be a string, got int"):
        NewsItem.from_dict({"id": "a", "title": 5})
