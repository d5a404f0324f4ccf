"""Figures for a designated-party list at full scale: `python scripts/measure_listed.py [--sdn DIR]`.

Adds the OFAC SDN files as an entity source of a copy of the shipped sanctions watchlist, then
prints: load time and memory, the added screening cost per item (median, and on a 1 MB item),
the alerts the list adds on the unlabelled background firehose (each with the name found), and
macro-F1 on the labelled dev set with and without the list. Reads the data from ../shared/data.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agents.logic.embedder import Embedder  # noqa: E402
from agents.logic.evaluation import count, macro_f1, read_labelled  # noqa: E402
from agents.logic.lexicon import LexicalIndex  # noqa: E402 - for the type
from agents.logic.matcher import searchable_text  # noqa: E402
from agents.logic.screening import Screener, TextItem  # noqa: E402
from agents.logic.watchlists import load_watchlist_dir  # noqa: E402
from streams.settings import Settings  # noqa: E402
from wirewatch.screening_setup import LABELLED_DEV, ensure_static, load_glossary  # noqa: E402

SHARED = REPO.parent / "shared" / "data"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def with_source(sdn: Path) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="wl-sdn-"))
    for path in (REPO / "config" / "watchlists").glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    with open(folder / "sanctions.yaml", "a") as handle:
        handle.write(f"entity_sources:\n  - format: ofac-sdn-csv\n    path: {sdn}\n")
    return folder


def per_item_ms(index: LexicalIndex, items: list[TextItem]) -> list[float]:
    out = []
    for item in items:
        doc = searchable_text(item.title, item.body, [])
        started = time.perf_counter()
        index.hits(doc)
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdn", type=Path, default=SHARED / "ofac-sdn-2022")
    parser.add_argument("--background", type=Path, default=SHARED / "firehose-background.jsonl")
    args = parser.parse_args()

    plain = load_watchlist_dir(REPO / "config" / "watchlists")
    embedder = Embedder()
    embedder.encode(["warm up"])
    before_mb, started = rss_mb(), time.perf_counter()
    listed = load_watchlist_dir(with_source(args.sdn))
    loaded_s = time.perf_counter() - started
    index_listed = Screener.build(listed, embedder.encode, None, None).matcher.lexicon
    load_s = time.perf_counter() - started
    edition = next(e for w in listed for e in w.editions)
    print(f"load: {edition.entries} entries, {len(edition.names)} name forms ({sum(n.alone for n in edition.names)} may alert "
          f"alone): files read and checked in {loaded_s:.1f} s, compiled with the automaton in {load_s:.1f} s; "
          f"peak RSS +{rss_mb() - before_mb:.0f} MB")

    background = [json.loads(line) for line in args.background.read_text().splitlines() if line.strip()]
    items = [TextItem(f"bg-{i}", row["title"], row.get("body", "")) for i, row in enumerate(background)]
    index_plain = Screener.build(plain, embedder.encode, None, None).matcher.lexicon
    a, b = per_item_ms(index_plain, items[:3000]), per_item_ms(index_listed, items[:3000])
    print(f"term scan per item (3,000 background items): median {statistics.median(a):.3f} ms without the list, "
          f"{statistics.median(b):.3f} ms with it (+{statistics.median(b) - statistics.median(a):.3f} ms); "
          f"p99 {sorted(b)[int(len(b) * 0.99)]:.3f} ms")
    big = TextItem("big", "x", " ".join(["Banco Nacional de Cuba", "annual report"] * 60_000)[:1_000_000])
    print(f"a 1 MB item: {per_item_ms(index_listed, [big])[0]:.0f} ms with the list")

    glossary = load_glossary(Settings())
    static = ensure_static(Settings(), embedder.encode, glossary)
    screeners = {name: Screener.build(loaded, embedder.encode, static, glossary) for name, loaded in (("plain", plain), ("listed", listed))}
    started = time.perf_counter()
    alerts = {name: {s.item.id: s for s in screener.screen(items, embedder.encode) if "sanctions" in s.matched_ids}
              for name, screener in screeners.items()}
    added = sorted(set(alerts["listed"]) - set(alerts["plain"]), key=lambda i: int(i.split("-")[1]))
    print(f"background ({len(items)} articles, {time.perf_counter() - started:.0f} s): sanctions alerts {len(alerts['plain'])} "
          f"without the list, {len(alerts['listed'])} with it; added by the list: {len(added)} "
          f"({len(added) / len(items) * 10_000:.1f} per 10,000)")
    for item_id in added:
        screened = alerts["listed"][item_id]
        decision = next(d for d in screened.decisions if d.watchlist.id == "sanctions")
        names = [f"{e['found']!r} = {e['list']} #{e['entry_id']} {e['name']}" for e in decision.evidence.get("listed", []) if e.get("alone")]
        print(f"  {item_id}: {screened.item.title[:80]!r}: {'; '.join(names)}")

    dev = read_labelled(LABELLED_DEV)
    dev_items = [TextItem(i.id, i.title, i.body) for i in dev]
    gold = {i.id: sorted(i.labels) for i in dev}
    for name, screener in screeners.items():
        predicted = {s.item.id: sorted(s.matched_ids) for s in screener.screen(dev_items, embedder.encode)}
        counts = count(predicted, gold, ["sanctions", "rare_earths", "salt_typhoon"])
        print(f"dev macro-F1 {name}: {macro_f1(counts):.3f} (sanctions F1 {counts['sanctions'].f1:.3f})")
    named = [s for s in screeners["listed"].screen(dev_items, embedder.encode)
             for d in s.decisions if d.watchlist.id == "sanctions" and any(e.get("alone") for e in d.evidence.get("listed", []))]
    for s in named:
        decision = next(d for d in s.decisions if d.watchlist.id == "sanctions")
        entries = [f"{e['list']} #{e['entry_id']} {e['name']} (found {e['found']!r})" for e in decision.evidence["listed"] if e.get("alone")]
        print(f"dev item naming a listed party: {s.item.id} matched={decision.matched} {entries}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
