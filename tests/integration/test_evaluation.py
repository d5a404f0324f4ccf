"""Metric arithmetic on hand-computed cases, labelled-data errors, and the evaluate contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.logic.evaluation import (
    Counts,
    DataError,
    ScoredItem,
    best_threshold,
    count,
    macro_f1,
    pr_curve,
    read_labelled,
)
from streams.settings import Settings
from tests.harness import REPO


def test_counts_and_f1_by_hand() -> None:
    gold = {"a": ["x"], "b": ["x", "y"], "c": [], "d": ["y"], "e": []}
    predicted = {"a": ["x"], "b": ["y"], "c": ["x"], "d": [], "e": []}
    counts = count(predicted, gold, ["x", "y"])
    # x: TP a; FN b; FP c  -> P 1/2, R 1/2, F1 1/2
    assert (counts["x"].tp, counts["x"].fp, counts["x"].fn) == (1, 1, 1)
    assert counts["x"].f1 == pytest.approx(0.5)
    # y: TP b; FN d -> P 1, R 1/2, F1 2/3
    assert (counts["y"].tp, counts["y"].fp, counts["y"].fn) == (1, 0, 1)
    assert counts["y"].precision == 1.0
    assert counts["y"].f1 == pytest.approx(2 / 3)
    assert macro_f1(counts) == pytest.approx((0.5 + 2 / 3) / 2)


def test_empty_counts_are_zero_not_a_crash() -> None:
    assert Counts().precision == Counts().recall == Counts().f1 == 0.0


def test_pr_curve_and_best_threshold() -> None:
    scored = [
        ScoredItem("p1", 0.9, True, True),
        ScoredItem("n1", 0.8, True, False),
        ScoredItem("p2", 0.7, True, True),
        ScoredItem("n2", 0.4, True, False),
        ScoredItem("p3", 0.95, False, True),  # not eligible: never counted as found
    ]
    points = {round(p.threshold, 2): p for p in pr_curve(scored)}
    assert points[0.9].precision == 1.0 and points[0.9].recall == pytest.approx(1 / 3)
    assert points[0.7].precision == pytest.approx(2 / 3) and points[0.7].recall == pytest.approx(2 / 3)
    assert points[0.4].recall == pytest.approx(2 / 3) and points[0.4].precision == pytest.approx(0.5)
    # Best F1 is at 0.7 (2/3); the chosen threshold sits halfway to the next score below it.
    assert best_threshold(scored) == pytest.approx(0.55)
    assert best_threshold(scored, floor=0.6) == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "expected a JSON object"),
        ('{"id": "x", "title": "t", "body": "b"}', "no 'labels' field"),
        ('{"id": "x", "title": "", "body": "b", "labels": []}', "'title' must be a non-empty string"),
    ],
)
def test_malformed_line_names_its_line_number(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text('{"id": "ok", "title": "t", "body": "b", "labels": []}\n\n' + line + "\n")
    with pytest.raises(DataError) as err:
        read_labelled(path)
    assert str(err.value).startswith(f"{path}:3: ")
    assert message in str(err.value)


def test_cli_reports_malformed_line_and_exits_nonzero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from wirewatch.cli import main

    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "title": "t", "body": "b", "labels": []}\n{"id": 5}\n')
    assert main(["evaluate", str(path), "--json"]) != 0
    captured = capsys.readouterr()
    assert f"{path}:2:" in captured.err
    assert captured.out == ""


def test_evaluate_on_unlabelled_data_says_what_labelled_data_is_and_where(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from wirewatch.cli import main

    path = tmp_path / "feed.jsonl"
    path.write_text('{"id": "a", "title": "Some news", "body": "text"}\n')
    for command in ("evaluate", "calibrate"):
        assert main([command, str(path)]) == 2
        err = capsys.readouterr().err
        assert f"{path}:1: no 'labels' field" in err
        assert "config/labelled/news-dev-labelled.jsonl" in err and "watchlists test" in err
        assert (REPO / "config" / "labelled" / "news-dev-labelled.jsonl").is_file()


def test_evaluate_json_contract_on_real_matcher(embedder, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from wirewatch.evaluate import cmd_evaluate

    plot = tmp_path / "pr.png"
    code = cmd_evaluate(Settings(), REPO / "tests" / "data" / "labelled-small.jsonl", REPO / "config" / "watchlists", True, plot, embedder)
    assert code == 0
    out = capsys.readouterr().out
    report = json.loads(out)  # exactly one JSON object and nothing else
    assert set(report) == {"macro_f1", "items", "watchlists", "languages", "cascade"}
    assert sum(row["items"] for row in report["languages"].values()) == 4
    assert all(set(row) == {"items", "labels", "found", "recall", "false_positives"} for row in report["languages"].values())
    assert report["items"] == 4
    assert report["cascade"]["items"] == 4 and 3 <= report["cascade"]["candidates"] <= 4  # the bakery may be skipped
    assert set(report["watchlists"]) == {"sanctions", "rare_earths", "salt_typhoon"}
    for figures in report["watchlists"].values():
        assert set(figures) == {"precision", "recall", "f1", "tp", "fp", "fn"}
    # The Korean rare-earth item is found through the glossary; the bakery matches nothing.
    assert report["watchlists"]["rare_earths"]["tp"] == 2
    assert report["watchlists"]["sanctions"]["tp"] == 1
    assert sum(f["fp"] for f in report["watchlists"].values()) == 0
    assert plot.stat().st_size > 10_000


BACKGROUND = REPO.parent / "shared" / "data" / "firehose-background.jsonl"


def test_evaluate_compare_full_counts_the_matches_the_cascade_keeps(embedder, capsys: pytest.CaptureFixture[str]) -> None:
    """The cascade may only skip work: on the labelled items plus a background sample, every match
    the full matcher makes is made by the cascade too, and the background is mostly skipped."""
    from wirewatch.evaluate import cmd_evaluate

    if not BACKGROUND.is_file():
        pytest.skip(f"{BACKGROUND} is not there (the real background articles live outside the repository)")
    code = cmd_evaluate(
        Settings(), REPO / "config" / "labelled" / "news-dev-labelled.jsonl", REPO / "config" / "watchlists", True, None, embedder,
        compare_full=True, background=BACKGROUND, background_items=200,
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    cascade = report["cascade"]
    assert cascade["items"] == 152 + cascade["background_items"]
    assert cascade["full_matches"] > 90
    assert cascade["kept_matches"] / cascade["full_matches"] >= 0.995
    assert cascade["candidates"] < 152 + cascade["background_items"] * 0.1
