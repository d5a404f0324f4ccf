"""The evidence, as people read it: the same words everywhere, and never a crash on odd evidence."""

from __future__ import annotations

from typing import Any

import pytest

from agents.logic.evidence_text import describe, score_line, terms_text

FULL = {
    "rule": "campaign named", "sentence": "Salt Typhoon breached carriers.",
    "matched": [{"kind": "exemplar", "text": "A state hacking campaign"}, {"kind": "keyword", "text": "salt typhoon", "found": "Salt Typhoon"}],
    "scores": {"semantic": 0.53, "lexical": 0.4, "counter": 0.1, "final": 0.72, "threshold": 0.5},
}


def test_full_evidence_reads_as_score_rule_sentence_terms_and_exemplar() -> None:
    lines = describe(FULL)
    assert lines[0] == "score 0.72 (threshold 0.50; semantic 0.53, lexical 0.40, counter 0.10); rule: campaign named"
    assert lines[1] == "sentence: Salt Typhoon breached carriers."
    assert lines[2] == 'terms: keyword "salt typhoon" (found: Salt Typhoon)'
    assert lines[3] == "closest exemplar: A state hacking campaign"


@pytest.mark.parametrize("evidence", [{}, {"scores": "x", "matched": "y"}, {"scores": {"final": "NaN?"}, "matched": [5, None]}])
def test_odd_evidence_still_reads(evidence: dict[str, Any]) -> None:
    assert describe(evidence, score=0.5)[0].startswith("score ")
    assert terms_text(evidence) == "no terms (semantic only)"


def test_the_alert_score_stands_in_when_the_evidence_has_none() -> None:
    assert score_line({}, 0.61).startswith("score 0.61 ")
