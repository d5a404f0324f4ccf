"""Split an item into the sentences we embed: the title, then body sentences."""

from __future__ import annotations

import re

from agents.logic.gloss import Glossary
from streams.records import NewsItem

MAX_CHUNKS = 16
MAX_CHUNK_CHARS = 600
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])")


def split_sentences(text: str) -> list[str]:
    parts = (p.strip() for p in _SENTENCE_END.split(text.replace("\r", " ").replace("\n", " ")))
    return [p for p in parts if len(p) > 1]


def chunk_item(item: NewsItem, glossary: Glossary | None = None) -> list[str]:
    return chunk_text(item.title, item.body, glossary)


def chunk_text(title: str, body: str, glossary: Glossary | None = None) -> list[str]:
    """Title first, then unique body sentences, capped so a huge body costs bounded time.

    Non-English items also get English gloss chunks (see agents.logic.gloss).
    """
    chunks: list[str] = [title[:MAX_CHUNK_CHARS]]
    seen = {chunks[0].casefold()}
    for sentence in split_sentences(body):
        sentence = sentence[:MAX_CHUNK_CHARS]
        key = sentence.casefold()
        if key in seen:
            continue  # a body that repeats the title is embedded once
        seen.add(key)
        chunks.append(sentence)
        if len(chunks) >= MAX_CHUNKS:
            break
    if glossary is not None:
        chunks.extend(glossary.gloss_chunks(title, body))
    return chunks
