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
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Sequence, TypeVar

import numpy as np

from agents.logic.alerting import decision_to_alert
from agents.logic.matcher import Encode, Matcher
from agents.logic.screening import Prepared, Screener
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
    """A parsed item, its chunks and its term hits (agents.logic.screening.Prepared)."""

    item: NewsItem
    prepared: Prepared

    @property
    def texts(self) -> list[str]:
        return self.prepared.texts


def prepare_news(raw: bytes | None, max_bytes: int, screener: Screener) -> PreparedNews | Refusal:
    item = attempt("parse", NewsItem.from_bytes, raw, max_bytes)
    if isinstance(item, Refusal):
        return item
    prepared = attempt("chunk", screener.prepare, item.title, item.body)
    return prepared if isinstance(prepared, Refusal) else PreparedNews(item, prepared)


def presearch_each(screener: Screener, prepared: Sequence[PreparedNews]) -> list[dict[str, str]]:
    """Which lists each item may match. An item the presearch itself fails on goes to the
    transformer for every list: the cascade may skip work, never an item it cannot judge."""
    batch = attempt("presearch", screener.presearch, [p.prepared for p in prepared])
    if not isinstance(batch, Refusal):
        return batch
    every = {wid: PRESEARCH_FAILED for wid in screener.versions}
    out = []
    for p in prepared:
        one = attempt("presearch", screener.presearch, [p.prepared])
        out.append(every if isinstance(one, Refusal) else one[0])
    return out


PRESEARCH_FAILED = "presearch failed"


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


def embedded_record(
    prepared: PreparedNews, vectors: np.ndarray | None, model: str, ingested_at: str, max_bytes: int, presearch: dict[str, Any] | None = None
) -> bytes | Refusal:
    """The `news.embedded` value, its body cut if needed so the record fits the broker's message limit.
    An item no list passed travels without chunks or vectors (see the README's topic contract)."""
    chunks = prepared.prepared.chunks if vectors is not None else []
    rows = vectors if vectors is not None else np.zeros((0, 0), dtype=np.float32)

    def encoded(item: NewsItem, cut: bool) -> bytes:
        return EmbeddedItem(item, model, chunks, rows, ingested_at, body_truncated=cut, presearch=presearch).to_bytes()

    return attempt("write embedded record", fit_body, prepared.item, encoded, max_bytes)


@dataclass(frozen=True)
class EmbeddedOut:
    key: bytes
    value: bytes
    candidate: bool


@dataclass(frozen=True)
class ScreenedBatch:
    """A batch after parsing and presearch: what is left for the model."""

    prepared: list[PreparedNews | Refusal]
    verdicts: dict[int, dict[str, str]]  # id(PreparedNews) -> lists passed
    versions: dict[str, str]
    ingested_at: Sequence[str]

    @property
    def candidates(self) -> list[PreparedNews]:
        return [p for p in self.prepared if isinstance(p, PreparedNews) and self.verdicts[id(p)]]


@dataclass(frozen=True)
class EmbedStep:
    """The embed agent's whole work on a batch, run off the event loop: a 1 MB body costs
    real CPU in folding, glossing and JSON, and heartbeats must not wait for it.

    Two stages, so that the agent runs them in two threads: one batch is parsed and presearched
    (Python) while the one before it is in the model (ONNX Runtime, which runs without the
    interpreter lock)."""

    encode: Encode
    model_name: str
    screener: Callable[[], Screener]  # the active set, read once per batch
    max_item_bytes: int
    max_message_bytes: int
    on_encode: Callable[[int], None] | None = None  # texts per model call, for a metric

    def run(self, raws: Sequence[bytes | None], ingested_at: Sequence[str]) -> list[EmbeddedOut | Refusal]:
        return self.embed(self.screen(raws, ingested_at))

    def screen(self, raws: Sequence[bytes | None], ingested_at: Sequence[str]) -> ScreenedBatch:
        screener = self.screener()
        prepared = [prepare_news(raw, self.max_item_bytes, screener) for raw in raws]
        valid = [p for p in prepared if isinstance(p, PreparedNews)]
        verdicts = dict(zip(map(id, valid), presearch_each(screener, valid) if valid else []))
        return ScreenedBatch(prepared, verdicts, screener.versions, ingested_at)

    def embed(self, batch: ScreenedBatch) -> list[EmbeddedOut | Refusal]:
        candidates = batch.candidates
        vectors = dict(zip(map(id, candidates), encode_each(self.encode, candidates) if candidates else []))
        if candidates and self.on_encode is not None:
            self.on_encode(sum(len(p.texts) for p in candidates))
        out: list[EmbeddedOut | Refusal] = []
        for p, stamp in zip(batch.prepared, batch.ingested_at):
            if isinstance(p, Refusal):
                out.append(p)
                continue
            item_vectors = vectors.get(id(p))
            if isinstance(item_vectors, Refusal):
                out.append(item_vectors)
                continue
            presearch = {"candidate": item_vectors is not None, "passed": batch.verdicts[id(p)], "versions": batch.versions}
            value = embedded_record(p, item_vectors, self.model_name, stamp, self.max_message_bytes, presearch)
            out.append(value if isinstance(value, Refusal) else EmbeddedOut(p.item.id.encode("utf-8"), value, item_vectors is not None))
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
    if not embedded.candidate:
        return embedded, []  # no list could match it when it was screened
    for decision in matcher.matches(embedded.item.title, embedded.item.body, embedded.chunks, embedded.vectors):
        alert = decision_to_alert(embedded, decision, stale_after_s, now)
        value = fit_body(alert.item, lambda item, cut: alert.model_copy(update={"item": item, "item_body_truncated": cut or embedded.body_truncated}).to_bytes(), max_bytes)
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
