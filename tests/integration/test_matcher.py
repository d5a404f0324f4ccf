"""The matcher with the real model on the shipped watchlists."""

from __future__ import annotations


import pytest

from agents.logic.chunking import chunk_item
from agents.logic.matcher import Matcher
from agents.logic.watchlists import load_watchlist_dir
from streams.records import NewsItem
from tests.harness import REPO, SAMPLE



@pytest.fixture(scope="module")
def matcher(embedder) -> Matcher:
    return Matcher.build(load_watchlist_dir(REPO / "config" / "watchlists"), embedder.encode)


def decide(matcher: Matcher, embedder, row: dict) -> dict[str, object]:
    item = NewsItem.from_dict(row)
    chunks = chunk_item(item)
    return {d.watchlist.id: d for d in matcher.decide_all(item.title, item.body, chunks, embedder.encode(chunks))}


def test_seed_story_matches_all_three_with_evidence(matcher: Matcher, embedder) -> None:
    decisions = decide(matcher, embedder, SAMPLE[0])
    assert {k for k, d in decisions.items() if d.matched} == {"sanctions", "rare_earths", "salt_typhoon"}
    evidence = decisions["salt_typhoon"].evidence
    assert "Salt Typhoon" in evidence["sentence"]
    assert any(m["kind"] == "keyword" and m["text"] == "Salt Typhoon" for m in evidence["matched"])
    assert set(evidence["scores"]) >= {"semantic", "lexical", "counter", "final", "threshold"}


@pytest.mark.parametrize("row", SAMPLE[1:], ids=lambda r: r["id"])
def test_clear_negatives_match_nothing(matcher: Matcher, embedder, row: dict) -> None:
    decisions = decide(matcher, embedder, row)
    assert not [k for k, d in decisions.items() if d.matched], {k: d.evidence["rule"] for k, d in decisions.items()}
