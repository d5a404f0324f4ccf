"""The offline dependency check reports an installed package below its floor, and only that."""

from __future__ import annotations

import importlib.util
from importlib import metadata
from pathlib import Path

from tests.harness import REPO

spec = importlib.util.spec_from_file_location("audit", REPO / "scripts" / "audit.py")
audit = importlib.util.module_from_spec(spec)
spec.loader.exec_module(audit)


def test_a_package_below_its_floor_is_reported(tmp_path: Path) -> None:
    floors = tmp_path / "floors.txt"
    floors.write_text(f"pytest>=999  # CVE-0000-0001\npytest>={metadata.version('pytest')}\nnot-installed-package>=1\n")
    problems = audit.below_floors(floors)
    assert len(problems) == 1 and "pytest" in problems[0] and "CVE-0000-0001" in problems[0]


def test_the_shipped_floors_hold_here() -> None:
    assert audit.below_floors() == []
