"""Wire records: what travels on each topic, and their strict parsers.

Values are JSON, parsed here by hand rather than by faust's serializers, so
that a message we cannot read is kept as its original bytes and sent to the
dead-letter topic with a precise reason instead of crashing the stream.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

ALERT_SCHEMA_VERSION = 1
EMBEDDED_SCHEMA_VERSION = 1
MAX_ID_CHARS = 512


class InvalidMessage(ValueError):
    """A message that cannot be parsed or validated. The text is the dead-letter reason."""


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def decode_json_object(raw: bytes | None, what: str, max_bytes: int | None = None) -> dict[str, Any]:
    """Strictly decode one JSON object from bytes, with a reason on failure."""
    if raw is None:
        raise InvalidMessage(f"{what}: empty message (no value)")
    if max_bytes is not None and len(raw) > max_bytes:
        raise InvalidMessage(f"{what}: message is {len(raw)} bytes, above the limit of {max_bytes}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidMessage(f"{what}: not valid UTF-8 at byte {exc.start}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidMessage(f"{what}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise InvalidMessage(f"{what}: JSON nested too deeply") from None
    if not isinstance(value, dict):
        raise InvalidMessage(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value


def _text_field(data: dict[str, Any], name: str, *, required: bool, aliases: tuple[str, ...] = ()) -> str:
    for key in (name, *aliases):
        if key in data and data[key] is not None:
            value = data[key]
            if not isinstance(value, str):
                raise InvalidMessage(f"news item: field {name!r} must be a string, got {type(value).__name__}")
            return value
    if required:
        raise InvalidMessage(f"news item: missing required field {name!r}")
    return ""


@dataclass(frozen=True)
class NewsItem:
    """One story on the `news` topic (key = id)."""

    id: str
    title: str
    body: str = ""
    url: str = ""
    source: str = ""
    published: str = ""
    language: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NewsItem":
        item_id = data.get("id")
        if isinstance(item_id, int) and not isinstance(item_id, bool):
            item_id = str(item_id)
        if not isinstance(item_id, str) or not item_id.strip():
            raise InvalidMessage("news item: missing required field 'id' (a non-empty string)")
        if len(item_id) > MAX_ID_CHARS:
            raise InvalidMessage(f"news item: 'id' longer than {MAX_ID_CHARS} characters")
        title = _text_field(data, "title", required=True)
        if not title.strip():
            raise InvalidMessage("news item: field 'title' is empty")
        language = _text_field(data, "language", required=False, aliases=("lang",)) or None
        return cls(
            id=item_id.strip(),
            title=title.strip(),
            body=_text_field(data, "body", required=False),
            url=_text_field(data, "url", required=False, aliases=("source_url", "link")),
            source=_text_field(data, "source", required=False),
            published=_text_field(data, "published", required=False),
            language=language,
        )

    @classmethod
    def from_bytes(cls, raw: bytes | None, max_bytes: int | None = None) -> "NewsItem":
        return cls.from_dict(decode_json_object(raw, "news item", max_bytes))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False).encode("utf-8")


def encode_vector(vector: np.ndarray) -> str:
    """float32 little-endian, base64: compact, exact, and not pickle."""
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def decode_vector(text: str, dim: int) -> np.ndarray:
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    if len(raw) != dim * 4:
        raise InvalidMessage(f"embedded item: vector has {len(raw)} bytes, expected {dim * 4}")
    return np.frombuffer(raw, dtype="<f4")


@dataclass(frozen=True)
class EmbeddedItem:
    """A news item plus the unit vectors of its chunks, on `news.embedded` (key = item id)."""

    item: NewsItem
    model: str
    chunks: list[str]
    vectors: np.ndarray  # shape (len(chunks), dim), rows L2-normalised
    ingested_at: str = ""  # when the news message was produced (ms timestamp, ISO)

    def to_bytes(self) -> bytes:
        return json.dumps(
            {
                "schema_version": EMBEDDED_SCHEMA_VERSION,
                "item": self.item.to_dict(),
                "model": self.model,
                "dim": int(self.vectors.shape[1]),
                "chunks": [
                    {"text": text, "vector": encode_vector(vec)}
                    for text, vec in zip(self.chunks, self.vectors)
                ],
                "ingested_at": self.ingested_at,
            },
            ensure_ascii=False,
        ).encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> "EmbeddedItem":
        data = decode_json_object(raw, "embedded item")
        try:
            dim = int(data["dim"])
            chunks = data["chunks"]
            texts = [str(c["text"]) for c in chunks]
            vectors = np.stack([decode_vector(c["vector"], dim) for c in chunks]) if chunks else np.zeros((0, dim), "<f4")
            return cls(
                item=NewsItem.from_dict(data["item"]),
                model=str(data["model"]),
                chunks=texts,
                vectors=vectors,
                ingested_at=str(data.get("ingested_at", "")),
            )
        except InvalidMessage:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidMessage(f"embedded item: malformed ({type(exc).__name__}: {exc})") from None


def make_alert_id(item_id: str, watchlist_id: str) -> str:
    """Deterministic, so every retry or re-screen of the same pair yields the same id."""
    # JSON encoding keeps the pair unambiguous whatever characters the ids contain.
    digest = hashlib.sha256(json.dumps([item_id, watchlist_id]).encode("utf-8")).hexdigest()
    return f"ww1-{digest[:32]}"


@dataclass(frozen=True)
class Alert:
    """Alert v1 on the `alerts` topic (key = alert_id). See streams/schemas/alert.v1.json."""

    alert_id: str
    watchlist_id: str
    watchlist_name: str
    watchlist_version: str
    severity: str
    channels: list[str]
    item: NewsItem
    score: float
    evidence: dict[str, Any]
    matched_at: str
    ingested_at: str = ""
    stale: bool = False
    story_signature: str = ""  # near-duplicate detection; added within v1 (optional, may be empty)
    schema_version: int = ALERT_SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("extra")
        data["item"] = self.item.to_dict()
        return data

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> "Alert":
        data = decode_json_object(raw, "alert")
        version = data.get("schema_version")
        if version != ALERT_SCHEMA_VERSION:
            raise InvalidMessage(f"alert: unsupported schema_version {version!r} (this reader knows {ALERT_SCHEMA_VERSION})")
        try:
            channels = data["channels"]
            if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
                raise InvalidMessage("alert: 'channels' must be a list of strings")
            return cls(
                alert_id=str(data["alert_id"]),
                watchlist_id=str(data["watchlist_id"]),
                watchlist_name=str(data.get("watchlist_name", data["watchlist_id"])),
                watchlist_version=str(data["watchlist_version"]),
                severity=str(data.get("severity", "medium")),
                channels=list(channels),
                item=NewsItem.from_dict(data["item"]),
                score=float(data["score"]),
                evidence=dict(data["evidence"]),
                matched_at=str(data["matched_at"]),
                ingested_at=str(data.get("ingested_at", "")),
                stale=bool(data.get("stale", False)),
                story_signature=str(data.get("story_signature", "") or ""),
            )
        except InvalidMessage:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidMessage(f"alert: malformed ({type(exc).__name__}: {exc})") from None
