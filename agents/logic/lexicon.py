"""Every watchlist's terms and names, found in one pass over an item's folded text.

Stage 1 of the screening cascade and the lexical half of the full matcher share this index, so
the presearch and the matcher can never disagree about which terms an item holds.

- Keywords, context and exclude terms of every active list, and the entity names that must
  appear verbatim (names in CJK script, names made only of generic words), sit in one
  Aho-Corasick automaton: one pass over the text, linear in its length, however many terms.
- Other entity names are matched fuzzily and in any order (textnorm.find_name); each lookup
  is a dictionary probe per distinctive word, so it is linear in the text too.
- Names from designated-party lists (tens of thousands: agents/logic/listed_names.py) join the
  same automaton as exact word-bounded forms, so a whole sanctions list costs one pass too.

The hits per list are exactly what a term-by-term scan would give: per kind, terms in the
list's order, the first occurrence of each, a word found by two terms counted once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import ahocorasick

from agents.logic.listed_names import ListedName
from agents.logic.textnorm import FoldedText, NameGate, Term, find_name, fold, has_cjk, is_generic_name

TERM_KINDS = ("keyword", "context", "exclude")


@dataclass(frozen=True)
class Hit:
    kind: str  # keyword | context | exclude | entity | listed (a listed name shown as evidence, never scored)
    text: str  # the watchlist's term
    found: str  # the item's words
    listed: ListedName | None = None  # the designated-party list entry behind an entity or context hit


@dataclass(frozen=True)
class ListTerms:
    """What one list looks for, in the order its hits are reported."""

    keywords: Sequence[Term]
    context: Sequence[Term]
    exclude: Sequence[Term]
    entity_names: Sequence[tuple[str, str]]  # (canonical name, name or alias)
    listed: Sequence[ListedName] = ()  # forms of the names on the list's entity sources


# A slot is (list index, kind index, position in that kind's sequence); kind index 3 = entity, 4 = listed.
_Slot = tuple[int, int, int]
_ENTITY = len(TERM_KINDS)
_LISTED = _ENTITY + 1


class LexicalIndex:
    def __init__(self, lists: Sequence[ListTerms]):
        self.lists = list(lists)
        self._word = ahocorasick.Automaton()
        self._cjk = ahocorasick.Automaton()
        self._verbatim: set[tuple[int, int]] = set()  # (list, entity position) found by the automaton
        fuzzy_names: list[str] = []
        for li, terms in enumerate(self.lists):
            for ki, seq in enumerate((terms.keywords, terms.context, terms.exclude)):
                for k, term in enumerate(seq):
                    self._add_term(term, (li, ki, k))
            for k, (_, name) in enumerate(terms.entity_names):
                if has_cjk(name):
                    self._add(self._cjk, fold(name).replace(" ", ""), (li, _ENTITY, k))
                    self._verbatim.add((li, k))
                elif is_generic_name(name):
                    self._add(self._word, f" {fold(name)} ", (li, _ENTITY, k))
                    self._verbatim.add((li, k))
                else:
                    fuzzy_names.append(name)
            for k, listed in enumerate(terms.listed):
                if listed.support:  # a name too ordinary even to support a match is not searched
                    self._add(self._word, f" {listed.form} ", (li, _LISTED, k))
        self._names = NameGate(fuzzy_names)
        for automaton in (self._word, self._cjk):
            if len(automaton):
                automaton.make_automaton()

    def _add_term(self, term: Term, slot: _Slot) -> None:
        if not term.folded:
            return
        if term.cjk:
            self._add(self._cjk, term.folded.replace(" ", ""), slot)
        else:
            self._add(self._word, f" {term.folded}" + ("" if term.prefix else " "), slot)

    @staticmethod
    def _add(automaton: ahocorasick.Automaton, needle: str, slot: _Slot) -> None:
        if not needle.strip():
            return
        slots = automaton.get(needle, None)
        if slots is None:
            automaton.add_word(needle, [slot])
        else:
            slots.append(slot)

    def _first_found(self, doc: FoldedText) -> dict[_Slot, str]:
        """Each slot's words at its first occurrence."""
        found: dict[_Slot, str] = {}
        if len(self._word):
            text = doc.folded
            for end, slots in self._word.iter(text):
                for slot in slots:
                    if slot not in found:
                        found[slot] = self._words_at(text, end, slot)
        if len(self._cjk):
            for _, slots in self._cjk.iter(doc.compact):
                for slot in slots:
                    if slot not in found:
                        found[slot] = self._needle_text(slot)
        return found

    def _term(self, slot: _Slot) -> Term:
        terms = self.lists[slot[0]]
        return (terms.keywords, terms.context, terms.exclude)[slot[1]][slot[2]]

    def _needle_text(self, slot: _Slot) -> str:
        if slot[1] == _LISTED:
            return self.lists[slot[0]].listed[slot[2]].form
        if slot[1] == _ENTITY:
            name = self.lists[slot[0]].entity_names[slot[2]][1]
            return name if has_cjk(name) else fold(name)
        return self._term(slot).folded

    def _words_at(self, text: str, end: int, slot: _Slot) -> str:
        """The folded words of a word-automaton hit ending at `end`: a prefix term takes the whole word."""
        if slot[1] >= _ENTITY:
            return self._needle_text(slot)
        term = self._term(slot)
        if not term.prefix:
            return term.folded
        start = end - len(term.folded)  # the needle's leading space
        word_end = text.find(" ", end + 1)
        return text[start : word_end if word_end >= 0 else None].strip()

    def hits(self, doc: FoldedText) -> list[list[Hit]]:
        """Per list, in the lists' order: its hits in the order a term-by-term scan reports them."""
        by_list: dict[int, list[tuple[int, int, str]]] = {}
        for (li, ki, k), words in self._first_found(doc).items():
            by_list.setdefault(li, []).append((ki, k, words))
        names_present = self._names.possible(doc)
        return [self._hits_of(li, sorted(by_list.get(li, ())), names_present, doc) for li in range(len(self.lists))]

    def _hits_of(self, li: int, found: list[tuple[int, int, str]], names_present: set[str], doc: FoldedText) -> list[Hit]:
        terms = self.lists[li]
        hits: list[Hit] = []
        seen_words: set[tuple[int, str]] = set()
        verbatim: dict[int, str] = {}
        listed: list[tuple[int, str]] = []
        for ki, k, words in found:
            if ki == _LISTED:
                listed.append((k, words))
            elif ki == _ENTITY:
                verbatim[k] = words
            elif (ki, words) not in seen_words:  # 'telecom*' and 'télécom*' count once
                seen_words.add((ki, words))
                hits.append(Hit(TERM_KINDS[ki], self._term((li, ki, k)).text, words))
        seen: set[str] = set()
        for k, (canonical, name) in enumerate(terms.entity_names):
            if canonical in seen:
                continue
            if (li, k) in self._verbatim:
                words = verbatim.get(k)
            else:
                words = find_name(name, doc) if name in names_present else None
            if words is not None:
                seen.add(canonical)
                hits.append(Hit("entity", canonical if name == canonical else f"{canonical} ({name})", words))
        return hits + _listed_hits([terms.listed[k] for k, _ in listed], [words for _, words in listed])


def _listed_hits(names: Sequence[ListedName], found: Sequence[str]) -> list[Hit]:
    """One hit per list entry found: an entity when a form that may alert alone was found; else a
    `listed` hit, which the alert shows but which never adds to the score or satisfies a rule (on
    the dev set and a background firehose, counting such names as context only added false alarms);
    the longest such form is the one reported."""
    best: dict[tuple[str, str], tuple[ListedName, str]] = {}
    for name, words in zip(names, found):
        key = (name.entry.list_name, name.entry.entry_id)
        held = best.get(key)
        if held is None or (name.alone, len(name.form)) > (held[0].alone, len(held[0].form)):
            best[key] = (name, words)
    return [Hit("entity" if name.alone else "listed", f"{name.entry.name} ({name.entry.list_name} #{name.entry.entry_id})",
                words, listed=name) for name, words in best.values()]
