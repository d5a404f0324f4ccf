"""`wirewatch watchlists test` and `check` on the real model: matches, near misses and what stopped each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streams.settings import Settings
from tests.harness import REPO
from wirewatch.cli import main
from wirewatch.watchlist_tools import cmd_test

ITEMS = [
    {"id": "hit", "title": "China tightens export controls on rare earth magnets",
     "body": "Beijing added licensing rules for neodymium and dysprosium exports, and carmakers warned of shortages."},
    {"id": "lookalike", "title": "Authors of the Rare Earth hypothesis explain why complex life may be scarce",
     "body": "Two scientists argue that animal life needs a rare mix of planetary conditions."},
    {"id": "bakery", "title": "Local bakery wins a prize for its sourdough", "body": "The jury praised the crust."},
]


@pytest.fixture
def news(tmp_path: Path) -> Path:
    path = tmp_path / "news.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in ITEMS))
    return path


def test_dry_run_lists_matches_then_near_misses_with_their_reasons(embedder, news: Path, capsys: pytest.CaptureFixture[str]) -> None:
    watchlist = REPO / "config" / "watchlists" / "rare_earths.yaml"
    assert cmd_test(Settings(), watchlist, news, False, REPO / "config" / "watchlists", embedder, near_misses=5) == 0
    out = capsys.readouterr().out
    assert "1 of 3 items would match" in out
    assert "MATCH hit:" in out and "MATCH lookalike" not in out
    near = out.split("near misses", 1)[1]
    assert "NEAR MISS lookalike" in near and "NEAR MISS bakery" in near and "NEAR MISS hit" not in near
    assert near.index("NEAR MISS lookalike") < near.index("NEAR MISS bakery"), "closest first"
    lookalike = near.split("NEAR MISS lookalike", 1)[1].split("NEAR MISS", 1)[0]
    assert "stopped by: vetoed" in lookalike or "stopped by: exclude term" in lookalike
    bakery = near.split("NEAR MISS bakery", 1)[1]
    assert "stopped by: no rule satisfied" in bakery and "the presearch skipped it too" in bakery


def test_dry_run_without_near_misses_prints_none(embedder, news: Path, capsys: pytest.CaptureFixture[str]) -> None:
    watchlist = REPO / "config" / "watchlists" / "rare_earths.yaml"
    assert cmd_test(Settings(), watchlist, news, False, REPO / "config" / "watchlists", embedder) == 0
    assert "NEAR MISS" not in capsys.readouterr().out


def test_check_takes_the_folder_as_watchlists_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watchlists", "check", "--watchlists", str(REPO / "config" / "watchlists")]) == 0
    assert "ok " in capsys.readouterr().out
    broken = tmp_path / "lists"
    broken.mkdir()
    (broken / "bad.yaml").write_text("id: x\nthresholds: [\n")
    assert main(["watchlists", "check", "--watchlists", str(broken)]) == 1
    assert f"{broken / 'bad.yaml'}:" in capsys.readouterr().out
