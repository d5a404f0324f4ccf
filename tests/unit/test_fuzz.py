"""Property-based fuzzing of every parser that sees outside input: each input either parses
or is refused with our own error type, never another exception (the worker dead-letters the
former and would crash on the latter)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.logic.watchlists import WatchlistErrors, parse_watchlist
from streams.records import Alert, EmbeddedItem, InvalidMessage, NewsItem

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=40,
)
news_like = st.fixed_dictionaries(
    {},
    optional={
        "id": json_values | st.text(max_size=300),
        "title": json_values | st.text(max_size=2000),
        "body": json_values | st.text(max_size=5000),
        "url": json_values,
        "lang": json_values,
        "published": json_values,
    },
)


def parses_or_refuses(parse, raw: bytes) -> None:
    try:
        parse(raw)
    except InvalidMessage as exc:
        assert str(exc)  # a reason for the dead-letter headers


@FUZZ
@given(st.binary(max_size=4000))
def test_news_parser_random_bytes(raw: bytes) -> None:
    parses_or_refuses(lambda r: NewsItem.from_bytes(r, 1_000_000), raw)


@FUZZ
@given(news_like)
def test_news_parser_wrong_types_and_odd_unicode(row: dict) -> None:
    parses_or_refuses(lambda r: NewsItem.from_bytes(r, 1_000_000), json.dumps(row).encode())


@FUZZ
@given(st.integers(min_value=1, max_value=100_000))
def test_news_parser_deep_json(depth: int) -> None:
    parses_or_refuses(lambda r: NewsItem.from_bytes(r, 10_000_000), ("[" * depth + "]" * depth).encode())
    parses_or_refuses(lambda r: NewsItem.from_bytes(r, 10_000_000), ('{"id":' * depth + "1" + "}" * depth).encode())


@FUZZ
@given(st.binary(max_size=2000) | json_values.map(lambda v: json.dumps(v).encode()))
def test_alert_and_embedded_parsers(raw: bytes) -> None:
    parses_or_refuses(Alert.from_bytes, raw)
    parses_or_refuses(EmbeddedItem.from_bytes, raw)


@FUZZ
@given(st.binary(max_size=3000) | st.text(max_size=3000).map(str.encode))
def test_watchlist_loader_random_input(raw: bytes) -> None:
    try:
        parse_watchlist(raw, "fuzz.yaml")
    except WatchlistErrors as exc:
        assert all(str(e).startswith("fuzz.yaml:") for e in exc.errors)


watchlist_like = st.fixed_dictionaries(
    {"id": st.text(max_size=20), "name": json_values, "channels": json_values, "exemplars": json_values},
    optional={"thresholds": json_values, "keywords": json_values, "entities": json_values, "rules": json_values, "extra": json_values},
)


@FUZZ
@given(watchlist_like)
def test_watchlist_loader_wrong_types(document: dict) -> None:
    import yaml

    try:
        parse_watchlist(yaml.safe_dump(document, allow_unicode=True).encode(), "fuzz.yaml")
    except WatchlistErrors as exc:
        assert all(str(e).startswith("fuzz.yaml:") for e in exc.errors)
