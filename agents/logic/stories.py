"""Near-duplicate stories: one Slack thread per event, whoever reports it.

Several outlets paraphrase the same event within hours. Each alert carries a
story signature: the item's story vector (title vector plus the mean of its body
sentence vectors, normalised), quantised to int8 and base64-encoded, so it fits
in the alert record and in Slack message metadata and survives restarts there.
A 256-bit SimHash was tried first: its estimate was too noisy to separate
paraphrases from other stories on the same topic.

StoryIndex keeps, per channel, the top-level posts of the window (default 24 h);
a new alert whose signature is close enough to one of them becomes a thread
reply on it.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

log = logging.getLogger("wirewatch")

DEFAULT_WINDOW_S = 24 * 3600.0
DEFAULT_THRESHOLD = 0.65  # cosine; measured on tests/data/paraphrases.jsonl (see README)


def story_vector(vectors: np.ndarray, gloss_rows: int = 0) -> np.ndarray:
    """Title and body count equally: title + mean(body sentences), normalised."""
    rows = vectors[: len(vectors) - gloss_rows] if gloss_rows else vectors
    if len(rows) == 0:
        rows = vectors
    title = rows[0]
    body = rows[1:].mean(axis=0) if len(rows) > 1 else title
    mixed = title + body
    norm = float(np.linalg.norm(mixed)) or 1.0
    return (mixed / norm).astype(np.float32)


def signature(vector: np.ndarray) -> str:
    """The story vector quantised to int8, base64: 512 characters for 384 dimensions."""
    quantised = np.clip(np.round(vector * 127.0), -127, 127).astype(np.int8)
    return base64.b64encode(quantised.tobytes()).decode("ascii")


def similarity(a: str, b: str) -> float:
    """Cosine between the vectors behind two signatures (-1 when unreadable or of other models)."""
    try:
        x = np.frombuffer(base64.b64decode(a, validate=True), dtype=np.int8).astype(np.float32)
        y = np.frombuffer(base64.b64decode(b, validate=True), dtype=np.int8).astype(np.float32)
    except (ValueError, binascii.Error):
        return -1.0
    if x.shape != y.shape or not x.size:
        return -1.0
    denom = float(np.linalg.norm(x) * np.linalg.norm(y)) or 1.0
    return float(x @ y) / denom


@dataclass(frozen=True)
class StoryPost:
    signature: str
    thread_ts: str
    alert_id: str
    posted_at: float


@dataclass
class StoryIndex:
    window_s: float = DEFAULT_WINDOW_S
    threshold: float = DEFAULT_THRESHOLD
    posts: dict[str, list[StoryPost]] = field(default_factory=dict)  # channel -> top-level posts

    def find(self, channel: str, story_signature: str, now: float) -> StoryPost | None:
        """The closest top-level post in the window at or above the threshold, if any."""
        if not story_signature:
            return None
        self._prune(channel, now)
        best, best_sim = None, self.threshold
        for post in self.posts.get(channel, []):
            sim = similarity(story_signature, post.signature)
            if sim >= best_sim:
                best, best_sim = post, sim
        return best

    def add(self, channel: str, post: StoryPost) -> None:
        if post.signature and all(p.thread_ts != post.thread_ts for p in self.posts.get(channel, [])):
            self.posts.setdefault(channel, []).append(post)

    def _prune(self, channel: str, now: float) -> None:
        kept = [p for p in self.posts.get(channel, []) if now - p.posted_at <= self.window_s]
        self.posts[channel] = kept


class ChannelHistory(Protocol):
    async def recent_top_level(self, channel: str, oldest: float) -> list[dict[str, Any]]: ...


class StoryThreads:
    """The story index of each channel, rebuilt once per worker from the channel's own history,
    so that threading survives restarts without any state of its own."""

    def __init__(self, history: ChannelHistory, window_s: float) -> None:
        self.history = history
        self.index = StoryIndex(window_s=window_s)
        self._seeded: set[str] = set()

    async def find(self, channel: str, story_signature: str, now: float) -> StoryPost | None:
        """The top-level post of the same event in this channel, if one is in the window."""
        if channel not in self._seeded:
            self._seeded.add(channel)
            try:
                for payload in await self.history.recent_top_level(channel, now - self.index.window_s):
                    self.index.add(channel, StoryPost(str(payload.get("story_signature") or ""), payload["ts"],
                                                      str(payload["alert_id"]), float(payload["ts"])))
            except Exception as exc:  # noqa: BLE001 - threading is a convenience; posting goes on
                log.warning("could not read %s history for story threads: %s", channel, exc)
        return self.index.find(channel, story_signature, now)

    def add(self, channel: str, post: StoryPost) -> None:
        self.index.add(channel, post)
