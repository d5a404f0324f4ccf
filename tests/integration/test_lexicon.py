"""One automaton pass finds exactly what a term-by-term scan finds."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.logic.lexicon import Hit
from agents.logic.matcher import Matcher
from agents.logic.textnorm import FoldedText, find_name
from agents.logic.watchlists import load_watchlist_dir
from tests.harness import REPO


def _matcher() -> Matcher:
    return Matcher.build(load_watchlist_dir(REPO / "config" / "watchlists"), lambda texts: np.ones((len(texts), 4), dtype=np.float32))


MATCHER = _matcher()


def scan_term_by_term(doc: FoldedText) -> list[list[Hit]]:
    """The reference: each term and each name looked up on its own, as the matcher once did."""
    out = []
    for c in MATCHER.compiled:
        hits: list[Hit] = []
        for kind, terms in (("keyword", c.keywords), ("context", c.context), ("exclude", c.exclude)):
            seen_words: set[str] = set()
            for term in terms:
                found = term.find(doc)
                if found is not None and found not in seen_words:
                    seen_words.add(found)
                    hits.append(Hit(kind, term.text, found))
        seen: set[str] = set()
        for canonical, name in c.entity_names:
            if canonical in seen:
                continue
            found = find_name(name, doc)
            if found is not None:
                seen.add(canonical)
                hits.append(Hit("entity", canonical if name == canonical else f"{canonical} ({name})", found))
        out.append(hits)
    return out


def test_the_index_finds_what_the_scan_finds_on_real_news() -> None:
    rows = [json.loads(line) for line in (REPO / "config" / "labelled" / "news-dev-labelled.jsonl").read_text().splitlines()]
    rows += [json.loads(line) for line in (REPO / "config" / "sample-news.jsonl").read_text().splitlines()]
    with_hits = 0
    for row in rows:
        doc = FoldedText.of(f"{row['title']}\n{row.get('body', '')}")
        expected = scan_term_by_term(doc)
        assert MATCHER.lexicon.hits(doc) == expected, row["id"]
        with_hits += any(expected)
    assert with_hits > 100


# Text built from the lists' own words, misspelt, reordered and mixed with other words.
VOCABULARY = sorted(
    {w for c in MATCHER.compiled for t in (*c.keywords, *c.context, *c.exclude) for w in t.text.rstrip("*").split()}
    | {w for c in MATCHER.compiled for _, name in c.entity_names for w in name.split()}
)
words = st.sampled_from(VOCABULARY) | st.sampled_from(["the", "of", "and", "said", "Typhon", "Sanktion", "saltt", "tyfoon"]) | st.text(max_size=8)


@settings(max_examples=300, deadline=None)
@given(st.lists(words, max_size=40))
def test_the_index_finds_what_the_scan_finds_on_generated_text(parts: list[str]) -> None:
    doc = FoldedText.of(" ".join(parts))
    assert MATCHER.lexicon.hits(doc) == scan_term_by_term(doc)
