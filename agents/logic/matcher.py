"""The hybrid matcher: semantic similarity + keywords + entities + counter-examples.

Every decision returns its evidence (best sentence, what it matched, each
score), so an analyst can see why an item matched, and a miss can be
debugged from the same record.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from agents.logic.crosslingual import CrossLingualScore, EncodeMany, MultilingualModel, Route, closest, item_language, language_label
from agents.logic.gloss import GLOSS_PREFIX
from agents.logic.lexicon import Hit, LexicalIndex, ListTerms
from agents.logic.listed_names import ListedName
from agents.logic.textnorm import FoldedText, Term
from agents.logic.watchlists import LoadedWatchlist, Rule, Watchlist

log = logging.getLogger(__name__)

SEMANTIC_WEIGHT = 0.6
KEYWORD_BONUS = 0.25
ENTITY_BONUS = 0.25
CONTEXT_BONUS = 0.05
MAX_CONTEXT_COUNTED = 3

Encode = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Decision:
    watchlist: Watchlist
    version: str
    matched: bool
    score: float
    evidence: dict[str, Any]
    eligible: bool  # a rule is satisfied and no counter-example vetoes: only the score threshold decides
    alone: bool = False  # matched whatever the score: a distinctive listed name, or the cross-lingual rule

    def hit_at(self, threshold: float) -> bool:
        """Whether it would match at another score threshold (calibration tries several)."""
        return self.eligible and (self.alone or self.score >= threshold)


@dataclass
class CompiledWatchlist:
    """A watchlist with its exemplar vectors and parsed terms, built once per version."""

    loaded: LoadedWatchlist
    exemplar_vectors: np.ndarray
    counter_vectors: np.ndarray
    keywords: list[Term] = field(default_factory=list)
    context: list[Term] = field(default_factory=list)
    exclude: list[Term] = field(default_factory=list)
    entity_names: list[tuple[str, str]] = field(default_factory=list)  # (canonical, name or alias)
    listed: list[ListedName] = field(default_factory=list)  # forms of the names on its entity sources
    # The multilingual model's encoder; the exemplars and counter-examples are encoded with it once
    # per version, when an item first needs them or when the worker warms the version up
    # (Matcher.warm_up), whichever comes first; the other waits for that result.
    multilingual: EncodeMany | None = None
    _xl: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _xl_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def build(cls, loaded: LoadedWatchlist, encode: Encode, multilingual: EncodeMany | None = None) -> "CompiledWatchlist":
        wl = loaded.watchlist
        vectors = encode(list(wl.exemplars) + list(wl.counter_examples))
        return cls(
            loaded=loaded,
            exemplar_vectors=vectors[: len(wl.exemplars)],
            counter_vectors=vectors[len(wl.exemplars) :],
            keywords=[Term.parse(k) for k in wl.keywords],
            context=[Term.parse(k) for k in wl.context],
            exclude=[Term.parse(k) for k in wl.exclude],
            entity_names=[(e.name, n) for e in wl.entities for n in (e.name, *e.aliases)],
            listed=[name for edition in loaded.editions for name in edition.names],
            multilingual=multilingual,
        )

    @property
    def crosslingual(self) -> bool:
        return self.multilingual is not None

    def _xl_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        with self._xl_lock:
            if self._xl is None:
                assert self.multilingual is not None
                wl = self.watchlist
                vectors = self.multilingual(list(wl.exemplars) + list(wl.counter_examples))
                self._xl = (vectors[: len(wl.exemplars)], vectors[len(wl.exemplars) :])
            return self._xl

    @property
    def xl_exemplars(self) -> np.ndarray:
        return self._xl_vectors()[0]

    @property
    def xl_counters(self) -> np.ndarray:
        return self._xl_vectors()[1]

    @property
    def watchlist(self) -> Watchlist:
        return self.loaded.watchlist

    @property
    def terms(self) -> ListTerms:
        return ListTerms(self.keywords, self.context, self.exclude, self.entity_names, self.listed)

    def decide(
        self, chunks: Sequence[str], vectors: np.ndarray, hits: list[Hit], route: Route | None = None, xl: "CrossLingualView | None" = None
    ) -> Decision:
        """The decision from the item's vectors and its hits on this list (LexicalIndex.hits); for an
        item not in English, also from its sentences in the multilingual space (`xl`)."""
        wl = self.watchlist
        th = wl.thresholds
        sims = vectors @ self.exemplar_vectors.T  # (chunks, exemplars)
        best_chunk, best_exemplar = np.unravel_index(int(np.argmax(sims)), sims.shape)
        semantic = float(sims[best_chunk, best_exemplar])
        counter, counter_text = self._closest_counter(vectors)
        kinds = {h.kind for h in hits}
        lexical = lexical_bonus(hits)
        score = SEMANTIC_WEIGHT * semantic + lexical
        # A counter-example closer than every exemplar vetoes, even with a keyword present:
        # keywords such as 'sanctions' or 'typhoon' are exactly what false alarms share.
        # Only a named entity (a specific organisation or person) overrides it.
        vetoed = counter > semantic + th.counter_margin and "entity" not in kinds
        excluded = "exclude" in kinds and not kinds & {"keyword", "entity"}
        rule = _first_satisfied_rule(wl, kinds, semantic)
        # A distinctive name from a designated-party list answers the list's question by itself:
        # the story names someone the team may not deal with, whatever else it is about.
        named = next((h.listed for h in hits if h.listed is not None and h.listed.alone), None)
        if named is not None and (rule is None or score < th.match):
            rule = f"named on {named.entry.list_name}"
        eligible = not vetoed and not excluded and rule is not None
        matched = eligible and (score >= th.match or named is not None)
        # Always tried, as it matches whatever the score threshold (a calibration must see it: hit_at).
        crossed = self._crosslingual(xl, excluded) if xl is not None else None
        crossed_passes = crossed is not None and crossed.similarity >= th.crosslingual
        crossed_rule = crossed_passes and not matched  # the rule decided: nothing else matched
        if crossed_rule and xl is not None:
            rule, vetoed, eligible, matched = f"cross-lingual meaning ({language_label(xl.route)})", False, True, True
        sentence_index = xl.chunk_index[crossed.chunk] if crossed_rule and crossed and xl else _evidence_sentence(chunks, hits, int(best_chunk))
        evidence = {
            "sentence": chunks[sentence_index] if chunks else "",
            "sentence_index": sentence_index,
            "matched": [{"kind": "exemplar", "text": wl.exemplars[int(best_exemplar)], "found": chunks[int(best_chunk)], "score": round(semantic, 4)}]
            + [{"kind": h.kind, "text": h.text, "found": h.found} for h in hits if h.kind != "listed"],
            "scores": {
                "semantic": round(semantic, 4),
                "lexical": round(lexical, 4),
                "counter": round(counter, 4),
                "final": round(score, 4),
                "threshold": th.match,
            },
            "rule": "excluded: names a look-alike"
            if excluded
            else "vetoed by counter-example"
            if vetoed
            else (rule or "no rule satisfied"),
        }
        if vetoed:
            evidence["counter_example"] = counter_text
        listed = [listed_evidence(h) for h in hits if h.listed is not None]
        if listed:
            evidence["listed"] = listed
        self._add_language_evidence(evidence, chunks, route, xl, crossed, decided=crossed_rule)
        alone = crossed_passes or (eligible and named is not None)
        return Decision(wl, self.loaded.version, matched, round(score, 4), evidence, eligible or crossed_passes, alone)

    def _closest_counter(self, vectors: np.ndarray) -> tuple[float, str]:
        if not len(self.counter_vectors):
            return 0.0, ""
        csims = vectors @ self.counter_vectors.T
        _, cj = np.unravel_index(int(np.argmax(csims)), csims.shape)
        return float(csims.max()), self.watchlist.counter_examples[int(cj)]

    def _add_language_evidence(
        self, evidence: dict[str, Any], chunks: Sequence[str], route: Route | None, xl: "CrossLingualView | None",
        crossed: CrossLingualScore | None, decided: bool,
    ) -> None:
        """The item's language; for one the multilingual model read, its closest sentence and exemplar,
        which become the evidence's exemplar when the cross-lingual rule `decided` the match."""
        if route is not None:
            evidence["language"] = {"code": route.language, "covered": route.covered}
        if crossed is None or xl is None:
            return
        exemplar, found, similarity = self.watchlist.exemplars[crossed.exemplar], chunks[xl.chunk_index[crossed.chunk]], round(crossed.similarity, 4)
        evidence["crosslingual"] = {"model": xl.model, "similarity": similarity, "threshold": self.watchlist.thresholds.crosslingual,
                                    "exemplar": exemplar, "found": found, "counter": round(crossed.counter, 4)}
        if decided:
            evidence["matched"][0] = {"kind": "exemplar", "text": exemplar, "found": found, "score": similarity, "model": xl.model}

    def _crosslingual(self, xl: "CrossLingualView", excluded: bool) -> CrossLingualScore | None:
        """The list's closest exemplar in the multilingual space, or None where the rule cannot apply:
        no vectors, a look-alike named (exclude term), or a counter-example closer than the exemplar."""
        if not self.crosslingual or not len(xl.vectors) or excluded:
            return None
        score = closest(xl.vectors, self.xl_exemplars, self.xl_counters)
        if score.counter > score.similarity + self.watchlist.thresholds.counter_margin:
            return None
        return score


