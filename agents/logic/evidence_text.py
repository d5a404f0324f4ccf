"""An alert's evidence as text: the same words wherever a person reads why an item matched
(Slack, the worker console, `evaluate`, `watchlists test`). Tolerant of missing parts: the
evidence may come from an alert record another writer produced."""

from __future__ import annotations

from typing import Any

TERM_KINDS = ("keyword", "entity")


def _number(scores: dict[str, Any], name: str, default: float = 0.0) -> float:
    try:
        return float(scores.get(name, default))
    except (TypeError, ValueError):
        return default


def score_line(evidence: dict[str, Any], score: float | None = None) -> str:
    """score 0.78 (threshold 0.50; semantic 0.71, lexical 0.25, counter 0.10)"""
    scores = evidence.get("scores") if isinstance(evidence.get("scores"), dict) else {}
    final = _number(scores, "final", score if score is not None else 0.0)
    return (
        f"score {final:.2f} (threshold {_number(scores, 'threshold'):.2f}; semantic {_number(scores, 'semantic'):.2f}, "
        f"lexical {_number(scores, 'lexical'):.2f}, counter {_number(scores, 'counter'):.2f})"
    )


def matched_terms(evidence: dict[str, Any], kinds: tuple[str, ...] = TERM_KINDS) -> list[dict[str, Any]]:
    """The matched entries of these kinds (keyword, entity by default), in the matcher's order."""
    matched = evidence.get("matched")
    return [m for m in matched if isinstance(m, dict) and m.get("kind") in kinds] if isinstance(matched, list) else []


def terms_text(evidence: dict[str, Any]) -> str:
    """keyword "rare earth" (found: rare earths); entity ..."""
    parts = [f"{m['kind']} \"{m.get('text', '')}\"" + (f" (found: {m['found']})" if m.get("found") else "") for m in matched_terms(evidence)]
    return "; ".join(parts) or "no terms (semantic only)"


def closest_exemplar(evidence: dict[str, Any]) -> str:
    found = matched_terms(evidence, ("exemplar",))
    return str(found[0].get("text", "")) if found else ""


def language_note(evidence: dict[str, Any]) -> str:
    """Which reader saw a story not in English: the multilingual model (with its sentence and exemplar),
    or none at all (a language no model nor the glossary covers). Empty for everything else."""
    language = evidence.get("language") if isinstance(evidence.get("language"), dict) else {}
    code = str(language.get("code", ""))
    crossed = evidence.get("crosslingual") if isinstance(evidence.get("crosslingual"), dict) else {}
    if crossed and str(evidence.get("rule", "")).startswith("cross-lingual"):
        return (f'read in {code} by the multilingual model: "{str(crossed.get("found", ""))[:160]}" is close to '
                f'"{str(crossed.get("exemplar", ""))[:120]}" (similarity {_number(crossed, "similarity"):.2f}, '
                f'threshold {_number(crossed, "threshold"):.2f})')
    if language and language.get("covered") is False:
        return f"language '{code}' is not covered by the models or the glossary: screened by keywords, names and the English model only"
    return ""


def describe(evidence: dict[str, Any], score: float | None = None, sentence_chars: int = 200) -> list[str]:
    """The evidence as a few indented lines for a terminal."""
    lines = [f"{score_line(evidence, score)}; rule: {evidence.get('rule', '-')}",
             f"sentence: {str(evidence.get('sentence', ''))[:sentence_chars]}",
             f"terms: {terms_text(evidence)}"]
    exemplar = closest_exemplar(evidence)
    if exemplar:
        lines.append(f"closest exemplar: {exemplar[:120]}")
    note = language_note(evidence)
    if note:
        lines.append(note)
    return lines


def why_not(evidence: dict[str, Any], score: float, eligible: bool, rules: str = "") -> str:
    """What stopped an item that did not match: an exclude term, a counter-example, no rule, or the threshold.
    `rules` (the list's rules as text) is shown when no rule was satisfied."""
    scores = evidence.get("scores") if isinstance(evidence.get("scores"), dict) else {}
    rule = str(evidence.get("rule", ""))
    if rule.startswith("excluded"):
        found = ", ".join(f'"{m.get("text", "")}"' for m in matched_terms(evidence, ("exclude",)))
        return f"exclude term {found or '(unnamed)'}: the story names a look-alike"
    if rule.startswith("vetoed"):
        example = str(evidence.get("counter_example", ""))[:100]
        return f'vetoed: closer to the counter-example "{example}" (counter {_number(scores, "counter"):.2f})'
    if not eligible:
        needed = f"; the list's rules: {rules}" if rules else ""
        return f"no rule satisfied: {terms_text(evidence)}, semantic {_number(scores, 'semantic'):.2f}{needed}"
    threshold = _number(scores, "threshold")
    if score < threshold:
        return f"score {score:.2f} below the threshold {threshold:.2f}"
    return "it reaches the threshold: only the presearch stopped it"
