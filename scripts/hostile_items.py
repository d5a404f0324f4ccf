"""Time the agents' steps on 1 MB items built to be slow; prints one line per item.

    .venv/bin/python scripts/hostile_items.py [--size-bytes 1000000]

Each item goes through what the embed and match agents run (parse, chunk, gloss, tokenizer and
model, matcher, alert records). Screening must stay linear in the item's length: the target is
under 1 s per 1 MB item on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from agents.logic.embedder import Embedder  # noqa: E402
from agents.logic.gloss import Glossary  # noqa: E402
from agents.logic.registry import WatchlistRegistry  # noqa: E402
from agents.logic.steps import EmbedStep, Refusal, match_embedded  # noqa: E402
from streams.settings import Settings  # noqa: E402
from wirewatch.screening_setup import build_screener  # noqa: E402
from wirewatch.pathological import pathological_items  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-bytes", type=int, default=1_000_000)
    args = parser.parse_args()
    embedder = Embedder()
    settings = Settings()
    glossary = Glossary.load(REPO / "config" / "glossary.yaml")
    registry = WatchlistRegistry(REPO / "config" / "watchlists", lambda loaded: build_screener(settings, loaded, embedder.encode, glossary))
    registry.load_initial()
    assert registry.matcher is not None and registry.screener is not None
    screener = registry.screener
    step = EmbedStep(embedder.encode, embedder.model_name, lambda: screener, args.size_bytes, 1_000_000)
    for name, fields in pathological_items(args.size_bytes).items():
        raw = json.dumps({"id": name, **fields}, ensure_ascii=False).encode()
        started = time.perf_counter()
        [out] = step.run([raw], [""])
        embedded_s = time.perf_counter() - started
        if isinstance(out, Refusal):
            print(f"{name:<38} {len(raw):>9} bytes  refused: {out.reason}")
            continue
        result = match_embedded(out.value, registry.matcher, 1e9, 1_000_000)
        total = time.perf_counter() - started
        alerts = "refused" if isinstance(result, Refusal) else f"{len(result[1])} alerts"
        print(f"{name:<38} {len(raw):>9} bytes  embed step {embedded_s:5.2f} s  match step {total - embedded_s:5.2f} s  total {total:5.2f} s  {alerts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