@dataclass(frozen=True)
class CrossLingualView:
    """An item's own sentences (not the glossary's English) in the multilingual space."""

    route: Route
    vectors: np.ndarray  # one row per own-language chunk
    chunk_index: list[int]  # row -> index in the item's chunks
    model: str


def lexical_bonus(hits: Sequence[Hit]) -> float:
    kinds = {h.kind for h in hits}
    n_context = sum(1 for h in hits if h.kind == "context")
    return KEYWORD_BONUS * ("keyword" in kinds) + ENTITY_BONUS * ("entity" in kinds) + CONTEXT_BONUS * min(n_context, MAX_CONTEXT_COUNTED)


def listed_evidence(hit: Hit) -> dict[str, Any]:
    """A designated-party list entry the item names, as the alert carries it (records.ListedEntryEvidence)."""
    assert hit.listed is not None
    entry = hit.listed.entry
    return {"list": entry.list_name, "entry_id": entry.entry_id, "name": entry.name, "found": hit.found,
            "alias": hit.listed.alias, "alias_strength": hit.listed.strength, "type": entry.entry_type,
            "programs": list(entry.programs), "url": entry.url, "alone": hit.listed.alone}


def searchable_text(title: str, body: str, chunks: Sequence[str]) -> FoldedText:
    """The text searched for terms. English gloss chunks join it, so that an English keyword
    ('cobalt') also finds 'Kobaltexporte' once the glossary has read it."""
    glosses = [c[len(GLOSS_PREFIX) :] for c in chunks if c.startswith(GLOSS_PREFIX)]
    return FoldedText.of("\n".join([title, body, *glosses]))


