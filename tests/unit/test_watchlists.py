from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from agents.logic.watchlists import WatchlistErrors, load_watchlist_dir, parse_watchlist
from tests.harness import REPO

VALID = """\
id: demo
name: Demo
channels: ["#demo"]
exemplars:
  - Something happened.
"""


def errors_of(text: str | bytes, file: str = "w.yaml") -> list[str]:
    raw = text.encode() if isinstance(text, str) else text
    with pytest.raises(WatchlistErrors) as info:
        parse_watchlist(raw, file)
    return [str(e) for e in info.value.errors]


def test_shipped_watchlists_are_valid() -> None:
    ids = {entry.watchlist.id for entry in load_watchlist_dir(REPO / "config" / "watchlists")}
    assert ids == {"sanctions", "rare_earths", "salt_typhoon"}


def test_valid_minimal_file() -> None:
    assert parse_watchlist(VALID.encode(), "w.yaml").id == "demo"


def test_yaml_syntax_error_has_its_line() -> None:
    assert errors_of(VALID + "keywords: [unclosed\nother: 1\n")[0].startswith("w.yaml:7: (yaml): YAML syntax error")


def test_unknown_field_suggests_the_right_name() -> None:
    (error,) = errors_of(VALID + "exemplar: [x]\n")
    assert error == "w.yaml:6: exemplar: unknown field (did you mean 'exemplars'?)"


def test_unknown_nested_field() -> None:
    (error,) = errors_of(VALID + "thresholds:\n  macth: 0.5\n")
    assert error == "w.yaml:7: thresholds.macth: unknown field (did you mean 'match'?)"


def test_wrong_type() -> None:
    (error,) = errors_of(VALID + "enabled: maybe\n")
    assert error.startswith("w.yaml:6: enabled: ")


def test_empty_exemplars() -> None:
    (error,) = errors_of(VALID.replace("exemplars:\n  - Something happened.\n", "exemplars: []\n"))
    assert error == "w.yaml:4: exemplars: needs at least one exemplar sentence"


def test_blank_exemplar_sentence() -> None:
    (error,) = errors_of(VALID + '  - "  "\n')
    assert error.startswith("w.yaml:4: exemplars: ")


def test_threshold_out_of_range() -> None:
    (error,) = errors_of(VALID + "thresholds:\n  match: 7\n")
    assert error.startswith("w.yaml:7: thresholds.match: ")


def test_duplicate_id_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(VALID)
    (tmp_path / "b.yaml").write_text(VALID)
    with pytest.raises(WatchlistErrors) as info:
        load_watchlist_dir(tmp_path)
    (error,) = [str(e) for e in info.value.errors]
    assert error == f"{tmp_path / 'b.yaml'}:1: id: id 'demo' is already used by {tmp_path / 'a.yaml'}"


def test_alias_bomb_fails_fast() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in range(1, 10):
        prev = chr(ord("a") + level - 1)
        name = chr(ord("a") + level)
        bomb += f"{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
    started = time.perf_counter()
    (error,) = errors_of(bomb)
    assert time.perf_counter() - started < 2.0
    assert "alias bomb" in error


def test_binary_and_huge_files() -> None:
    assert "binary file" in errors_of(b"\x00\x01\x02")[0]
    assert "byte limit" in errors_of(b"a" * (600 * 1024))[0]
    assert "UTF-8" in errors_of(b"id: \xff\n")[0]


def test_python_tags_are_refused() -> None:
    assert "(yaml)" in errors_of(VALID + "x: !!python/object/apply:os.system ['true']\n")[0]


def test_committed_json_schema_is_generated_from_the_model_and_accepts_shipped_lists() -> None:
    import jsonschema
    import yaml

    from wirewatch.watchlist_tools import schema_text

    committed = (REPO / "config" / "watchlist.schema.json").read_text(encoding="utf-8")
    assert committed == schema_text(), "run: wirewatch watchlists schema --write config/watchlist.schema.json"
    schema = json.loads(committed)
    for path in sorted((REPO / "config" / "watchlists").glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"id": "x", "name": "x", "channels": ["#x"], "exemplars": ["x"], "exemplar": []}, schema)


def test_regular_expressions_are_not_a_field() -> None:
    # Terms use a trailing '*' only; a 'regex' or 'patterns' field is refused, not silently ignored.
    (error,) = errors_of(VALID + "patterns: ['sanction(s|ed']\n")
    assert error.startswith("w.yaml:6: patterns: unknown field")
