"""Matching quality: labelled data, per-watchlist counts, precision/recall/F1, PR curves.

Plain Python so the arithmetic can be tested on hand-computed cases, and so
`wirewatch evaluate`, calibration and cross-validation all count the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence


class DataError(ValueError):
    """A labelled-data line that cannot be used; the message names FILE:LINE."""


class UnlabelledData(DataError):
    """Quality figures need labels; the file has none (a feed, not an evaluation set)."""


@dataclass(frozen=True)
class LabelledItem:
    id: str
    title: str
    body: str
    labels: frozenset[str]
    lang: str = ""


def read_labelled(path: Path, require_labels: bool = True) -> list[LabelledItem]:
    """JSON lines with id, title, body and labels (a list of watchlist ids; optional when not required)."""
    items: list[LabelledItem] = []
    seen: set[str] = set()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read: {exc}") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not valid JSON: {exc.msg} at column {exc.colno}") from None
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
        for name in ("id", "title"):
            if not isinstance(row.get(name), str) or not row[name].strip():
                raise DataError(f"{where}: field {name!r} must be a non-empty string")
        body = row.get("body", "")
        if not isinstance(body, str):
            raise DataError(f"{where}: field 'body' must be a string")
        if require_labels and "labels" not in row:
            raise UnlabelledData(f"{where}: no 'labels' field: this file is not labelled")
        labels = row.get("labels", [])
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise DataError(f"{where}: field 'labels' must be a list of watchlist ids ([] for none)")
        if row["id"] in seen:
            raise DataError(f"{where}: duplicate id {row['id']!r}")
        seen.add(row["id"])
        lang = row.get("lang") if isinstance(row.get("lang"), str) else ""
        items.append(LabelledItem(row["id"], row["title"], body, frozenset(labels), lang or ""))
    if not items:
        raise DataError(f"{path}: no items")
    return items


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


def count(
    predicted: Mapping[str, Iterable[str]], gold: Mapping[str, Iterable[str]], watchlist_ids: Sequence[str]
) -> dict[str, Counts]:
    """Per-watchlist TP/FP/FN over the items in `gold`; predicted[id] lists matched watchlist ids."""
    counts = {wid: Counts() for wid in watchlist_ids}
    for item_id, labels in gold.items():
        truth = set(labels)
        guess = set(predicted.get(item_id, ()))
        for wid in watchlist_ids:
            if wid in guess and wid in truth:
                counts[wid].tp += 1
            elif wid in guess:
                counts[wid].fp += 1
            elif wid in truth:
                counts[wid].fn += 1
    return counts


def macro_f1(counts: Mapping[str, Counts]) -> float:
    return sum(c.f1 for c in counts.values()) / len(counts) if counts else 0.0


@dataclass(frozen=True)
class ScoredItem:
    """One item's score for one watchlist; `eligible` is False when a rule or a counter-example rules it out."""

    item_id: str
    score: float
    eligible: bool
    positive: bool
    alone: bool = False  # matched whatever the score threshold (a listed name, the cross-lingual rule)

    def hit_at(self, threshold: float) -> bool:
        return self.eligible and (self.alone or self.score >= threshold)


@dataclass
class CurvePoint:
    threshold: float
    precision: float
    recall: float
    f1: float


def pr_curve(scored: Sequence[ScoredItem]) -> list[CurvePoint]:
    """Precision and recall at every distinct eligible score used as the match threshold."""
    positives = sum(1 for s in scored if s.positive)
    thresholds = sorted({s.score for s in scored if s.eligible}, reverse=True)
    points: list[CurvePoint] = []
    for threshold in thresholds:
        c = Counts()
        for s in scored:
            hit = s.hit_at(threshold)
            c.tp += hit and s.positive
            c.fp += hit and not s.positive
        c.fn = positives - c.tp
        points.append(CurvePoint(threshold, c.precision, c.recall, c.f1))
    return points


def best_threshold(scored: Sequence[ScoredItem], floor: float = 0.0) -> float:
    """The threshold with the best F1; ties go to the midpoint of the widest safe gap (higher is safer)."""
    points = pr_curve(scored)
    if not points:
        return max(floor, 1.0)
    best = max(p.f1 for p in points)
    # Points come in descending threshold order; the lowest threshold with the best F1
    # admits the most recall, and we then sit halfway to the next eligible score below it
    # so that a slightly weaker unseen positive still passes.
    candidates = [p.threshold for p in points if p.f1 == best]
    chosen = min(candidates)
    below = [s.score for s in scored if s.eligible and not s.alone and s.score < chosen]
    if below:
        chosen = (chosen + max(below)) / 2
    return max(floor, round(chosen, 4))


@dataclass
class Report:
    """What `wirewatch evaluate` prints."""

    items: int
    counts: dict[str, Counts]
    errors: list[dict[str, object]] = field(default_factory=list)

    @property
    def macro_f1(self) -> float:
        return macro_f1(self.counts)

    def as_json(self) -> dict[str, object]:
        return {
            "macro_f1": round(self.macro_f1, 4),
            "items": self.items,
            "watchlists": {wid: c.as_dict() for wid, c in self.counts.items()},
        }
