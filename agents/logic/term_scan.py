"""Find many terms in one pass over a text (Aho-Corasick), longest first, each consuming its text.

A scan per term costs (terms x length), and a text built to repeat terms made the old
per-term loops quadratic. Here one automaton pass finds every occurrence of every term; the
"longest first, consumed text cannot match again" rule (so that '盐台风', Salt Typhoon, does not
also read as '台风', typhoon) is then applied to those occurrences with a mask, in time linear in
the number of occurrences.

Word terms match whole words of the folded text (a trailing '*' in the term: any word ending);
CJK terms match as substrings of the text without spaces (see agents.logic.textnorm).
"""

from __future__ import annotations

from typing import Generic, Hashable, Sequence, TypeVar

import ahocorasick

from agents.logic.textnorm import FoldedText, Term

K = TypeVar("K", bound=Hashable)


class ConsumingTermScan(Generic[K]):
    """Terms in priority order (earlier wins where two overlap), each with a key it reports."""

    def __init__(self, entries: Sequence[tuple[K, Term]]):
        self._keys = [key for key, _ in entries]
        self._terms = [term for _, term in entries]
        self._word = ahocorasick.Automaton()
        self._cjk = ahocorasick.Automaton()
        for rank, term in enumerate(self._terms):
            if not term.folded:
                continue
            automaton, needle = (
                (self._cjk, term.folded.replace(" ", "")) if term.cjk else (self._word, f" {term.folded}" + ("" if term.prefix else " "))
            )
            ranks = automaton.get(needle, None)
            if ranks is None:
                automaton.add_word(needle, [rank])
            else:
                ranks.append(rank)
        for automaton in (self._word, self._cjk):
            if len(automaton):
                automaton.make_automaton()

    def first_positions(self, doc: FoldedText) -> dict[K, int]:
        """Key -> where its first counted occurrence starts (in doc.folded for word terms, in
        doc.compact for CJK terms; the space before a word term, as in Term.locate)."""
        found: dict[K, int] = {}
        first_rank: dict[K, int] = {}
        for automaton, text, cjk in ((self._word, doc.folded, False), (self._cjk, doc.compact, True)):
            if not len(automaton):
                continue
            ends: dict[int, list[int]] = {}  # rank -> end index (inclusive) of each occurrence, in order
            for end, ranks in automaton.iter(text):
                for rank in ranks:
                    ends.setdefault(rank, []).append(end)
            mask = bytearray(len(text))
            for rank in sorted(ends):
                self._consume(rank, ends[rank], text, mask, cjk, found, first_rank)
        # Keys in the order their terms were first counted, highest priority first: callers
        # that sort by position then break ties the same way whatever the script.
        return {key: found[key] for key in sorted(found, key=first_rank.__getitem__)}

    def _consume(
        self, rank: int, ends: list[int], text: str, mask: bytearray, cjk: bool, found: dict[K, int], first_rank: dict[K, int]
    ) -> None:
        """Accept the term's occurrences left to right, skipping any that overlap consumed text or
        its own previous occurrence, and consume each accepted one."""
        term = self._terms[rank]
        length = len(term.folded.replace(" ", "")) if cjk else len(term.folded) + (1 if term.prefix else 2)
        free_from = 0
        for end in ends:
            start = end - length + 1
            if start < free_from or mask.find(1, start, end + 1) != -1:
                continue
            if cjk:
                blank_from, blank_to, free_from = start, end + 1, end + 1
            elif term.prefix:  # the rest of the word goes with it
                word_end = text.find(" ", end + 1)
                blank_from, blank_to = start + 1, len(text) if word_end < 0 else word_end
                free_from = blank_to
            else:  # between the spaces; the space after may start the next occurrence
                blank_from, blank_to, free_from = start + 1, end, end
            mask[blank_from:blank_to] = b"\x01" * (blank_to - blank_from)
            key = self._keys[rank]
            found[key] = min(found.get(key, start), start)
            first_rank[key] = min(first_rank.get(key, rank), rank)
