"""An English gloss for non-English news, so the English-only model can read it.

all-MiniLM-L6-v2 was trained on English: a Korean or Russian headline lands
near nothing. For such items we look up a domain glossary (config/glossary.yaml)
and embed the English concepts found, in order, as extra chunks. The watchlists'
exemplars stay English; the gloss carries the meaning across.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import yaml

from agents.logic.term_scan import ConsumingTermScan
from agents.logic.textnorm import FoldedText, Term, fold

GLOSS_PREFIX = "≈ "  # marks a gloss chunk in evidence; stripped before embedding
MAX_GLOSS_CONCEPTS = 14
LANGUAGE_SAMPLE_CHARS = 20_000

# Frequent English function words: running text in English has many of them,
# German, French or Spanish text has few, and CJK or Cyrillic text none.
_ENGLISH_WORDS = frozenset(
    "the of and to in for on with is was that by from as at has have it its are were be said says after over "
    "will would not this which who their they its into than more about".split()
)
_NOT_LATIN_LETTER = re.compile(r"[^A-Za-z]+")
_LATIN_LETTER = re.compile(r"[A-Za-z]")
_NOT_LETTER = re.compile(r"[\W\d_]+")


class GlossaryError(ValueError):
    pass


def looks_english(text: str) -> bool:
    """Mostly Latin letters and enough English function words, judged on the first
    LANGUAGE_SAMPLE_CHARS characters: enough for any story, and bounded for a huge one."""
    text = text[:LANGUAGE_SAMPLE_CHARS]
    if text.isascii():  # every letter is Latin: only whether there is one matters (two passes fewer)
        if not _LATIN_LETTER.search(text):
            return True
    else:
        letters = len(_NOT_LETTER.sub("", text))  # counted by deleting the rest, in C: a loop per letter cost 0.5 ms an item
        if not letters:
            return True
        if len(_NOT_LATIN_LETTER.sub("", text)) / letters < 0.8:
            return False
    words = fold(text).split()
    if len(words) < 6:
        return True  # too short to judge; treat as English, as the model would
    common = sum(1 for w in words if w in _ENGLISH_WORDS)
    return common / len(words) >= 0.08


@dataclass(frozen=True)
class Glossary:
    concepts: tuple[tuple[str, tuple[Term, ...]], ...]

    @classmethod
    def empty(cls) -> "Glossary":
        return cls(())

    @classmethod
    def load(cls, path: Path) -> "Glossary":
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise GlossaryError(f"{path}: cannot read: {exc}") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise GlossaryError(f"{path}:{mark.line + 1 if mark else 1}: YAML syntax error") from None
        if not isinstance(data, dict):
            raise GlossaryError(f"{path}:1: expected a mapping of English concept -> list of terms")
        concepts = []
        for concept, terms in data.items():
            if not isinstance(concept, str) or not isinstance(terms, list) or not all(isinstance(t, str) and t.strip() for t in terms):
                raise GlossaryError(f"{path}: {concept!r}: expected a list of non-empty strings")
            concepts.append((concept, tuple(Term.parse(t) for t in terms)))
        return cls(tuple(concepts))

    def concepts_in(self, text: str) -> list[str]:
        """English concepts whose terms occur in the text, in order of first appearance.

        Longest terms are looked up first and their text is consumed, so that
        '盐台风' (Salt Typhoon) does not also read as '台风' (a weather typhoon).
        """
        first_seen = self._scan.first_positions(FoldedText.of(text))
        ordered = sorted(first_seen.items(), key=lambda pair: pair[1])
        return [concept for concept, _ in ordered][:MAX_GLOSS_CONCEPTS]

    @cached_property
    def _scan(self) -> ConsumingTermScan[str]:
        """Every term in one automaton, longest first (built once per glossary)."""
        pairs = [(concept, term) for concept, terms in self.concepts for term in terms if term.folded]
        return ConsumingTermScan(sorted(pairs, key=lambda pair: -len(pair[1].folded)))

    def gloss_chunks(self, title: str, body: str) -> list[str]:
        """Zero to two gloss chunks (title; whole item) for non-English items."""
        if not self.concepts or looks_english(f"{title} {body}"):
            return []
        chunks: list[str] = []
        for concepts in (self.concepts_in(title), self.concepts_in(f"{title}\n{body}")):
            text = GLOSS_PREFIX + ", ".join(concepts)
            if concepts and text not in chunks:
                chunks.append(text)
        return chunks


def embedding_text(chunk: str) -> str:
    """What the model sees for a chunk: gloss chunks lose their marker."""
    return chunk[len(GLOSS_PREFIX) :] if chunk.startswith(GLOSS_PREFIX) else chunk
