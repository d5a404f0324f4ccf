"""Text normalisation and term matching that tolerate case, punctuation and diacritics."""

from __future__ import annotations

import re
import sys
from bisect import bisect_left
import unicodedata
from dataclasses import dataclass
from functools import cached_property, lru_cache

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def fold(text: str) -> str:
    """Casefold, drop diacritics and punctuation, collapse spaces: 'Š.A.R.L.' -> 's a r l'."""
    if not text.isascii():  # ASCII has no compatibility forms and no combining marks
        text = unicodedata.normalize("NFKD", text).translate(_combining_marks())
        text = unicodedata.normalize("NFKC", text)
    return " ".join(_NON_WORD.sub(" ", text.casefold()).split())


@lru_cache(maxsize=1)
def _combining_marks() -> dict[int, None]:
    """A str.translate table that deletes every combining character (built once, in about 0.2 s)."""
    return {cp: None for cp in range(sys.maxunicode + 1) if unicodedata.combining(chr(cp))}


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


@dataclass(frozen=True)
class FoldedText:
    """An item's text, folded once and shared by every term lookup."""

    folded: str
    tokens: tuple[str, ...]
    compact: str  # without spaces, for CJK look-ups; computed once, not per term

    @classmethod
    def of(cls, text: str) -> "FoldedText":
        folded = fold(text)
        return cls(folded=f" {folded} ", tokens=tuple(folded.split()), compact=folded.replace(" ", ""))

    @cached_property
    def _where(self) -> dict[str, list[int]]:
        """Each distinct token -> its positions, in order."""
        where: dict[str, list[int]] = {}
        for index, token in enumerate(self.tokens):
            where.setdefault(token, []).append(index)
        return where

    @cached_property
    def distinct(self) -> frozenset[str]:
        return frozenset(self.tokens)

    @cached_property
    def _by_initial_and_length(self) -> dict[tuple[str, int], list[str]]:
        groups: dict[tuple[str, int], list[str]] = {}
        for token in self._where:
            groups.setdefault((token[0], len(token)), []).append(token)
        return groups

    @cached_property
    def _positions(self) -> dict[str, list[int]]:
        return {}

    def positions(self, token: str) -> list[int]:
        """Where `token` occurs, exactly or within one or two edits (same first letter: typos rarely hit it).

        Distinct tokens are compared once each, in C (rapidfuzz), and only those of a length
        that could be close enough: a text that repeats or varies words costs linear time.
        """
        cached = self._positions.get(token)
        if cached is not None:
            return cached
        limit = _edit_limit(token)
        if limit == 0:
            found = list(self._where.get(token, ()))
        else:
            candidates = [c for size in range(len(token) - limit, len(token) + limit + 1) for c in self._by_initial_and_length.get((token[0], size), ())]
            close = process.extract(token, candidates, scorer=Levenshtein.distance, score_cutoff=limit, limit=None)
            found = sorted(p for candidate, _, _ in close for p in self._where[candidate])
        self._positions[token] = found
        return found


@dataclass(frozen=True)
class Term:
    """A keyword. A trailing '*' matches any word ending ('sanction*'). CJK terms match as substrings."""

    text: str
    folded: str
    prefix: bool
    cjk: bool

    @classmethod
    def parse(cls, text: str) -> "Term":
        prefix = text.endswith("*")
        core = text[:-1] if prefix else text
        return cls(text=text, folded=fold(core), prefix=prefix, cjk=has_cjk(core))

    def locate(self, doc: FoldedText) -> int | None:
        """Where the term first occurs (an offset for ordering only), or None."""
        if not self.folded:
            return None
        if self.cjk:
            pos = doc.compact.find(self.folded.replace(" ", ""))
        else:
            pos = doc.folded.find(f" {self.folded}" if self.prefix else f" {self.folded} ")
        return pos if pos >= 0 else None

    def find(self, doc: FoldedText) -> str | None:
        """The matched words in the document, or None."""
        if not self.folded:
            return None
        if self.cjk:
            return self.folded if self.folded.replace(" ", "") in doc.compact else None
        needle = f" {self.folded}" if self.prefix else f" {self.folded} "
        pos = doc.folded.find(needle)
        if pos < 0:
            return None
        end = doc.folded.find(" ", pos + len(needle) - (0 if self.prefix else 1))
        return doc.folded[pos + 1 : end if end > 0 else None].strip()


# Words that alone say nothing about which organisation is meant.
GENERIC_NAME_TOKENS = frozenset(
    """ministry group co company corp corporation ltd limited inc llc plc gmbh ag sa srl
    technology technologies tech network networks the of and for de la del des du bureau
    department holdings holding international science sciences information systems
    services service industry industries trading""".split()
)


def _edit_limit(word: str) -> int:
    """Edits allowed for a name word: none under 5 letters, 1 under 9, else 2."""
    return 0 if len(word) < 5 else (1 if len(word) < 9 else 2)


def _within_one_or_two(a: str, b: str) -> bool:
    """Edit distance <= 1 (<= 2 for long words); short words must match exactly."""
    if a == b:
        return True
    limit = _edit_limit(a)
    if limit == 0 or abs(len(a) - len(b)) > limit:
        return False
    return Levenshtein.distance(a, b, score_cutoff=limit) <= limit


