"""The evidence, as people read it: the same words everywhere, and never a crash on odd evidence."""

from __future__ import annotations

from typing import Any

import pytest

from agents.logic.evidence_text import describe, score_line, terms_text, why_not

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


def _evidence(rule: str, final: float, **extra: Any) -> dict[str, Any]:
    scores = {"semantic": 0.4, "lexical": 0.25, "counter": 0.7, "final": final, "threshold": 0.5}
    return {"rule": rule, "scores": scores, "matched": [], **extra}


def test_why_not_names_what_stopped_the_item() -> None:
    excluded = _evidence("excluded: names a look-alike", 0.6, matched=[{"kind": "exclude", "text": "rare earth hypothesis"}])
    assert why_not(excluded, 0.6, eligible=False) == 'exclude term "rare earth hypothesis": the story names a look-alike'
    vetoed = _evidence("vetoed by counter-example", 0.6, counter_example="Scientists discussed the Rare Earth hypothesis.")
    assert why_not(vetoed, 0.6, eligible=False).startswith('vetoed: closer to the counter-example "Scientists discussed')
    no_rule = why_not(_evidence("no rule satisfied", 0.3), 0.3, eligible=False, rules="keyword: keyword")
    assert no_rule == "no rule satisfied: no terms (semantic only), semantic 0.40; the list's rules: keyword: keyword"
    assert why_not(_evidence("keyword", 0.45), 0.45, eligible=True) == "score 0.45 below the threshold 0.50"
    assert why_not(_evidence("keyword", 0.55), 0.55, eligible=True).startswith("it reaches the threshold")
