"""A sanctions list from files, on the real model: a named party alerts with its entry as evidence,
an ordinary word does not, and a new edition swapped in changes the alerts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agents.logic.registry import WatchlistRegistry
from agents.logic.screening import Screener, TextItem
from tests.harness import REPO

FIXTURE = REPO / "tests" / "data" / "ofac-fixture"
WATCHLIST = """id: listed
name: Designated parties
channels: ["#wirewatch-sanctions"]
exemplars:
  - The Treasury designated the company and froze its assets under sanctions.
  - The arms exporter was blacklisted for supplying weapons to a sanctioned state.
counter_examples:
  - The launch was a success and customers praised the new phone.
entity_sources:
  - format: ofac-sdn-csv
    path: ../ofac
"""
STORIES = [
    TextItem("volkharsk", "Ivor Volkharsk flew to Dubai to meet arms buyers",
             "Officials said Ivor Volkharsk arranged the shipment of rifles through a network of front firms."),
    TextItem("kestrelvan", "Kestrelvan Arms Export Company ships rifles to a new buyer",
             "Kestrelvan Arms Export Company signed a contract to deliver rifles and ammunition abroad."),
    TextItem("success", "Product launch a huge success",
             "The company said the launch was a great success and sales of the new phone beat forecasts."),
]


@pytest.fixture
def registry(tmp_path: Path, embedder, static_encoder) -> tuple[WatchlistRegistry, Path]:
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "listed.yaml").write_text(WATCHLIST)
    shutil.copytree(FIXTURE / "edition-1", tmp_path / "ofac")
    reg = WatchlistRegistry(tmp_path / "lists", lambda loaded: Screener.build(loaded, embedder.encode, static_encoder, None))
    reg.load_initial()
    return reg, tmp_path / "ofac"


def _alerts(reg: WatchlistRegistry, embedder) -> dict[str, dict]:
    assert reg.screener is not None
    out = {}
    for result in reg.screener.screen(STORIES, embedder.encode):
        for decision in result.decisions:
            if decision.matched:
                out[result.item.id] = decision.evidence
    return out


def test_a_named_party_alerts_with_its_entry_and_an_ordinary_word_does_not(registry, embedder) -> None:
    reg, _ = registry
    alerts = _alerts(reg, embedder)
    assert set(alerts) == {"volkharsk"}
    [entry] = alerts["volkharsk"]["listed"]
    assert (entry["list"], entry["entry_id"], entry["name"], entry["type"], entry["alone"]) == (
        "OFAC SDN", "102", "VOLKHARSK, Ivor Petrovich", "individual", True)
    assert entry["found"] == "ivor volkharsk" and entry["url"].endswith("id=102") and entry["programs"] == ["FICTA"]


def test_a_new_edition_is_picked_up_by_the_reload_and_changes_the_alerts(registry, embedder) -> None:
    reg, ofac = registry
    before = reg.versions["listed"]
    for name in ("sdn.csv", "alt.csv"):  # entry 102 removed, entry 105 added
        shutil.copy(FIXTURE / "edition-2" / name, ofac / name)
    outcome = reg.reload()
    assert outcome.changed and outcome.ok and reg.versions["listed"] != before
    assert set(_alerts(reg, embedder)) == {"kestrelvan"}


def test_a_truncated_edition_is_refused_and_the_last_good_one_stays(registry, embedder) -> None:
    reg, ofac = registry
    before = reg.versions["listed"]
    text = (FIXTURE / "edition-2" / "sdn.csv").read_text()
    (ofac / "sdn.csv").write_text(text[: len(text) - 30])  # cut inside the last row
    outcome = reg.reload()
    assert outcome.changed and not outcome.ok
    assert outcome.errors[0].startswith(f"{ofac / 'sdn.csv'}:4: entity_sources[0]:") and "truncated" in outcome.errors[0]
    assert reg.versions["listed"] == before and set(_alerts(reg, embedder)) == {"volkharsk"}
