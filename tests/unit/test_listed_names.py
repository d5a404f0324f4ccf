"""Designated-party lists in OFAC's legacy CSV format: loading, name forms, distinctiveness, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agents.logic.lexicon import LexicalIndex, ListTerms
from agents.logic.listed_names import SourceError, entity_forms, individual_forms, load_ofac_csv, rarity
from agents.logic.textnorm import FoldedText
from agents.logic.watchlists import WatchlistErrors, load_watchlist_dir
from tests.harness import REPO

FIXTURE = REPO / "tests" / "data" / "ofac-fixture"
URL = "https://lists.example.invalid/entry/{entry_id}"


def _edition(folder: Path = FIXTURE / "edition-1"):
    return load_ofac_csv(folder, "OFAC SDN", URL)


def _by_form(edition) -> dict[str, object]:
    return {name.form: name for name in edition.names}


def test_entries_names_aliases_and_their_strength() -> None:
    edition = _edition()
    assert edition.entries == 4 and len(edition.version) == 16
    forms = _by_form(edition)
    assert forms["zarqavian defence industries"].alone and forms["zarqavian defence industries"].strength == "primary"
    assert forms["zarqavia defense industrial group"].strength == "aka"
    assert forms["zdi"].strength == "weak" and not forms["zdi"].alone  # OFAC's weak a.k.a. never alerts alone
    entry = forms["ivor volkharsk"].entry
    assert (entry.entry_id, entry.entry_type, entry.programs, entry.url) == ("102", "individual", ("FICTA",), "https://lists.example.invalid/entry/102")
    assert forms["zarqavian defence industries"].entry.programs == ("FICTA", "FICTB")


def test_a_story_writes_names_its_own_way() -> None:
    assert individual_forms("VOLKHARSK, Ivor Petrovich") == ["ivor petrovich volkharsk", "volkharsk ivor petrovich", "ivor volkharsk"]
    assert entity_forms("HARMONY TRADING CO., LTD.") == ["harmony trading co ltd", "harmony trading"]
    assert entity_forms("Société Générale S.A.") == ["societe generale s a", "societe generale"]


def test_ordinary_words_never_alert_alone_and_count_as_evidence_only() -> None:
    forms = _by_form(_edition())
    assert not forms["success"].alone  # a vessel, and an ordinary word
    assert not forms["harmony trading"].alone and rarity("harmony trading") < rarity("zarqavian defence industries")
    index = LexicalIndex([ListTerms([], [], [], [], _edition().names)])
    [hits] = index.hits(FoldedText.of("The launch was a great success, and Harmony Trading Co. Ltd. said so."))
    assert {h.kind for h in hits} == {"listed"} and {h.listed.entry.entry_id for h in hits} == {"104"}  # "success" is not searched
    [hits] = index.hits(FoldedText.of("Ivor Volkharsk met officials of Zarqavian Defence Industries (ZDI)."))
    assert {(h.kind, h.listed.entry.entry_id) for h in hits} == {("entity", "101"), ("entity", "102")}


@pytest.mark.parametrize(("text", "line", "says"), [
    ('101,ZARQAVIAN DEFENCE INDUSTRIES,-0- ,FICTA,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n102,"VOLKHARSK, Ivor', 2, "truncated"),
    ("101,ZARQAVIAN DEFENCE INDUSTRIES,-0- ,FICTA,-0- ,-0- \n", 1, "6 fields, expected 12"),
    ("x1,NAME,-0- ,FICTA,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n", 1, "is not a number"),
])
def test_a_malformed_or_truncated_file_is_refused_with_its_line(tmp_path: Path, text: str, line: int, says: str) -> None:
    (tmp_path / "sdn.csv").write_text(text)
    with pytest.raises(SourceError) as err:
        load_ofac_csv(tmp_path, "OFAC SDN", URL)
    assert (err.value.file, err.value.line) == (str(tmp_path / "sdn.csv"), line) and says in err.value.message


def test_an_alias_of_an_unknown_entry_is_refused(tmp_path: Path) -> None:
    shutil.copy(FIXTURE / "edition-1" / "sdn.csv", tmp_path / "sdn.csv")
    (tmp_path / "alt.csv").write_text("101,1,aka,OK NAME,-0- \n999,2,aka,ORPHAN,-0- \n")
    with pytest.raises(SourceError, match=r"alt.csv:2: alias of entry '999'"):
        load_ofac_csv(tmp_path, "OFAC SDN", URL)


def test_the_watchlist_loader_reports_the_list_file_and_line(tmp_path: Path) -> None:
    lists = tmp_path / "lists"
    shutil.copytree(FIXTURE / "edition-1", tmp_path / "ofac")
    lists.mkdir()
    (lists / "sdn.yaml").write_text("id: sdn\nname: SDN\nchannels: ['#x']\nexemplars: [a sanctioned party]\n"
                                    "entity_sources:\n  - format: ofac-sdn-csv\n    path: ../ofac\n")
    [loaded] = load_watchlist_dir(lists)
    assert loaded.editions[0].entries == 4 and loaded.source_files[0] == tmp_path / "ofac" / "sdn.csv"
    with open(tmp_path / "ofac" / "sdn.csv", "a") as handle:
        handle.write('106,"UNFINISHED')  # a download cut short
    with pytest.raises(WatchlistErrors) as err:
        load_watchlist_dir(lists)
    assert str(err.value).startswith(f"{tmp_path / 'ofac' / 'sdn.csv'}:5: entity_sources[0]:")
    (lists / "sdn.yaml").write_text("id: sdn\nname: SDN\nchannels: ['#x']\nexemplars: [a]\nentity_sources:\n  - format: eu-csv\n    path: x\n")
    with pytest.raises(WatchlistErrors, match=r"sdn.yaml:6: entity_sources\[0\].format: Input should be .ofac-sdn-csv."):
        load_watchlist_dir(lists)


def test_the_presearch_lets_a_named_party_through_whatever_the_lists_rules() -> None:
    from agents.logic.presearch import semantic_needed
    from agents.logic.watchlists import Watchlist

    strict = Watchlist(id="w", name="w", channels=["#c"], exemplars=["x"], thresholds={"match": 1.5},
                       rules=[{"name": "keyword with meaning", "require": ["keyword", "semantic"], "min_semantic": 0.5}])
    index = LexicalIndex([ListTerms([], [], [], [], _edition().names)])
    [named] = index.hits(FoldedText.of("Zarqavian Defence Industries signed a contract."))
    [plain] = index.hits(FoldedText.of("Harmony Trading Co. Ltd. signed a contract."))
    assert semantic_needed(strict, named) < 0
    assert semantic_needed(strict, plain) == float("inf")
