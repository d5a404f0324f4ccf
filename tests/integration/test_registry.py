"""Reload keeps the last good watchlists when an edit is invalid (the encoder is faked: no model needed)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from agents.logic.screening import Screener
from agents.logic.registry import WatchlistRegistry

GOOD = 'id: demo\nname: Demo\nchannels: ["#d"]\nexemplars: ["{text}"]\n'


def fake_encode(texts):
    return np.ones((len(texts), 4), dtype=np.float32) / 2.0


def bump_mtime(path: Path, step: int) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + step * 1_000_000_000))


def test_invalid_edit_keeps_last_good_version_and_a_fix_activates(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(GOOD.format(text="first"))
    registry = WatchlistRegistry(tmp_path, lambda loaded: Screener.build(loaded, fake_encode, None, None))
    registry.load_initial()
    first = registry.versions["demo"]

    path.write_text(GOOD.format(text="second") + "thresholds: {match: 9}\n")
    bump_mtime(path, 1)
    outcome = registry.reload()
    assert not outcome.ok and outcome.errors[0].startswith(f"{path}:5: thresholds.match")
    assert registry.versions == {"demo": first}

    path.write_text(GOOD.format(text="second"))
    bump_mtime(path, 2)
    outcome = registry.reload()
    assert outcome.ok and outcome.changed
    assert registry.versions["demo"] != first
    assert registry.matcher is not None and registry.matcher.compiled[0].watchlist.exemplars == ["second"]
