"""`wirewatch evaluate` and `wirewatch calibrate`: matching quality on labelled news.

Both use the pipeline's own chunking, model and matcher (agents.logic.screening),
so a figure printed here is what the running worker would do.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from agents.logic.evaluation import (
    Counts,
    DataError,
    UnlabelledData,
    LabelledItem,
    Report,
    ScoredItem,
    best_threshold,
    count,
    pr_curve,
    read_labelled,
)
from agents.logic.evidence_text import describe
from agents.logic.language import detect_language
from agents.logic.matcher import Decision
from agents.logic.screening import SKIPPED_RULE, Screened, Screener, TextItem, cascade_view
from agents.logic.watchlists import LoadedWatchlist, WatchlistErrors, load_watchlist_dir
from streams.settings import Settings
from wirewatch.screening_setup import LABELLED_DEV, REPO

WORST_SHOWN = 5


@dataclass
class Evaluation:
    items: list[LabelledItem]
    screened: list[Screened]  # what the pipeline decides (the cascade)
    watchlist_ids: list[str]
    thresholds: dict[str, float]
    screener: Screener
    full: list[Screened] | None = None  # the full matcher on every item, when asked for

    def cascade_json(self) -> dict[str, object]:
        out: dict[str, object] = {"items": len(self.screened), "candidates": sum(1 for s in self.screened if s.candidate)}
        out["passed_per_watchlist"] = {wid: sum(1 for s in self.screened if wid in s.passed) for wid in self.watchlist_ids}
        if self.full is not None:
            full = {(s.item.id, wid) for s in self.full for wid in s.matched_ids}
            kept = {(s.item.id, wid) for s in self.screened for wid in s.matched_ids}
            out.update(full_matches=len(full), kept_matches=len(full & kept))
        return out

    def lost_matches(self) -> list[tuple[str, str]]:
        if self.full is None:
            return []
        kept = {(s.item.id, wid) for s in self.screened for wid in s.matched_ids}
        return sorted((s.item.id, wid) for s in self.full for wid in s.matched_ids if (s.item.id, wid) not in kept)

    def scored(self, watchlist_id: str, subset: set[str] | None = None) -> list[ScoredItem]:
        out = []
        for labelled, result in zip(self.items, self.screened):
            if subset is not None and labelled.id not in subset:
                continue
            decision = _decision(result, watchlist_id)
            out.append(ScoredItem(labelled.id, decision.score, decision.eligible, watchlist_id in labelled.labels, decision.alone))
        return out


def _decision(result: Screened, watchlist_id: str) -> Decision:
    return next(d for d in result.decisions if d.watchlist.id == watchlist_id)


def load_inputs(data: Path, watchlists: Path) -> tuple[list[LabelledItem], list[LoadedWatchlist]]:
    return read_labelled(data), load_watchlist_dir(watchlists)


def run_matcher(
    settings: Settings, items: Sequence[LabelledItem], loaded: Sequence[LoadedWatchlist], embedder=None, full: bool = False
) -> Evaluation:
    """Screen the items as the pipeline does; with `full`, also keep the full matcher's decisions on every item
    (scores for calibration, and the matches the cascade would have to keep)."""
    from wirewatch.screening_setup import build_screener, load_glossary, make_embedder

    embedder = embedder or make_embedder(settings)
    screener = build_screener(settings, loaded, embedder.encode, load_glossary(settings))
    screened = screener.screen([TextItem(i.id, i.title, i.body) for i in items], embedder.encode, full=full)
    compiled = screener.matcher.compiled
    ids = [c.watchlist.id for c in compiled]
    thresholds = {c.watchlist.id: c.watchlist.thresholds.match for c in compiled}
    return Evaluation(list(items), cascade_view(screened, screener), ids, thresholds, screener, screened if full else None)


def report_of(evaluation: Evaluation, thresholds: dict[str, float] | None = None, subset: set[str] | None = None) -> Report:
    """Counts at the given thresholds (default: the watchlists' own), over `subset` of item ids."""
    thresholds = thresholds or evaluation.thresholds
    gold: dict[str, frozenset[str]] = {}
    predicted: dict[str, set[str]] = {}
    for labelled, result in zip(evaluation.items, evaluation.screened):
        if subset is not None and labelled.id not in subset:
            continue
        gold[labelled.id] = labelled.labels & set(evaluation.watchlist_ids)
        predicted[labelled.id] = {
            d.watchlist.id for d in result.decisions if d.hit_at(thresholds[d.watchlist.id])
        }
    return Report(items=len(gold), counts=count(predicted, gold, evaluation.watchlist_ids))


def non_english_recall(
    evaluation: Evaluation, thresholds: dict[str, float] | None = None, subset: set[str] | None = None
) -> tuple[int, int]:
    """(found, labelled) over watchlist labels on items whose lang is not English, at the given thresholds."""
    thresholds = thresholds or evaluation.thresholds
    found = total = 0
    for labelled, result in zip(evaluation.items, evaluation.screened):
        if labelled.lang in ("", "en") or (subset is not None and labelled.id not in subset):
            continue
        for wid in labelled.labels & set(evaluation.watchlist_ids):
            decision = _decision(result, wid)
            total += 1
            found += decision.hit_at(thresholds[wid])
    return found, total


def per_language(evaluation: Evaluation, subset: set[str] | None = None) -> dict[str, dict[str, float | int]]:
    """Per language (the item's `lang`, else detected): items, labels found of labels held
    (recall), and false positives, at the watchlists' own thresholds."""
    rows: dict[str, dict[str, float | int]] = {}
    for labelled, result in zip(evaluation.items, evaluation.screened):
        if subset is not None and labelled.id not in subset:
            continue
        lang = labelled.lang or detect_language(f"{labelled.title} {labelled.body}")
        row = rows.setdefault(lang, {"items": 0, "labels": 0, "found": 0, "false_positives": 0})
        row["items"] += 1
        gold = labelled.labels & set(evaluation.watchlist_ids)
        for decision in result.decisions:
            hit = decision.hit_at(evaluation.thresholds[decision.watchlist.id])
            if decision.watchlist.id in gold:
                row["labels"] += 1
                row["found"] += int(hit)
            elif hit:
                row["false_positives"] += 1
    for row in rows.values():
        row["recall"] = round(row["found"] / row["labels"], 4) if row["labels"] else 1.0
    return dict(sorted(rows.items(), key=lambda kv: (kv[0] != "en", kv[0])))


def _mistakes(evaluation: Evaluation) -> tuple[list[tuple[LabelledItem, Decision]], list[tuple[LabelledItem, Decision]]]:
    false_positives, misses = [], []
    for labelled, result in zip(evaluation.items, evaluation.screened):
        for decision in result.decisions:
            wid = decision.watchlist.id
            if decision.matched and wid not in labelled.labels:
                false_positives.append((labelled, decision))
            elif not decision.matched and wid in labelled.labels:
                misses.append((labelled, decision))
    false_positives.sort(key=lambda pair: -pair[1].score)
    misses.sort(key=lambda pair: pair[1].score)
    return false_positives, misses


def _why(decision: Decision) -> str:
    if decision.evidence.get("rule") == SKIPPED_RULE:
        return SKIPPED_RULE
    return "\n        ".join(describe(decision.evidence, decision.score, sentence_chars=160))


def print_report(evaluation: Evaluation, report: Report, elapsed_s: float, out=sys.stdout) -> None:
    print(f"{report.items} items, {len(evaluation.watchlist_ids)} watchlists, {elapsed_s:.1f} s", file=out)
    print(f"{'watchlist':<16} {'precision':>9} {'recall':>7} {'F1':>6} {'TP':>4} {'FP':>4} {'FN':>4}", file=out)
    for wid, c in report.counts.items():
        print(f"{wid:<16} {c.precision:>9.3f} {c.recall:>7.3f} {c.f1:>6.3f} {c.tp:>4} {c.fp:>4} {c.fn:>4}", file=out)
    print(f"macro-F1 {report.macro_f1:.3f}", file=out)
    found, total = non_english_recall(evaluation)
    if total:
        print(f"non-English recall {found}/{total} = {found / total:.3f}", file=out)
    languages = per_language(evaluation, {i.id for i in evaluation.items if not i.id.startswith("background:")})
    print("per language: " + "; ".join(f"{lang} {int(r['found'])}/{int(r['labels'])} found, {int(r['false_positives'])} FP "
                                       f"({int(r['items'])} items)" for lang, r in languages.items()), file=out)
    false_positives, misses = _mistakes(evaluation)
    for title, rows in (("worst false positives", false_positives), ("worst misses", misses)):
        print(f"\n{title} ({len(rows)}):", file=out)
        for labelled, decision in rows[:WORST_SHOWN]:
            print(f"  {labelled.id} [{labelled.lang or '?'}] {decision.watchlist.id}: {labelled.title[:100]}", file=out)
            print(f"        {_why(decision)}", file=out)


def plot_curves(evaluation: Evaluation, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 5))
    for wid in evaluation.watchlist_ids:
        scored = evaluation.scored(wid)
        points = pr_curve(scored)
        if not points:
            continue
        line, = ax.plot([p.recall for p in points], [p.precision for p in points], marker=".", label=wid)
        c = report_of(evaluation).counts[wid]
        ax.scatter([c.recall], [c.precision], s=120, facecolors="none", edgecolors=line.get_color(), linewidths=2)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_title("wirewatch: precision-recall per watchlist (circle = operating point)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def read_background(path: Path, limit: int) -> list[LabelledItem]:
    """Unlabelled items (id, title, body): screened for the cascade figures, never counted in precision or recall."""
    rows = read_labelled(path, require_labels=False)
    spread = rows[:: max(1, len(rows) // limit)][:limit] if limit > 0 else []  # evenly across the file, not only its head
    return [LabelledItem(f"background:{i.id}", i.title, i.body, frozenset(), "") for i in spread]


def labelling_hint(exc: Exception) -> str:
    """For a file without labels: what labelled data looks like and where the bundled set is."""
    if not isinstance(exc, UnlabelledData):
        return ""
    return (
        "\n  evaluate and calibrate need labelled JSON lines: id, title, body and labels (the watchlist ids the"
        " item should match, [] for none).\n  A labelled set ships with wirewatch: "
        f"{LABELLED_DEV.relative_to(REPO)} (format: {LABELLED_DEV.parent.relative_to(REPO)}/README.md)."
        "\n  To see what a watchlist matches in an unlabelled file: wirewatch watchlists test WATCHLIST.yaml FILE"
    )


def cmd_evaluate(
    settings: Settings, data: Path, watchlists: Path, as_json: bool, plot: Path | None, embedder=None,
    compare_full: bool = False, background: Path | None = None, background_items: int = 3000,
) -> int:
    try:
        items, loaded = load_inputs(data, watchlists)
        extra = read_background(background, background_items) if background is not None else []
    except DataError as exc:
        print(f"wirewatch evaluate: {exc}{labelling_hint(exc)}", file=sys.stderr)
        return 2
    except WatchlistErrors as exc:
        print("wirewatch evaluate: invalid watchlists:\n" + "\n".join(map(str, exc.errors)), file=sys.stderr)
        return 2
    started = time.perf_counter()
    evaluation = run_matcher(settings, items + extra, loaded, embedder, full=compare_full)
    labelled = {i.id for i in items}
    report = report_of(evaluation, subset=labelled)
    elapsed = time.perf_counter() - started
    if plot is not None:
        plot_curves(evaluation, plot)
    cascade = evaluation.cascade_json()
    if extra:
        cascade["background_items"] = len(extra)
        cascade["background_alerts"] = sum(len(s.matched_ids) for s in evaluation.screened if s.item.id not in labelled)
    if as_json:
        print(json.dumps({**report.as_json(), "languages": per_language(evaluation, labelled), "cascade": cascade}))
        return 0
    print_report(evaluation, report, elapsed)
    passed = ", ".join(f"{wid} {n}" for wid, n in cascade["passed_per_watchlist"].items())
    print(f"\ncascade: {cascade['candidates']} of {cascade['items']} items reached the transformer (passed per list: {passed})", end="")
    if compare_full:
        print(f"; the full matcher makes {cascade['full_matches']} matches, the cascade keeps {cascade['kept_matches']}")
        for item_id, wid in evaluation.lost_matches():
            print(f"  lost: {item_id} {wid}")
    else:
        print()
    if extra:
        print(f"background: {cascade['background_alerts']} alerts on {len(extra)} unlabelled items")
    if plot is not None:
        print(f"\nprecision-recall plot written to {plot}")
    return 0


# --- calibration -----------------------------------------------------------------

THRESHOLD_FLOOR = 0.35  # never calibrate below this: keeps a lone keyword (0.25) from matching on nothing


def _fold_of(item_id: str, folds: int) -> int:
    """Stable fold assignment from the id, so a rerun gives the same split."""
    return int(hashlib.sha256(item_id.encode()).hexdigest(), 16) % folds


def calibrate_thresholds(evaluation: Evaluation, subset: set[str]) -> dict[str, float]:
    return {wid: best_threshold(evaluation.scored(wid, subset), THRESHOLD_FLOOR) for wid in evaluation.watchlist_ids}


def _pooled(evaluation: Evaluation, folds: int) -> tuple[Report, tuple[int, int]]:
    """k-fold: calibrate on k-1 folds, count on the held-out fold, pool the counts."""
    all_ids = [i.id for i in evaluation.items]
    pooled = {wid: Counts() for wid in evaluation.watchlist_ids}
    found = total = 0
    for k in range(folds):
        test = {i for i in all_ids if _fold_of(i, folds) == k}
        train = set(all_ids) - test
        thresholds = calibrate_thresholds(evaluation, train)
        part = report_of(evaluation, thresholds, test)
        for wid, c in part.counts.items():
            pooled[wid].tp += c.tp
            pooled[wid].fp += c.fp
            pooled[wid].fn += c.fn
        f, t = non_english_recall(evaluation, thresholds, test)
        found, total = found + f, total + t
    return Report(items=len(all_ids), counts=pooled), (found, total)


def cmd_calibrate(settings: Settings, data: Path, watchlists: Path, folds: int, as_json: bool) -> int:
    try:
        items, loaded = load_inputs(data, watchlists)
    except (DataError, WatchlistErrors) as exc:
        print(f"wirewatch calibrate: {exc}{labelling_hint(exc)}", file=sys.stderr)
        return 2
    screened = run_matcher(settings, items, loaded, full=True)
    assert screened.full is not None
    # Thresholds are calibrated on the full matcher's scores: the presearch follows the thresholds.
    evaluation = dataclasses.replace(screened, screened=screened.full)
    all_ids = {i.id for i in items}
    # Held-out split: ids in fold 0 of 3 (about a third) are never used to calibrate.
    held_out = {i for i in all_ids if _fold_of(i, 3) == 0}
    tune = all_ids - held_out
    tuned = calibrate_thresholds(evaluation, tune)
    tune_report = report_of(evaluation, tuned, tune)
    held_report = report_of(evaluation, tuned, held_out)
    held_ne = non_english_recall(evaluation, tuned, held_out)
    cv_report, cv_ne = _pooled(evaluation, folds)
    current = report_of(evaluation)
    recommended = calibrate_thresholds(evaluation, all_ids)
    result = {
        "current_thresholds": evaluation.thresholds,
        "current": current.as_json(),
        "holdout": {
            "tune_items": len(tune),
            "held_out_items": len(held_out),
            "thresholds": tuned,
            "tune": tune_report.as_json(),
            "held_out": held_report.as_json(),
            "held_out_non_english_recall": _ratio(held_ne),
        },
        "cross_validation": {"folds": folds, **cv_report.as_json(), "non_english_recall": _ratio(cv_ne)},
        "recommended_thresholds": recommended,
        "presearch": presearch_summary(screened),
        "crosslingual": crosslingual_summary(evaluation),
    }
    if as_json:
        print(json.dumps(result))
        return 0
    print(f"current thresholds {evaluation.thresholds}: macro-F1 {current.macro_f1:.3f} on all {len(items)} items")
    print(f"\nheld-out: calibrated on {len(tune)} items (macro-F1 {tune_report.macro_f1:.3f}), thresholds {tuned}")
    _print_counts(held_report, f"held-out ({len(held_out)} items)", held_ne)
    _print_counts(cv_report, f"{folds}-fold cross-validation (pooled)", cv_ne)
    print(f"\nrecommended thresholds (all items): {recommended}")
    print("\npresearch (static-model cut-offs computed from the calibration corpus, recomputed at every reload):")
    for wid, row in result["presearch"].items():
        print(f"  {wid:<16} cut-off {row['cutoff_at_semantic_alone']} at semantic {row['semantic_alone']} "
              f"({row['calibration_sentences']} calibration sentences near it); passes {row['passed']} of {len(items)} items here")
    print("\ncross-lingual (items the multilingual model read; thresholds.crosslingual in each list):")
    for wid, row in result["crosslingual"].items():
        if not row["items_read"]:
            print(f"  {wid:<16} no item here was read by the multilingual model (English or a glossary language)")
            continue
        print(f"  {wid:<16} threshold {row['threshold']}: found {row['found']} of {row['positives']} positives among {row['items_read']} items; "
              f"closest hard negative {row['closest_hard_negative']}, recommended {row['recommended']}")
    return 0


CROSSLINGUAL_MARGIN = 0.06  # above the closest hard negative the multilingual model read


def crosslingual_summary(evaluation: Evaluation) -> dict[str, dict[str, object]]:
    """Per list, over the labelled items the multilingual model read: how many, the list's positives
    found at its current cross-lingual threshold, the closest hard negative (an item with no label),
    and a recommended threshold. A labelled set holds few hard negatives per list, so the
    recommendation pools them: the closest hard negative to any list, plus CROSSLINGUAL_MARGIN."""
    rows: dict[str, dict[str, object]] = {}
    negatives: dict[str, list[float]] = {wid: [] for wid in evaluation.watchlist_ids}
    for wid in evaluation.watchlist_ids:
        read = positives = found = 0
        threshold = None
        for labelled, result in zip(evaluation.items, evaluation.screened):
            decision = _decision(result, wid)
            crossed = decision.evidence.get("crosslingual")
            if not isinstance(crossed, dict):
                continue
            read, threshold = read + 1, crossed["threshold"]
            if wid in labelled.labels:
                positives, found = positives + 1, found + decision.matched
            elif not labelled.labels:
                negatives[wid].append(float(crossed["similarity"]))
        rows[wid] = {"items_read": read, "positives": positives, "found": found, "threshold": threshold,
                     "closest_hard_negative": max(negatives[wid], default=None)}
    pooled = max((value for values in negatives.values() for value in values), default=None)
    for row in rows.values():
        row["recommended"] = round(pooled + CROSSLINGUAL_MARGIN, 2) if pooled is not None else None
    return rows


def presearch_summary(evaluation: Evaluation) -> dict[str, dict[str, object]]:
    """Per list: its semantic cut-off at the semantic-alone level, how much data set it, and its pass count."""
    stage = evaluation.screener.presearch_stage
    out: dict[str, dict[str, object]] = {}
    for k, c in enumerate(evaluation.screener.matcher.compiled):
        wl = c.watchlist
        gate = stage.gates[k] if stage is not None and stage.gates else None
        out[wl.id] = {
            "semantic_alone": wl.thresholds.semantic_alone,
            "cutoff_at_semantic_alone": round(gate.cutoff(wl.thresholds.semantic_alone), 4) if gate else None,
            "calibration_sentences": gate.samples if gate else 0,
            "passed": sum(1 for s in evaluation.screened if wl.id in s.passed),
        }
    return out


def _ratio(pair: tuple[int, int]) -> dict[str, float | int]:
    found, total = pair
    return {"found": found, "labelled": total, "recall": round(found / total, 4) if total else 0.0}


def _print_counts(report: Report, title: str, non_english: tuple[int, int]) -> None:
    print(f"\n{title}: macro-F1 {report.macro_f1:.3f}")
    for wid, c in report.counts.items():
        print(f"  {wid:<16} P {c.precision:.3f} R {c.recall:.3f} F1 {c.f1:.3f} (TP {c.tp} FP {c.fp} FN {c.fn})")
    found, total = non_english
    if total:
        print(f"  non-English recall {found}/{total} = {found / total:.3f}")
