"""`wirewatch watchlists schema|test`: the JSON Schema, and a dry run of an edit before it goes live."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Sequence

from agents.logic.evaluation import DataError, read_labelled
from agents.logic.evidence_text import describe, score_line
from agents.logic.matcher import Decision
from agents.logic.screening import Screened, TextItem
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


def cmd_test(settings: Settings, path: Path, data: Path, against_current: bool, watchlists_dir: Path, embedder=None) -> int:
    """List what the watchlist in `path` would match in `data`; with against_current, the difference."""
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

    from agents.logic.embedder import Embedder
    from wirewatch.screening_setup import build_screener, ensure_static, load_glossary

    embedder = embedder or Embedder()
    glossary = load_glossary(settings)
    static = ensure_static(settings, embedder.encode, glossary)

    def screened_with(entry: LoadedWatchlist) -> list[Screened]:
        # The cascade, as the worker runs it: what this list alone would let through and match.
        return build_screener(settings, [entry], embedder.encode, glossary, static).screen(items, embedder.encode)

    wid = candidate.watchlist.id
    new_screened = screened_with(candidate)
    new = _matches(new_screened, wid)
    print(f"{path}: watchlist {wid!r} version {candidate.version}: {len(new)} of {len(items)} items would match")
    for item_id, (result, decision) in new.items():
        print(f"\nMATCH {item_id}: {result.item.title[:110]}")
        for line in _describe(decision):
            print(f"    {line}")
    if against_current:
        print()
        if current is None:
            print(f"--against-current: {watchlists_dir} has no watchlist {wid!r}; every match above is new")
        elif current.version == candidate.version:
            print(f"--against-current: {current.path} has the same content (version {current.version}); nothing changes")
        else:
            _print_difference(current, candidate, new, _matches(screened_with(current), wid), new_screened)
    return 0


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
