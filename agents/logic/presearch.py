"""Stage 1 of the screening cascade: which watchlists an item could possibly match.

Almost nothing on a real feed is relevant to any list, and the transformer is what limits
throughput, so an item reaches it only if some list could match it:

- **Lexical.** The item holds one of the list's keywords or entity names (LexicalIndex, the same
  hits the full matcher uses). Those items always go on.
- **Cross-lingual.** An item routed to the multilingual model (agents.logic.crosslingual.Route)
  whose title or first sentence comes within TITLE_GATE_BELOW of the list's cross-lingual threshold
  goes on for that list (two short texts per item through that model, batched: about 3 ms an item).
- **Semantic.** Otherwise the list can only match on meaning: the matcher's own arithmetic gives
  the transformer similarity the item would need (`semantic_needed`), and a static estimate of that
  similarity (agents.logic.static_model) must reach the list's cut-off for that level.

The cut-offs are computed from data, never set by hand (`calibrate_gate`): over a corpus encoded by
both models, plus the list's own exemplars scored against each other, the cut-off for a level is
the lowest estimate seen on any sentence whose transformer similarity came within CALIBRATION_MARGIN
of that level. They are recomputed whenever a list is compiled, so a reload moves them with the
exemplars. The presearch may only skip work: an item that passes is decided by the full matcher.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from agents.logic.crosslingual import TITLE_GATE_BELOW, MultilingualModel, Route
from agents.logic.lexicon import Hit
from agents.logic.matcher import (
    CONTEXT_BONUS,
    ENTITY_BONUS,
    KEYWORD_BONUS,
    MAX_CONTEXT_COUNTED,
    SEMANTIC_WEIGHT,
    CompiledWatchlist,
    implicit_rules,
)
from agents.logic.static_model import StaticEncoder
from agents.logic.watchlists import Watchlist

CALIBRATION_MARGIN = 0.06  # transformer similarity below a level whose sentences still set its cut-off
LEVEL_STEP = 0.02
MIN_SAMPLES = 10  # fewer sentences than this at a level: use the cut-off of the level below (lower, safer)
LEXICAL = "lexical"
SEMANTIC = "semantic"
ALWAYS = "no static model"
CROSSLINGUAL = "cross-lingual"


def names_a_look_alike(hits: Sequence[Hit]) -> bool:
    """An exclude term with no keyword or entity: the matcher can never match (matcher.py)."""
    kinds = {hit.kind for hit in hits}
    return "exclude" in kinds and not kinds & {"keyword", "entity"}


def semantic_needed(watchlist: Watchlist, hits: Sequence[Hit]) -> float:
    """The lowest transformer similarity at which this item could match the list, given its hits
    (math.inf: it cannot match at all). Counter-examples are ignored: they only ever veto."""
    kinds = {hit.kind for hit in hits}
    if names_a_look_alike(hits):
        return math.inf
    if any(hit.listed is not None and hit.listed.alone for hit in hits):
        return -1.0  # a distinctive listed name matches whatever the rules and thresholds (matcher.py)
    n_context = sum(1 for hit in hits if hit.kind == "context")
    lexical = KEYWORD_BONUS * ("keyword" in kinds) + ENTITY_BONUS * ("entity" in kinds) + CONTEXT_BONUS * min(n_context, MAX_CONTEXT_COUNTED)
    by_score = (watchlist.thresholds.match - lexical) / SEMANTIC_WEIGHT
    by_rule = math.inf
    for rule in watchlist.rules or implicit_rules(watchlist):
        if all(need == "semantic" or need in kinds for need in rule.require):
            by_rule = min(by_rule, rule.min_semantic if "semantic" in rule.require else -1.0)
    return max(by_score, by_rule)


@dataclass(frozen=True)
class SemanticGate:
    """For one list: the static estimate an item needs, per transformer similarity level."""

    cutoffs: np.ndarray  # cutoffs[k]: for a needed similarity of at least k * LEVEL_STEP
    samples: int  # calibration sentences at the list's semantic-alone level

    def cutoff(self, needed: float) -> float:
        k = int(math.floor(max(needed, 0.0) / LEVEL_STEP + 1e-9))
        return float(self.cutoffs[min(k, len(self.cutoffs) - 1)])


def calibrate_gate(
    exemplar_minilm: np.ndarray,
    exemplar_estimate: np.ndarray,
    corpus_minilm: np.ndarray,
    corpus_estimate: np.ndarray,
    semantic_alone: float,
) -> SemanticGate:
    """Cut-offs from (transformer, estimate) pairs: corpus sentences, and each exemplar against the others."""
    truth = [(corpus_minilm @ exemplar_minilm.T).max(axis=1)]
    guess = [(corpus_estimate @ exemplar_estimate.T).max(axis=1)]
    if len(exemplar_minilm) > 1:
        among_m = exemplar_minilm @ exemplar_minilm.T
        among_e = exemplar_estimate @ exemplar_estimate.T
        np.fill_diagonal(among_m, -1.0)
        np.fill_diagonal(among_e, -1.0)
        truth.append(among_m.max(axis=1))
        guess.append(among_e.max(axis=1))
    m, e = np.concatenate(truth), np.concatenate(guess)
    levels = np.arange(0.0, 1.0 + 1e-9, LEVEL_STEP)
    cutoffs = np.full(len(levels), -1.0, dtype=np.float32)  # -1: every estimate passes
    for k, level in enumerate(levels):
        near = m >= level - CALIBRATION_MARGIN
        if near.sum() >= MIN_SAMPLES:
            cutoffs[k] = e[near].min()
        elif k:
            cutoffs[k] = cutoffs[k - 1]
    samples = int((m >= semantic_alone - CALIBRATION_MARGIN).sum())
    return SemanticGate(cutoffs, samples)


class Presearch:
    """The lists' gates, compiled with the lists; `passes` says which lists each item may match."""

    def __init__(self, compiled: Sequence[CompiledWatchlist], static: StaticEncoder | None, multilingual: MultilingualModel | None = None):
        self.compiled = list(compiled)
        self.static = static
        self.multilingual = multilingual
        self.exemplar_estimates: list[np.ndarray] = []
        self.gates: list[SemanticGate] = []
        if static is not None:
            for c in self.compiled:
                estimate = static.encode(list(c.watchlist.exemplars))
                self.exemplar_estimates.append(estimate)
                self.gates.append(
                    calibrate_gate(
                        c.exemplar_vectors, estimate, static.corpus_minilm, static.corpus_estimate, c.watchlist.thresholds.semantic_alone
                    )
                )

    def passes(
        self, hits: Sequence[Sequence[Sequence[Hit]]], chunks: Sequence[Sequence[str]], leads: Sequence[tuple[Route, Sequence[str]]] = (),
    ) -> list[dict[str, str]]:
        """Per item: {list id: why it passed} (lexical, cross-lingual, semantic); an empty dict means
        no list can match."""
        out: list[dict[str, str]] = []
        pending: list[tuple[int, int, float]] = []  # (item, list, similarity needed) for the semantic test
        for i, item_hits in enumerate(hits):
            passed: dict[str, str] = {}
            for j, (c, list_hits) in enumerate(zip(self.compiled, item_hits)):
                needed = semantic_needed(c.watchlist, list_hits)
                if needed > 1.0:
                    continue
                if any(hit.kind in ("keyword", "entity") for hit in list_hits):
                    passed[c.watchlist.id] = LEXICAL
                elif self.static is None:
                    passed[c.watchlist.id] = ALWAYS
                else:
                    pending.append((i, j, needed))
            out.append(passed)
        if self.multilingual is not None and leads:
            self._crosslingual(hits, leads, out)
        pending = [(i, j, needed) for i, j, needed in pending if self.compiled[j].watchlist.id not in out[i]]
        if pending:
            self._semantic(pending, chunks, out)
        return out

    def _crosslingual(self, hits: Sequence[Sequence[Sequence[Hit]]], leads: Sequence[tuple[Route, Sequence[str]]], out: list[dict[str, str]]) -> None:
        """The cross-lingual gate: each routed item's lead (its title and first sentence) against each
        list's exemplars, in one model call for the batch."""
        assert self.multilingual is not None
        items = [i for i, (route, _) in enumerate(leads) if route.crosslingual]
        texts = [text for i in items for text in leads[i][1]]
        if not texts:
            return
        vectors = self.multilingual.encode(texts)
        start = 0
        for i in items:
            rows = vectors[start : start + len(leads[i][1])]
            start += len(leads[i][1])
            for j, c in enumerate(self.compiled):
                wid = c.watchlist.id
                # The rule ignores the list's rules (their terms are English) but not a look-alike's exclude term.
                if wid in out[i] or not c.crosslingual or not len(rows) or names_a_look_alike(hits[i][j]):
                    continue
                if float((rows @ c.xl_exemplars.T).max()) >= c.watchlist.thresholds.crosslingual - TITLE_GATE_BELOW:
                    out[i][wid] = CROSSLINGUAL

    def _semantic(self, pending: list[tuple[int, int, float]], chunks: Sequence[Sequence[str]], out: list[dict[str, str]]) -> None:
        assert self.static is not None
        items = sorted({i for i, _, _ in pending})
        texts = [text for i in items for text in chunks[i]]
        estimates = self.static.encode(texts)
        start, rows = 0, {}
        for i in items:
            rows[i] = estimates[start : start + len(chunks[i])]
            start += len(chunks[i])
        for i, j, needed in pending:
            if not len(rows[i]):
                continue
            best = float((rows[i] @ self.exemplar_estimates[j].T).max())
            if best >= self.gates[j].cutoff(needed):
                out[i][self.compiled[j].watchlist.id] = SEMANTIC
