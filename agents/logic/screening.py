"""Screen a batch of items against a matcher exactly as the pipeline does.

Used by `evaluate`, `calibrate` and `watchlists test`, so an offline figure
is produced by the same chunking, model call and decision code as an alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from agents.logic.chunking import chunk_text
from agents.logic.gloss import Glossary, embedding_text
from agents.logic.matcher import Decision, Encode, Matcher


@dataclass(frozen=True)
class TextItem:
    id: str
    title: str
    body: str


@dataclass(frozen=True)
class EmbeddedText:
    item: TextItem
    chunks: list[str]
    vectors: np.ndarray


@dataclass(frozen=True)
class Screened:
    item: TextItem
    decisions: list[Decision]

    @property
    def matched_ids(self) -> set[str]:
        return {d.watchlist.id for d in self.decisions if d.matched}


def embed_items(
    items: Sequence[TextItem], encode: Encode, glossary: Glossary | None = None, batch_items: int = 64
) -> list[EmbeddedText]:
    """Chunk and embed in batches, one model call per batch, as the embed agent does."""
    out: list[EmbeddedText] = []
    for start in range(0, len(items), batch_items):
        part = items[start : start + batch_items]
        chunked = [chunk_text(item.title, item.body, glossary) for item in part]
        vectors = encode([embedding_text(c) for chunks in chunked for c in chunks])
        offset = 0
        for item, chunks in zip(part, chunked):
            out.append(EmbeddedText(item, chunks, vectors[offset : offset + len(chunks)]))
            offset += len(chunks)
    return out


def screen(embedded: Sequence[EmbeddedText], matcher: Matcher) -> list[Screened]:
    return [
        Screened(e.item, matcher.decide_all(e.item.title, e.item.body, e.chunks, e.vectors)) for e in embedded
    ]
