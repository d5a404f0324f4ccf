"""Designated-party lists (OFAC's SDN files) as names to find in news.

A watchlist names its lists under `entity_sources`; each edition is read whole, checked row by
row (a malformed or truncated file is refused with FILE:LINE, and the last good edition stays
active), and turned into the name forms a story would use:
- individuals are listed "LAST, First Middle": stories write "First Last" (and, for many
  names, "Last First"), so both orders are searched;
- entity names are searched with and without a trailing legal form (Co., Ltd., LLC, OAO...);
- aliases come from alt.csv (a.k.a., f.k.a., n.k.a.) and, marked weak by OFAC, from the
  remarks ("a.k.a. 'BNC'").

Many listed names are ordinary words (vessels called SUCCESS or JUSTICE, firms called ATLANTIC).
Whether a form may alert on its own is decided from data: its rarity is the sum, over its words,
of how much rarer each is than common English (wordfreq's Zipf scale, from large corpora), and
only forms at or above the list's `min_rarity` count as a named party. Weak aliases, and vessel
and aircraft names, never alert on their own; an individual needs two name parts (and one word
cannot reach the bar). A form with at least half that rarity is still searched and shown on an
alert that matched for other reasons, but adds nothing to the match: counted as context, such
names only added false alarms on the dev set and on a background firehose. Forms more common
than that (single ordinary words, "premier group") are not searched at all.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from agents.logic.textnorm import fold

EMPTY = "-0-"
SDN_COLUMNS = 12  # ent_num, name, type, programs, title, call sign, vessel type, tonnage, GRT, flag, owner, remarks
ALT_COLUMNS = 5  # ent_num, alt_num, alt_type, alt_name, remarks
# A word's rarity is -log10 of its probability in running English text; a form's, the sum over its words.
ZIPF_CEILING = 9.0  # Zipf is log10 of occurrences per billion words: 9 - Zipf = -log10 P(word)
DEFAULT_MIN_RARITY = 15.0  # chosen on a background firehose: docs/sanctions-lists.md
LEGAL_FORMS = frozenset(
    """co ltd llc inc corp plc sa ag gmbh bv nv oao ooo zao pao jsc ojsc cjsc pjsc srl sarl spa sas kg limited
    company corporation incorporated cv de""".split()
)
_WEAK_ALIAS = re.compile(r"a\.k\.a\.?\s*'([^']{2,})'", re.IGNORECASE)


class SourceError(ValueError):
    """A list file that cannot be used: where (file, line) and why."""

    def __init__(self, file: str, line: int, message: str):
        super().__init__(f"{file}:{line}: {message}")
        self.file, self.line, self.message = file, line, message


@dataclass(frozen=True)
class ListedEntry:
    list_name: str
    entry_id: str
    name: str  # the primary name as listed
    entry_type: str  # individual, entity, vessel, aircraft
    programs: tuple[str, ...]
    url: str


@dataclass(frozen=True)
class ListedName:
    """One searchable form of one name of one entry."""

    form: str  # folded words searched for
    alias: str  # the name or alias as listed
    strength: str  # primary, aka, fka, nka, weak
    entry: ListedEntry
    alone: bool  # distinctive: may alert on its own
    support: bool = True  # searched and shown as evidence (always true when `alone`)


@dataclass(frozen=True)
class Edition:
    list_name: str
    version: str  # content hash of the files
    entries: int
    names: tuple[ListedName, ...]
    files: tuple[Path, ...]


@lru_cache(maxsize=200_000)
def word_rarity(word: str) -> float:
    """-log10 of the word's probability in English: about 1.6 for 'the', 9 for a word never seen."""
    from wordfreq import zipf_frequency

    return max(0.0, ZIPF_CEILING - zipf_frequency(word, "en"))


def rarity(form: str) -> float:
    return sum(word_rarity(word) for word in form.split())


def _cell(value: str) -> str:
    value = value.strip()
    return "" if value == EMPTY else value