def implicit_rules(wl: Watchlist) -> list[Rule]:
    return [
        Rule(name="keyword", require=["keyword"]),
        Rule(name="entity", require=["entity"]),
        Rule(name="semantic alone", require=["semantic"], min_semantic=wl.thresholds.semantic_alone),
    ]


def _first_satisfied_rule(wl: Watchlist, kinds: set[str], semantic: float) -> str | None:
    for rule in wl.rules or implicit_rules(wl):
        ok = all((semantic >= rule.min_semantic) if need == "semantic" else (need in kinds) for need in rule.require)
        if ok:
            return rule.name
    return None


def _evidence_sentence(chunks: Sequence[str], hits: list[Hit], best_chunk: int) -> int:
    """Prefer an original sentence holding a keyword or entity, then the closest one.

    A gloss chunk is shown only when nothing in the item's own words explains the match:
    analysts should read the story's sentence, in its language, first.
    """
    original = [i for i, chunk in enumerate(chunks) if not chunk.startswith(GLOSS_PREFIX)]
    for hit in hits:
        if hit.kind in ("keyword", "entity") and hit.found:
            for index in original:
                doc = FoldedText.of(chunks[index])
                if hit.found in doc.folded or hit.found.replace(" ", "") in doc.compact:
                    return index
    return best_chunk