@lru_cache(maxsize=4096)
def _name_tokens(name: str) -> tuple[tuple[str, ...], bool]:
    tokens = tuple(fold(name).split())
    distinctive = tuple(t for t in tokens if t not in GENERIC_NAME_TOKENS)
    return (distinctive, True) if distinctive else (tokens, False)


def is_generic_name(name: str) -> bool:
    """A name made only of generic words ('Ministry of Industry'): it must appear verbatim."""
    tokens, distinctive = _name_tokens(name)
    return bool(tokens) and not distinctive and not has_cjk(name)


def _find_phrase(tokens: tuple[str, ...], doc: FoldedText) -> str | None:
    n = len(tokens)
    for start in doc.positions(tokens[0]):
        if start + n <= len(doc.tokens) and all(_within_one_or_two(tokens[k], doc.tokens[start + k]) for k in range(1, n)):
            return " ".join(doc.tokens[start : start + n])
    return None


def find_name(name: str, doc: FoldedText) -> str | None:
    """Fuzzy, order-free match of an entity name; None when absent.

    All distinctive tokens must occur close together; generic tokens
    ('Ministry', 'Group', 'Co.') are ignored so that they never match alone.
    A name of generic tokens only must appear verbatim.
    """
    if has_cjk(name):
        folded = fold(name).replace(" ", "")
        return name if folded and folded in doc.compact else None
    tokens, distinctive = _name_tokens(name)
    if not tokens:
        return None
    if not distinctive:
        phrase = " ".join(tokens)
        return phrase if f" {phrase} " in doc.folded else None
    all_tokens = tuple(fold(name).split())
    if len(tokens) == 1 and len(all_tokens) > 1:
        # 'Bureau of Industry and Security' has one distinctive word; 'security' alone
        # is far too common, so such names must appear whole (each word fuzzily).
        return _find_phrase(all_tokens, doc)
    if len(tokens) == 1:
        hits = doc.positions(tokens[0])
        return doc.tokens[hits[0]] if hits else None
    window = len(tokens) + 3
    positions = [doc.positions(token) for token in tokens]
    if any(not p for p in positions):
        return None
    for start in positions[0]:
        chosen = [start]
        for other in positions[1:]:
            # The first occurrence within the window, found by bisection: a text that repeats
            # the name's words thousands of times stays linear (a scan here was quadratic).
            k = bisect_left(other, start - window)
            if k == len(other) or other[k] > start + window:
                break
            chosen.append(other[k])
        else:
            lo, hi = min(chosen), max(chosen)
            return " ".join(doc.tokens[lo : hi + 1])
    return None


def _key_tokens(name: str) -> tuple[str, ...]:
    """Words that find_name needs in a text, each within the edits doc.positions allows."""
    tokens, distinctive = _name_tokens(name)
    all_tokens = tuple(fold(name).split())
    if distinctive and len(tokens) == 1 and len(all_tokens) > 1:
        return all_tokens[:1]  # a phrase: its first word is looked up with doc.positions
    return tokens


class NameGate:
    """Which fuzzy names could be in a text at all, from one pass over its distinct words.

    A necessary condition for find_name (each key word present, exactly or within the edits
    doc.positions allows), so the names it rules out need no lookup; the rest go to find_name.
    """

    NEAR_CACHE_WORDS = 200_000  # news reuses its words: each distinct word is compared with the keys once

    def __init__(self, names: list[str]):
        self._near: dict[str, tuple[str, ...]] = {}  # word -> the keys within its edits
        self._keys = {name: _key_tokens(name) for name in names if not has_cjk(name)}
        self._names_by_key: dict[str, list[str]] = {}
        self._buckets: dict[tuple[str, int], list[str]] = {}
        for name, keys in self._keys.items():
            for key in keys:
                self._names_by_key.setdefault(key, []).append(name)
        for key in self._names_by_key:
            limit = _edit_limit(key)
            for size in range(len(key) - limit, len(key) + limit + 1) if limit else ():
                self._buckets.setdefault((key[0], size), []).append(key)

    def possible(self, doc: FoldedText) -> set[str]:
        distinct = doc.distinct
        present = {key for key in self._names_by_key if key in distinct} if len(self._names_by_key) < len(distinct) else {
            word for word in distinct if word in self._names_by_key
        }
        if self._buckets:
            near = self._near
            for word in distinct:
                keys = near.get(word)
                if keys is None:
                    keys = self._near_keys(word)
                if keys:
                    present.update(keys)
        names = {name for key in present for name in self._names_by_key[key]}
        return {name for name in names if all(key in present for key in self._keys[name])}

    def _near_keys(self, word: str) -> tuple[str, ...]:
        near = self._near.get(word)
        if near is None:
            near = tuple(key for key in self._buckets.get((word[0], len(word)), ()) if _within_one_or_two(key, word))
            if len(self._near) >= self.NEAR_CACHE_WORDS:
                self._near.clear()
            self._near[word] = near
        return near
