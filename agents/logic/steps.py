"""The per-message work of each agent, as plain functions that never raise on a message's data.

faust restarts an agent whose body raises, and the restarted agent reads the same message
again. One message that trips any step (parser, tokenizer, model, matcher, renderer) would
therefore stop its partition for good. Each step here returns its result or a `Refusal`, whose
reason goes to the dead-letter topic with the original bytes, and the stream moves on.

Only pure work runs here. A failure of the broker or of Slack is not the message's fault: the
agents let those wait and retry, and never dead-letter a message for them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Callable, Sequence, TypeVar

import numpy as np

from agents.logic.alerting import decision_to_alert
from agents.logic.chunking import chunk_item
from agents.logic.gloss import Glossary, embedding_text
from agents.logic.matcher import Encode, Matcher
from agents.logic.slack_render import render_alert, render_console
from streams.records import Alert, EmbeddedItem, InvalidMessage, NewsItem, fit_body

log = logging.getLogger("wirewatch.steps")
T = TypeVar("T")
MAX_REASON_DETAIL = 300


@dataclass(frozen=True)
class Refusal:
    """Why a message cannot be processed: the dead-letter reason."""

    reason: str


def attempt(step: str, fn: Callable[..., T], *args: Any) -> T | Refusal:
    """Run one pure step; a data error (ours or any other exception) becomes a Refusal naming the step."""
    try:
        return fn(*args)
    except InvalidMessage as exc:
        return Refusal(str(exc))
    except Exception as exc:  # noqa: BLE001 - any exception here would otherwise re-read the message forever
        detail = str(exc)[:MAX_REASON_DETAIL]
        log.warning("step %r failed on a message: %s: %s", step, type(exc).__name__, detail, exc_info=True)
        return Refusal(f"{step}: unexpected {type(exc).__name__}: {detail}")


# --- embed: news -> news.embedded --------------------------------------------------------------


@dataclass(frozen=True)
class PreparedNews:
    """A parsed item and the texts the model will read for it."""

    item: NewsItem
    chunks: list[str]
    texts: list[str]


def _chunked(item: NewsItem, glossary: Glossary | None) -> PreparedNews:
    chunks = chunk_item(item, glossary)
    return PreparedNews(item, chunks, [embedding_text(chunk) for chunk in chunks])


def prepare_news(raw: bytes | None, max_bytes: int, glossary: Glossary | None) -> PreparedNews | Refusal:
    item = attempt("parse", NewsItem.from_bytes, raw, max_bytes)
    if isinstance(item, Refusal):
        return item
    return attempt("chunk", _chunked, item, glossary)


def _checked_vectors(encode: Encode, texts: list[str]) -> np.ndarray:
    vectors = np.asarray(encode(texts), dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(texts):
        raise ValueError(f"the model returned shape {vectors.shape} for {len(texts)} texts")
    if not np.isfinite(vectors).all():
        raise ValueError("the model returned NaN or infinity")
    return vectors


class ModelUnavailable(RuntimeError):
    """The model fails on a known-good sentence too: not the messages' fault, so nothing is
    dead-lettered; the batch stays unacked and is read again once the worker recovers."""


PROBE_TEXT = "Regulators published new export control rules on Monday."


def _model_works_or_raise(encode: Encode) -> None:
    try:
        _checked_vectors(encode, [PROBE_TEXT])
    except Exception as exc:  # noqa: BLE001 - re-raised as what it means
        raise ModelUnavailable(f"the model fails on a known-good sentence too: {type(exc).__name__}: {exc}") from exc


def encode_each(encode: Encode, prepared: Sequence[PreparedNews]) -> list[np.ndarray | Refusal]:
    """Vectors per item, from one model call for the batch.

    If that call fails, each item is encoded on its own, so only the item that trips the
    tokenizer or the model is refused and the rest of the batch goes on. If every item fails,
    a known-good sentence tells the two kinds of failure apart: the model is broken
    (ModelUnavailable is raised, nothing is refused) or the items are.
    """
    texts = [text for p in prepared for text in p.texts]
    try:
        vectors = _checked_vectors(encode, texts)
    except Exception as exc:  # noqa: BLE001 - find the item at fault below
        log.warning("a batch of %d items failed in the model (%s); encoding them one by one", len(prepared), type(exc).__name__)
        each = [attempt("embed", _checked_vectors, encode, p.texts) for p in prepared]
        if all(isinstance(result, Refusal) for result in each):
            _model_works_or_raise(encode)
        return each
    out: list[np.ndarray | Refusal] = []
    start = 0
    for p in prepared:
        out.append(vectors[start : start + len(p.texts)])
        start += len(p.texts)
    return out


def embedded_record(prepared: PreparedNews, vectors: np.ndarray, model: str, ingested_at: str, max_bytes: int) -> bytes | Refusal:
    """The `news.embedded` value, its body cut if needed so the record fits the broker's message limit."""

    def encoded(item: NewsItem, cut: bool) -> bytes:
        return EmbeddedItem(item, model, prepared.chunks, vectors, ingested_at, body_truncated=cut).to_bytes()

    return attempt("write embedded record", fit_body, prepared.item, encoded, max_bytes)


