"""`wirewatch watchlists check|schema|test`: validation, the JSON Schema, and a dry run of an edit
before it goes live (with the near-misses a threshold change would pull in)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Sequence

from agents.logic.evaluation import DataError, read_labelled
from agents.logic.evidence_text import describe, score_line, why_not
from agents.logic.matcher import Decision, implicit_rules
from agents.logic.screening import Screened, TextItem, cascade_view
from streams.settings import Settings
from agents.logic.watchlists import (
    LoadedWatchlist,
    WatchlistErrors,
    load_watchlist_dir,
    load_watchlist_file,
    watchlist_json_schema,
)

SCHEMA_PATH = Path("config/watchlist.schema.json")


def schema_text() -> str:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://wirewatch.invalid/schemas/watchlist.schema.json",
        **watchlist_json_schema(),
    }
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def cmd_check(directory: Path) -> int:
    """Validate every watchlist file in a folder; errors as FILE:LINE: field: message."""
    try:
        loaded = load_watchlist_dir(directory)
    except WatchlistErrors as exc:
        for error in exc.errors:
            print(error)
        return 1
    for entry in loaded:
        print(f"ok {entry.path}: {entry.watchlist.id} version {entry.version}")
    return 0


def cmd_schema(write: Path | None) -> int:
    if write is None:
        sys.stdout.write(schema_text())
    else:
        write.write_text(schema_text(), encoding="utf-8")
        print(f"wrote {write}")
    return 0


def _describe(decision: Decision) -> list[str]:
    return describe(decision.evidence, decision.score)


def _matches(screened: Sequence[Screened], watchlist_id: str) -> dict[str, tuple[Screened, Decision]]:
    out = {}
    for result in screened:
        for decision in result.decisions:
            if decision.watchlist.id == watchlist_id and decision.matched:
                out[result.item.id] = (result, decision)
    return out


def cmd_test(settings: Settings, path: Path, data: Path, against_current: bool, watchlists_dir: Path, embedder=None,
             near_misses: int = 0) -> int:
    """List what the watchlist in `path` would match in `data`; with against_current, the difference;
    with near_misses, the closest items that did not match and what stopped each."""
    try:
        candidate = load_watchlist_file(path)
    except WatchlistErrors as exc:
        for error in exc.errors:
            print(error)
        return 1
    try:
        items = [TextItem(i.id, i.title, i.body) for i in read_labelled(data, require_labels=False)]
    except DataError as exc:
        print(f"wirewatch watchlists test: {exc}", file=sys.stderr)
        return 2
    current: LoadedWatchlist | None = None
    if against_current:
        try:
            active = load_watchlist_dir(watchlists_dir)
        except WatchlistErrors as exc:
            print("the current watchlists are invalid, nothing to compare with:\n" + "\n".join(map(str, exc.errors)))
            return 1
        current = next((e for e in active if e.watchlist.id == candidate.watchlist.id), None)

    from wirewatch.screening_setup import build_screener, ensure_static, load_glossary, make_embedder

    embedder = embedder or make_embedder(settings)
    glossary = load_glossary(settings)
    static = ensure_static(settings, embedder.encode, glossary)

    def screened_with(entry: LoadedWatchlist, full: bool = False) -> tuple[list[Screened], list[Screened]]:
        """The cascade, as the worker runs it, and (with `full`) the transformer on every item as well."""
        screener = build_screener(settings, [entry], embedder.encode, glossary, static)
        if not full:
            cascade = screener.screen(items, embedder.encode)
            return cascade, cascade
        everything = screener.screen(items, embedder.encode, full=True)
        return cascade_view(everything, screener), everything

    wid = candidate.watchlist.id
    new_screened, full_screened = screened_with(candidate, full=near_misses > 0)
    new = _matches(new_screened, wid)
    print(f"{path}: watchlist {wid!r} version {candidate.version}: {len(new)} of {len(items)} items would match")
    for item_id, (result, decision) in new.items():
        print(f"\nMATCH {item_id}: {result.item.title[:110]}")
        for line in _describe(decision):
            print(f"    {line}")
    if near_misses:
        _print_near_misses(candidate, full_screened, new_screened, near_misses)
    if against_current:
        print()
        if current is None:
            print(f"--against-current: {watchlists_dir} has no watchlist {wid!r}; every match above is new")
        elif current.version == candidate.version:
            print(f"--against-current: {current.path} has the same content (version {current.version}); nothing changes")
        else:
            _print_difference(current, candidate, new, _matches(screened_with(current)[0], wid), new_screened)
    return 0


def rules_text(entry: LoadedWatchlist) -> str:
    """keyword | entity | semantic alone (semantic >= 0.60)"""
    wl = entry.watchlist
    parts = []
    for rule in wl.rules or implicit_rules(wl):
        floor = f" (semantic >= {rule.min_semantic:.2f})" if "semantic" in rule.require and rule.min_semantic else ""
        parts.append(f"{rule.name}: {' + '.join(rule.require)}{floor}")
    return " | ".join(parts)


def near_misses(entry: LoadedWatchlist, full: Sequence[Screened], cascade: Sequence[Screened], count: int) -> list[tuple[Screened, Decision, str]]:
    """The `count` unmatched items closest to matching (by the full matcher's score), each with what stopped it."""
    wid = entry.watchlist.id
    passed = {s.item.id: wid in s.passed for s in cascade}
    matched = {s.item.id for s in cascade if wid in s.matched_ids}
    rules = rules_text(entry)
    rows = []
    for result in full:
        if result.item.id in matched:
            continue
        decision = next((d for d in result.decisions if d.watchlist.id == wid), None)
        if decision is None:  # a disabled list decides nothing
            continue
        reason = why_not(decision.evidence, decision.score, decision.eligible, rules)
        if not passed.get(result.item.id, True):
            reason = ("skipped by the presearch, although the full matcher would match it (a cascade miss)"
                      if decision.matched else reason + "; the presearch skipped it too")
        rows.append((result, decision, reason))
    rows.sort(key=lambda row: row[1].score, reverse=True)
    return rows[:count]


def _print_near_misses(entry: LoadedWatchlist, full: Sequence[Screened], cascade: Sequence[Screened], count: int) -> None:
    rows = near_misses(entry, full, cascade, count)
    print(f"\n{len(rows)} near misses (closest first; scores from the full matcher, threshold {entry.watchlist.thresholds.match:.2f}):")
    for result, decision, reason in rows:
        print(f"\nNEAR MISS {result.item.id}: {result.item.title[:100]}")
        print(f"    stopped by: {reason}")
        for line in _describe(decision):
            print(f"    {line}")


def _print_difference(
    current: LoadedWatchlist, candidate: LoadedWatchlist, new: dict[str, tuple[Screened, Decision]],
    old: dict[str, tuple[Screened, Decision]], new_screened: list[Screened],
) -> None:
    gained = [i for i in new if i not in old]
    lost = [i for i in old if i not in new]
    print(
        f"--against-current: {current.path} version {current.version} -> {candidate.version}: "
        f"{len(gained)} new matches, {len(lost)} lost matches, {len(set(new) & set(old))} unchanged"
    )
    for label, ids, source in (("NEW", gained, new), ("LOST", lost, old)):
        for item_id in ids:
            result, decision = source[item_id]
            print(f"  {label} {item_id}: {result.item.title[:100]}")
            print(f"      {_describe(decision)[0]}")
            if label == "LOST":
                now = next(r for r in new_screened if r.item.id == item_id).decisions[0]
                print(f"      now: {score_line(now.evidence, now.score)}, rule: {now.evidence.get('rule', '-')}")