class Matcher:
    """Matches one embedded item against every enabled watchlist."""

    def __init__(
        self, compiled: Sequence[CompiledWatchlist], multilingual: MultilingualModel | None = None, glossary_languages: frozenset[str] = frozenset()
    ):
        self.glossary_languages = glossary_languages
        self.compiled = [c for c in compiled if c.watchlist.enabled]
        self.lexicon = LexicalIndex([c.terms for c in self.compiled])
        self.multilingual = multilingual if any(c.crosslingual for c in self.compiled) else None

    @classmethod
    def build(
        cls, loaded: Sequence[LoadedWatchlist], encode: Encode, multilingual: MultilingualModel | None = None, glossary_languages: frozenset[str] = frozenset()
    ) -> "Matcher":
        xl_encode = multilingual.encode if multilingual is not None else None
        return cls([CompiledWatchlist.build(entry, encode, xl_encode) for entry in loaded], multilingual, glossary_languages)

    def warm_up(self) -> None:
        """Load the multilingual model and encode each list's exemplars with it now, so that the first
        story routed to it does not pay for that in the stream (about 1 s, measured on 2 cores)."""
        for c in self.compiled:
            if c.crosslingual:
                c._xl_vectors()

    def route(self, title: str, body: str) -> Route:
        return Route(item_language(title, body), self.glossary_languages, self.multilingual is not None)

    @property
    def versions(self) -> dict[str, str]:
        return {c.watchlist.id: c.loaded.version for c in self.compiled}

    def decide_all(
        self, title: str, body: str, chunks: Sequence[str], vectors: np.ndarray, hits: list[list[Hit]] | None = None, route: Route | None = None
    ) -> list[Decision]:
        """One decision per enabled list; `hits` and `route` may be passed in when the presearch already found them."""
        if hits is None:
            hits = self.lexicon.hits(searchable_text(title, body, chunks))
        route = route or self.route(title, body)
        xl = self.crosslingual_view(route, chunks)
        return [c.decide(chunks, vectors, h, route, xl) for c, h in zip(self.compiled, hits)]

    def crosslingual_view(self, route: Route, chunks: Sequence[str]) -> CrossLingualView | None:
        """The item's own sentences through the multilingual model, only for a covered language
        other than English (English keeps MiniLM alone)."""
        if self.multilingual is None or not route.crosslingual:
            return None
        own = [i for i, chunk in enumerate(chunks) if not chunk.startswith(GLOSS_PREFIX)]
        try:
            vectors = self.multilingual.encode([chunks[i] for i in own])
            for compiled in self.compiled:
                compiled.xl_exemplars  # noqa: B018 - encoded on first need; a failure shows here, not mid-decision
        except Exception as exc:  # noqa: BLE001 - the model's fault, not the message's: decide without it
            log.warning("the multilingual model failed (%s: %s); this %s item is matched without the cross-lingual rule",
                        type(exc).__name__, str(exc)[:200], route.language)
            return None
        return CrossLingualView(route, vectors, own, self.multilingual.name)

    def matches(self, title: str, body: str, chunks: Sequence[str], vectors: np.ndarray) -> list[Decision]:
        return [d for d in self.decide_all(title, body, chunks, vectors) if d.matched]
