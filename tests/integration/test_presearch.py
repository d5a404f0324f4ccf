"""The screening cascade's presearch: the arithmetic it shares with the matcher, its data-computed
cut-offs, and the rule that it may only skip work, never change a decision."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest

from agents.logic.lexicon import Hit
from agents.logic.presearch import CALIBRATION_MARGIN, LEVEL_STEP, MIN_SAMPLES, calibrate_gate, semantic_needed
from agents.logic.screening import TextItem
from agents.logic.steps import PreparedNews, prepare_news, presearch_each
from agents.logic.watchlists import Watchlist
from tests.harness import REPO
from wirewatch.pathological import pathological_items


def watchlist(**extra) -> Watchlist:
    return Watchlist.model_validate(
        {"id": "w", "name": "W", "channels": ["#w"], "exemplars": ["e"], "thresholds": {"match": 0.5, "semantic_alone": 0.62}, **extra}
    )


def hits(*kinds: str) -> list[Hit]:
    return [Hit(kind, f"t{k}", f"f{k}") for k, kind in enumerate(kinds)]


def test_semantic_needed_follows_the_matchers_score_and_rules() -> None:
    wl = watchlist()
    assert semantic_needed(wl, hits("keyword")) == pytest.approx((0.5 - 0.25) / 0.6)
    assert semantic_needed(wl, hits("keyword", "entity")) == pytest.approx(0.0)
    # No term: only the semantic-alone rule, and the score must still reach 0.5 from semantics.
    assert semantic_needed(wl, []) == pytest.approx(0.5 / 0.6)
    # Context adds a little (three at most), the semantic-alone floor stays.
    assert semantic_needed(wl, hits("context", "context", "context", "context")) == pytest.approx(0.62)
    # A look-alike term with no keyword or entity can never match.
    assert semantic_needed(wl, hits("exclude", "context")) == math.inf


def test_semantic_needed_with_explicit_rules() -> None:
    named_only = watchlist(rules=[{"name": "named", "require": ["keyword"]}])
    assert semantic_needed(named_only, []) == math.inf
    assert semantic_needed(named_only, hits("keyword")) == pytest.approx(0.25 / 0.6)
    context_and_meaning = watchlist(rules=[{"name": "c", "require": ["context", "semantic"], "min_semantic": 0.7}])
    assert semantic_needed(context_and_meaning, hits("context")) == pytest.approx((0.5 - 0.05) / 0.6)  # the score binds, not 0.7
    assert semantic_needed(context_and_meaning, hits("context", "context", "context")) == pytest.approx(0.7)
    assert semantic_needed(context_and_meaning, []) == math.inf


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_a_gate_cutoff_is_the_lowest_estimate_of_any_sentence_near_the_level() -> None:
    rng = np.random.default_rng(3)
    exemplar = _unit(rng.standard_normal((1, 8)))
    corpus = _unit(rng.standard_normal((400, 8)))
    truth = (corpus @ exemplar.T).ravel()
    noise = _unit(corpus + 0.3 * rng.standard_normal(corpus.shape))  # a cheap, noisy estimate of the same vectors
    guess = (noise @ exemplar.T).ravel()
    gate = calibrate_gate(exemplar, exemplar, corpus, noise, semantic_alone=0.6)
    for level in (0.2, 0.4, 0.6):
        near = truth >= level - CALIBRATION_MARGIN
        if near.sum() >= MIN_SAMPLES:
            assert gate.cutoff(level) == pytest.approx(guess[near].min(), abs=1e-6)
    # Non-decreasing in the level, and every corpus sentence that reaches a level passes its cut-off.
    levels = np.arange(0, 1.0, LEVEL_STEP)
    cutoffs = [gate.cutoff(x) for x in levels]
    assert all(a <= b + 1e-9 for a, b in zip(cutoffs, cutoffs[1:]))
    for level in levels:
        assert (guess[truth >= level] >= gate.cutoff(level) - 1e-6).all()


def test_a_level_with_too_few_sentences_uses_the_lower_levels_cutoff() -> None:
    exemplar = np.array([[1.0, 0.0]], dtype=np.float32)
    corpus = _unit(np.array([[1.0, 2.0]] * 50 + [[1.0, 0.05]] * 3, dtype=np.float32))  # 50 far sentences, 3 close ones
    gate = calibrate_gate(exemplar, exemplar, corpus, corpus, semantic_alone=0.9)
    assert gate.cutoff(0.99) == gate.cutoff(0.4) <= 0.5  # three samples do not set a level on their own


def test_the_cascade_decides_exactly_as_the_full_matcher_on_what_it_passes(screener, embedder) -> None:
    rows = [json.loads(line) for line in (REPO / "config" / "labelled" / "news-dev-labelled.jsonl").read_text().splitlines()][:40]
    items = [TextItem(r["id"], r["title"], r.get("body", "")) for r in rows]
    cascade = screener.screen(items, embedder.encode)
    full = screener.screen(items, embedder.encode, full=True)
    assert any(s.candidate for s in cascade)
    for c, f in zip(cascade, full):
        if c.candidate:
            assert [(d.watchlist.id, d.matched, d.score) for d in c.decisions] == [(d.watchlist.id, d.matched, d.score) for d in f.decisions]
        else:
            assert not c.matched_ids
    kept = sum(len(c.matched_ids & f.matched_ids) for c, f in zip(cascade, full))
    assert kept == sum(len(f.matched_ids) for f in full) > 20


def test_unrelated_news_is_skipped(screener) -> None:
    stories = [
        ("Arsenal beat Chelsea 2-1 in a late derby", "A header in the 89th minute settled the match at the Emirates."),
        ("Bakery chain opens ten new shops", "The company said sourdough sales rose by a fifth over the summer."),
        ("Heavy rain expected on the coast this weekend", "Forecasters warned of flooding in low-lying areas."),
    ]
    passed = screener.presearch([screener.prepare(title, body) for title, body in stories])
    assert passed == [{}, {}, {}]


@pytest.mark.parametrize("name", list(pathological_items(1000)))
def test_a_1mb_item_built_to_be_slow_is_screened_in_under_a_second(screener, name: str) -> None:
    """Parsing, chunking, glossing, every term look-up and the static presearch: the work every item
    pays before the model. Measured at 0.15-0.47 s on 2 cores (scripts/hostile_items.py)."""
    raw = json.dumps({"id": name, **pathological_items(1_000_000)[name]}, ensure_ascii=False).encode()
    started = time.perf_counter()
    prepared = prepare_news(raw, 1_000_000, screener)
    assert isinstance(prepared, PreparedNews)
    [passed] = presearch_each(screener, [prepared])
    assert time.perf_counter() - started < 1.0
    assert isinstance(passed, dict)
