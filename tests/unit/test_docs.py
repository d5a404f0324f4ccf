"""The README stays a user's guide: short, every link resolves, every setting it names exists."""

from __future__ import annotations

import re

from streams.settings import Settings
from tests.harness import REPO

README = (REPO / "README.md").read_text()


def test_readme_is_at_most_about_250_lines() -> None:
    assert len(README.splitlines()) <= 250


def test_every_relative_link_in_the_readme_and_docs_resolves() -> None:
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"


def test_every_setting_the_readme_names_is_a_real_one() -> None:
    known = {str(field.validation_alias) for field in Settings.model_fields.values()}
    named = set(re.findall(r"\b(?:WIREWATCH|SLACK)_[A-Z_]+[A-Z]\b", README))
    assert named <= known, sorted(named - known)


def test_the_readme_is_not_a_development_log() -> None:
    for word in ("session", "flaw", "TODO"):
        assert not re.search(rf"\b{word}\b", README, re.I), word