def _rows(path: Path, columns: int, digest: Any) -> list[tuple[int, list[str]]]:
    """Every row with its line number; a short row, a bad quote or a missing final newline is an error.
    The bytes parsed go into `digest`, so the version names exactly what was read."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(str(path), 1, f"cannot read: {exc.strerror}") from None
    digest.update(raw)
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff")
    if text and not text.endswith(("\n", "\x1a")):
        raise SourceError(str(path), text.count("\n") + 1, "the file ends inside a row: truncated?")
    reader = csv.reader(io.StringIO(text.rstrip("\x1a")), strict=True)
    rows = []
    try:
        for row in reader:
            if not row or not "".join(row).strip():
                continue
            if len(row) != columns:
                raise SourceError(str(path), reader.line_num, f"{len(row)} fields, expected {columns}: truncated or not this format?")
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise SourceError(str(path), reader.line_num, f"unreadable CSV: {exc}") from None
    if not rows:
        raise SourceError(str(path), 1, "no entries")
    return rows


def individual_forms(name: str) -> list[str]:
    """'VOLKHARSK, Ivor Petrovich' -> ['ivor petrovich volkharsk', 'volkharsk ivor petrovich', 'ivor volkharsk'];
    a name without a comma is used as written."""
    last, sep, given = name.partition(",")
    if not sep or not given.strip():
        return [fold(name)]
    last_f, given_f = fold(last), fold(given)
    forms = [f"{given_f} {last_f}", f"{last_f} {given_f}"]
    if len(given_f.split()) > 1:  # 'Ivor Petrovich' is often just 'Ivor' in a story
        forms.append(f"{given_f.split()[0]} {last_f}")
    return list(dict.fromkeys(forms))


def entity_forms(name: str) -> list[str]:
    """'ANGLO-CARIBBEAN CO., LTD.' -> ['anglo caribbean co ltd', 'anglo caribbean']."""
    forms = [fold(name)]
    words = fold(name.replace(".", "")).split()  # 'S.A.' is the legal form 'sa'
    while len(words) > 1 and words[-1] in LEGAL_FORMS:
        words = words[:-1]
    return list(dict.fromkeys([*forms, " ".join(words)]))


def _distinctive_rarity(form: str) -> float:
    """Legal forms ('co', 'ltd', 'oao') and single letters (the pieces of 'S.A.', initials) are
    rare or short words that say nothing about which party is meant; 'de' is an ordinary word."""
    return rarity(" ".join(w for w in form.split() if len(w) > 1 and (w == "de" or w not in LEGAL_FORMS)))


def _may_alert_alone(form: str, entry_type: str, strength: str, min_rarity: float) -> bool:
    if strength == "weak" or entry_type in ("vessel", "aircraft"):
        return False
    if entry_type == "individual" and len(form.split()) < 2:
        return False
    return _distinctive_rarity(form) >= min_rarity


def _may_support(form: str, min_rarity: float) -> bool:
    if len(form.split()) == 1:  # one rare, long word (ROSOBORONEXPORT): shown, never alone (docs/sanctions-lists.md)
        return len(form) >= 6 and _distinctive_rarity(form) >= min_rarity / 2
    return _distinctive_rarity(form) >= min_rarity / 2


def load_ofac_csv(folder: Path, list_name: str, url_template: str, min_rarity: float = DEFAULT_MIN_RARITY) -> Edition:
    """sdn.csv (and alt.csv if present) in OFAC's legacy CSV format, as one edition."""
    sdn_path, alt_path = folder / "sdn.csv", folder / "alt.csv"
    if not sdn_path.is_file():
        raise SourceError(str(sdn_path), 1, "no such file (an ofac-sdn-csv source is a folder holding sdn.csv and alt.csv)")
    entries: dict[str, ListedEntry] = {}
    names: list[tuple[str, str, str]] = []  # (entry id, name, strength)
    digest = hashlib.sha256()
    for line, row in _rows(sdn_path, SDN_COLUMNS, digest):
        entry_id, name = row[0].strip(), _cell(row[1])
        if not entry_id.isdigit():
            raise SourceError(str(sdn_path), line, f"entry number {row[0]!r} is not a number")
        if not name:
            raise SourceError(str(sdn_path), line, "entry without a name")
        programs = tuple(p.strip(" []") for p in _cell(row[3]).split("] [") if p.strip(" []"))
        entries[entry_id] = ListedEntry(list_name, entry_id, name, _cell(row[2]).lower() or "entity", programs,
                                        url_template.format(entry_id=entry_id))
        names.append((entry_id, name, "primary"))
        names += [(entry_id, alias.strip(), "weak") for alias in _WEAK_ALIAS.findall(_cell(row[11]))]
    files = [sdn_path]
    if alt_path.is_file():
        files.append(alt_path)
        for line, row in _rows(alt_path, ALT_COLUMNS, digest):
            entry_id, alias = row[0].strip(), _cell(row[3])
            if entry_id not in entries:
                raise SourceError(str(alt_path), line, f"alias of entry {entry_id!r}, which sdn.csv does not list")
            if alias:
                names.append((entry_id, alias, _cell(row[2]).lower() or "aka"))
    forms: dict[tuple[str, str], ListedName] = {}
    for entry_id, name, strength in names:
        entry = entries[entry_id]
        for form in (individual_forms(name) if entry.entry_type == "individual" else entity_forms(name)):
            if len(form) >= 2 and (entry_id, form) not in forms:
                alone = _may_alert_alone(form, entry.entry_type, strength, min_rarity)
                forms[(entry_id, form)] = ListedName(form, name, strength, entry, alone, alone or _may_support(form, min_rarity))
    return Edition(list_name, digest.hexdigest()[:16], len(entries), tuple(forms.values()), tuple(files))
