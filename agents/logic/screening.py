"""The one place where news items become decisions: chunk, presearch, embed the candidates, match.

The embed and match agents, `rescreen`, `evaluate`, `calibrate`, `watchlists test`, the bench and
the chaos checks all call this module, so an offline figure comes from the same chunking, the same
presearch and the same matcher as a live alert. Plain Python: no Faust, no Kafka.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from agents.logic.chunking import chunk_text
from agents.logic.crosslingual import MultilingualModel, Route
from agents.logic.gloss import GLOSS_PREFIX, Glossary, embedding_text
from agents.logic.lexicon import Hit
from agents.logic.matcher import Decision, Encode, Matcher, searchable_text
from agents.logic.presearch import Presearch
from agents.logic.static_model import StaticEncoder, is_built
from agents.logic.watchlists import LoadedWatchlist

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextItem:
    id: str
    title: str
    body: str


@dataclass(frozen=True)
class Prepared:
    """An item's chunks (what the model reads) and its hits on every list (what the terms find)."""

    title: str
    body: str
    chunks: list[str]
    hits: list[list[Hit]]
    route: Route = Route("en")

    @property
    def texts(self) -> list[str]:
        return [embedding_text(chunk) for chunk in self.chunks]


@dataclass(frozen=True)
class Screened:
    item: TextItem
    decisions: list[Decision]
    passed: dict[str, str] = field(default_factory=dict)  # presearch: list id -> lexical | semantic

    @property
    def candidate(self) -> bool:
        return bool(self.passed)

    @property
    def matched_ids(self) -> set[str]:
        return {d.watchlist.id for d in self.decisions if d.matched}


class Screener:
    """A compiled set of watchlists (one version of each) with its presearch."""

    def __init__(self, matcher: Matcher, presearch: Presearch | None, glossary: Glossary | None = None):
        self.matcher = matcher
        self.presearch_stage = presearch  # None: every item goes to the transformer
        self.glossary = glossary

    @classmethod
    def build(
        cls, loaded: Sequence[LoadedWatchlist], encode: Encode, static: StaticEncoder | None, glossary: Glossary | None,
        enabled: bool = True, multilingual: MultilingualModel | None = None, glossary_languages: frozenset[str] = frozenset(),
    ) -> "Screener":
        matcher = Matcher.build(loaded, encode, multilingual, glossary_languages)
        return cls(matcher, Presearch(matcher.compiled, static, matcher.multilingual) if enabled else None, glossary)

    @property
    def versions(self) -> dict[str, str]:
        return self.matcher.versions

    def prepare(self, title: str, body: str) -> Prepared:
        chunks = chunk_text(title, body, self.glossary)
        hits = self.matcher.lexicon.hits(searchable_text(title, body, chunks))
        return Prepared(title, body, chunks, hits, self.matcher.route(title, body))

    def presearch(self, prepared: Sequence[Prepared]) -> list[dict[str, str]]:
        """Per item, the lists it could match; an empty dict: skip the transformer, nothing matches."""
        if self.presearch_stage is None:
            return [{c.watchlist.id: "presearch off" for c in self.matcher.compiled} for _ in prepared]
        # The lead as chunked (title and first sentence, 600 characters each at most): a generic title
        # ("Communiqué") still has its first sentence read, and a huge one costs no more.
        leads = [(p.route, [c for c in p.chunks[:2] if not c.startswith(GLOSS_PREFIX)]) for p in prepared]
        return self.presearch_stage.passes([p.hits for p in prepared], [p.texts for p in prepared], leads)

    def decide(self, prepared: Prepared, vectors: np.ndarray) -> list[Decision]:
        """The full matcher, exactly as without a presearch, for every list."""
        return self.matcher.decide_all(prepared.title, prepared.body, prepared.chunks, vectors, prepared.hits, prepared.route)

    def decide_embedded(self, title: str, body: str, chunks: Sequence[str], vectors: np.ndarray) -> list[Decision]:
        return self.matcher.decide_all(title, body, chunks, vectors)

    def skipped(self) -> list[Decision]:
        """What the cascade decides for an item no list passed: no match, nothing eligible."""
        return [
            Decision(c.watchlist, c.loaded.version, False, 0.0, _skipped_evidence(c.watchlist.thresholds.match), False)
            for c in self.matcher.compiled
        ]

    def screen(self, items: Sequence[TextItem], encode: Encode, full: bool = False, batch_items: int = 64) -> list[Screened]:
        """Offline screening: the cascade (or, with `full`, the transformer on every item), embedding
        the candidates in batches of `batch_items`, one model call per batch, as the embed agent does."""
        out: list[Screened] = []
        for start in range(0, len(items), batch_items):
            part = items[start : start + batch_items]
            prepared = [self.prepare(item.title, item.body) for item in part]
            passed = self.presearch(prepared)
            todo = [k for k in range(len(part)) if full or passed[k]]
            vectors = encode([text for k in todo for text in prepared[k].texts])
            rows: dict[int, np.ndarray] = {}
            offset = 0
            for k in todo:
                rows[k] = vectors[offset : offset + len(prepared[k].chunks)]
                offset += len(prepared[k].chunks)
            for k, item in enumerate(part):
                decisions = self.decide(prepared[k], rows[k]) if k in rows else self.skipped()
                out.append(Screened(item, decisions, passed[k]))
        return out


def _skipped_evidence(threshold: float) -> dict[str, object]:
    scores = {"semantic": 0.0, "lexical": 0.0, "counter": 0.0, "final": 0.0, "threshold": threshold}
    return {"sentence": "", "sentence_index": 0, "matched": [], "scores": scores, "rule": SKIPPED_RULE}


SKIPPED_RULE = "skipped by the presearch: no term, and too far in meaning to reach the threshold"


def cascade_view(screened: Sequence[Screened], screener: Screener) -> list[Screened]:
    """What the cascade decides, from a full screening: items no list passed match nothing."""
    return [s if s.candidate else Screened(s.item, screener.skipped(), s.passed) for s in screened]


def load_static(directory: Path) -> StaticEncoder | None:
    """The static presearch model, or None (then every item reaches the transformer) with a warning."""
    if not is_built(directory):
        log.warning("no static presearch model in %s (`wirewatch presearch build`): every item goes to the transformer", directory)
        return None
    return StaticEncoder(directory)
