"""Model folders are swapped in whole, and a folder wirewatch did not make is never deleted."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.logic.model_cache import is_complete, new_staging, publish


def _staged(target: Path) -> Path:
    staging = new_staging(target)
    (staging / "model.bin").write_bytes(b"weights")
    return staging


def test_a_published_folder_is_complete_and_replaces_an_older_one(tmp_path: Path) -> None:
    target = tmp_path / "model"
    publish(_staged(target), target, "manifest.json", {"format": 1, "package": "1.0"})
    assert is_complete(target, "manifest.json", 1, "model.bin", {"package": "1.0"})
    assert not is_complete(target, "manifest.json", 1, "model.bin", {"package": "2.0"})  # an upgrade makes it again
    assert not is_complete(target, "manifest.json", 2, "model.bin")
    publish(_staged(target), target, "manifest.json", {"format": 2})
    assert is_complete(target, "manifest.json", 2, "model.bin")
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no staging folder left behind


def test_a_manifest_that_is_not_an_object_or_not_json_means_not_built(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"x")
    for text in ("[]", "not json", '"a string"'):
        (tmp_path / "manifest.json").write_text(text)
        assert not is_complete(tmp_path, "manifest.json", 1, "model.bin")


def test_a_folder_wirewatch_did_not_make_is_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "somebody-elses"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a folder wirewatch made"):
        publish(_staged(target), target, "manifest.json", {"format": 1})
    assert (target / "notes.txt").read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["somebody-elses"]


def test_a_staging_folder_left_by_a_build_that_died_is_removed(tmp_path: Path) -> None:
    target = tmp_path / "onnx[model]"  # brackets: the name is matched literally, not as a pattern
    leftover = tmp_path / "onnx[model].building-999999"
    leftover.mkdir()
    (leftover / "model.onnx").write_bytes(b"half written")
    not_ours = [tmp_path / "onnx[model].building-notes", tmp_path / "onnxm.building-1", tmp_path / "onnx[model]-other.building-1"]
    for folder in not_ours:
        folder.mkdir()
    staging = new_staging(target)
    assert staging.is_dir() and not any(staging.iterdir())
    assert not leftover.exists()
    assert all(folder.exists() for folder in not_ours)