@dataclass(frozen=True)
class EmbeddedOut:
    key: bytes
    value: bytes


@dataclass(frozen=True)
class EmbedStep:
    """The embed agent's whole work on a batch, run off the event loop: a 1 MB body costs
    real CPU in folding, glossing and JSON, and heartbeats must not wait for it."""

    encode: Encode
    model_name: str
    glossary: Glossary | None
    max_item_bytes: int
    max_message_bytes: int
    on_encode: Callable[[int], None] | None = None  # texts per model call, for a metric

    def run(self, raws: Sequence[bytes | None], ingested_at: Sequence[str]) -> list[EmbeddedOut | Refusal]:
        prepared = [prepare_news(raw, self.max_item_bytes, self.glossary) for raw in raws]
        valid = [p for p in prepared if isinstance(p, PreparedNews)]
        vectors = iter(encode_each(self.encode, valid) if valid else [])
        if valid and self.on_encode is not None:
            self.on_encode(sum(len(p.texts) for p in valid))
        out: list[EmbeddedOut | Refusal] = []
        for p, stamp in zip(prepared, ingested_at):
            if isinstance(p, Refusal):
                out.append(p)
                continue
            item_vectors = next(vectors)
            value = item_vectors if isinstance(item_vectors, Refusal) else embedded_record(p, item_vectors, self.model_name, stamp, self.max_message_bytes)
            out.append(value if isinstance(value, Refusal) else EmbeddedOut(p.item.id.encode("utf-8"), value))
        return out


# --- match: news.embedded -> alerts ------------------------------------------------------------


@dataclass(frozen=True)
class AlertOut:
    alert: Alert
    value: bytes


def _alerts_for(raw: bytes | None, matcher: Matcher, stale_after_s: float, max_bytes: int) -> tuple[EmbeddedItem, list[AlertOut]]:
    embedded = EmbeddedItem.from_bytes(raw)
    now = datetime.now(timezone.utc)
    out = []
    for decision in matcher.matches(embedded.item.title, embedded.item.body, embedded.chunks, embedded.vectors):
        alert = decision_to_alert(embedded, decision, stale_after_s, now)
        value = fit_body(alert.item, lambda item, cut: replace(alert, item=item, item_body_truncated=cut or embedded.body_truncated).to_bytes(), max_bytes)
        out.append(AlertOut(alert, value))
    return embedded, out


def match_embedded(raw: bytes | None, matcher: Matcher, stale_after_s: float, max_bytes: int) -> tuple[EmbeddedItem, list[AlertOut]] | Refusal:
    return attempt("match", _alerts_for, raw, matcher, stale_after_s, max_bytes)


# --- notify: alerts -> Slack -------------------------------------------------------------------


def _readable_alert(raw: bytes | None) -> Alert:
    alert = Alert.from_bytes(raw)
    # Render now, so an alert whose evidence Slack cannot be given never reaches a channel lane.
    json.dumps(render_alert(alert, also_reported_by="x"), ensure_ascii=False).encode("utf-8")
    render_console(alert).encode("utf-8")
    return alert


def read_alert(raw: bytes | None) -> Alert | Refusal:
    return attempt("read alert", _readable_alert, raw)
