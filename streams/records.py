"""Wire records: what travels on each topic, and their strict parsers.

Values are JSON, parsed here rather than by faust's serializers, so that a message we cannot
read is kept as its original bytes and sent to the dead-letter topic with a precise reason
instead of crashing the stream. The news item and the alert are pydantic models: the alert's
published JSON Schema (streams/schemas/alert.v1.json) is generated from them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from typing_extensions import Required, TypedDict

ALERT_SCHEMA_VERSION = 1
EMBEDDED_SCHEMA_VERSION = 1
MAX_ID_CHARS = 512
MAX_VECTOR_DIM = 4096


class InvalidMessage(ValueError):
    """A message that cannot be parsed or validated. The text is the dead-letter reason."""


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
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise InvalidMessage(f"{what}: unreadable JSON value ({str(exc)[:120]})") from None
    if not isinstance(value, dict):
        raise InvalidMessage(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def repair_text(value: str) -> str:
    """Replace lone UTF-16 surrogates (JSON allows "\\ud800"; UTF-8 and the tokenizer do not) with U+FFFD.

    json.loads joins valid surrogate pairs into one character, so any surrogate left is broken:
    a scraper's cut emoji. The story is kept; only the broken character is marked.
    """
    return _LONE_SURROGATE.sub("\ufffd", value)


def _text(data: dict[str, Any], name: str, *, required: bool, aliases: tuple[str, ...] = ()) -> str:
    for key in (name, *aliases):
        if key in data and data[key] is not None:
            value = data[key]
            if not isinstance(value, str):
                raise InvalidMessage(f"news item: field {name!r} must be a string, got {type(value).__name__}")
            return repair_text(value)
    if required:
        raise InvalidMessage(f"news item: missing required field {name!r}")
    return ""


def _item_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The item's fields from what a producer sent: aliases taken, an integer id as text, broken
    characters repaired (a lone surrogate cannot reach the model or the broker as UTF-8)."""
    item_id = data.get("id")
    if isinstance(item_id, int) and not isinstance(item_id, bool):
        item_id = str(item_id)
    if not isinstance(item_id, str) or not item_id.strip():
        raise InvalidMessage("news item: missing required field 'id' (a non-empty string)")
    if len(item_id) > MAX_ID_CHARS:
        raise InvalidMessage(f"news item: 'id' longer than {MAX_ID_CHARS} characters")
    if _LONE_SURROGATE.search(item_id):
        # The id is the message key and the seed of alert ids: it must round-trip exactly.
        raise InvalidMessage("news item: 'id' holds a lone UTF-16 surrogate, which UTF-8 cannot carry")
    title = _text(data, "title", required=True).strip()
    if not title:
        raise InvalidMessage("news item: field 'title' is empty")
    return {
        "id": item_id.strip(),
        "title": title,
        "body": _text(data, "body", required=False),
        "url": _text(data, "url", required=False, aliases=("source_url", "link")),
        "source": _text(data, "source", required=False),
        "published": _text(data, "published", required=False),
        "language": _text(data, "language", required=False, aliases=("lang",)) or None,
    }


def _validated(model: type[BaseModel], data: dict[str, Any], what: str) -> Any:
    """model_validate, with a failure turned into a dead-letter reason that names the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, InvalidMessage):
            raise InvalidMessage(str(cause)) from None
        where = ".".join(str(part) for part in error.get("loc", ())) or "(record)"
        raise InvalidMessage(f"{what}: field {where!r}: {error.get('msg', 'invalid')}") from None


class NewsItem(BaseModel):
    """One story on the `news` topic (key = id). Readers also take `source_url` or `link` for
    `url`, and `lang` for `language`."""

    model_config = ConfigDict(frozen=True, extra="ignore", title="news item")

    id: str = Field(min_length=1, description=f"The producer's id, at most {MAX_ID_CHARS} characters; the message key and the seed of alert ids.")
    title: str = Field(min_length=1)
    body: str = ""
    url: str = ""
    source: str = ""
    published: str = Field("", description="As the source gave it: ISO 8601 or RFC 2822.")
    language: str | None = Field(None, description="ISO 639-1 code, if the source gave one.")

    @model_validator(mode="before")
    @classmethod
    def _from_producer(cls, data: Any) -> Any:
        return _item_fields(data) if isinstance(data, dict) else data

    @classmethod
    def from_dict(cls, data: Any) -> "NewsItem":
        if not isinstance(data, dict):
            raise InvalidMessage(f"news item: expected a JSON object, got {type(data).__name__}")
        return _validated(cls, data, "news item")

    @classmethod
    def from_bytes(cls, raw: bytes | None, max_bytes: int | None = None) -> "NewsItem":
        return cls.from_dict(decode_json_object(raw, "news item", max_bytes))

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False).encode("utf-8")


def encode_vector(vector: np.ndarray) -> str:
    """float32 little-endian, base64: compact, exact, and not pickle."""
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def decode_vector(text: object, dim: int) -> np.ndarray:
    if not isinstance(text, str):
        raise InvalidMessage(f"embedded item: a vector must be a base64 string, got {type(text).__name__}")
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
    body_truncated: bool = False  # item.body was cut so that this record fits the broker's message size
    # The cascade's verdict: {"candidate": bool, "passed": {list id: why}, "versions": {list id: version}}.
    # A record that is not a candidate has no chunks and no vectors (dim 0): no list could match it.
    presearch: dict[str, Any] | None = None

    @property
    def candidate(self) -> bool:
        return self.presearch is None or self.presearch.get("candidate") is not False

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
                "item_body_truncated": self.body_truncated,
                **({"presearch": self.presearch} if self.presearch is not None else {}),
            },
            ensure_ascii=False,
        ).encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> "EmbeddedItem":
        data = decode_json_object(raw, "embedded item")
        try:
            presearch = data.get("presearch")
            if presearch is not None and not (isinstance(presearch, dict) and isinstance(presearch.get("candidate"), bool)):
                raise InvalidMessage("embedded item: 'presearch' must be an object with a boolean 'candidate'")
            screened_out = presearch is not None and presearch["candidate"] is False
            dim = data["dim"]
            if not isinstance(dim, int) or not (0 if screened_out else 1) <= dim <= MAX_VECTOR_DIM:
                raise InvalidMessage(f"embedded item: 'dim' must be an integer from 1 to {MAX_VECTOR_DIM}")
            chunks = data["chunks"]
            if not isinstance(chunks, list) or not all(isinstance(c, dict) for c in chunks) or (not chunks and not screened_out):
                raise InvalidMessage("embedded item: 'chunks' must be a non-empty list of objects")
            if chunks and screened_out:
                raise InvalidMessage("embedded item: a record that is not a presearch candidate carries no chunks")
            texts = [repair_text(c["text"]) if isinstance(c["text"], str) else str(c["text"]) for c in chunks]
            vectors = np.stack([decode_vector(c["vector"], dim) for c in chunks]) if chunks else np.zeros((0, dim), dtype=np.float32)
            if not np.isfinite(vectors).all():
                raise InvalidMessage("embedded item: a vector holds NaN or infinity")
            return cls(
                item=NewsItem.from_dict(data["item"]),
                model=str(data["model"]),
                chunks=texts,
                vectors=vectors,
                ingested_at=str(data.get("ingested_at", "")),
                body_truncated=data.get("item_body_truncated") is True,
                presearch=presearch,
            )
        except InvalidMessage:
            raise
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise InvalidMessage(f"embedded item: malformed ({type(exc).__name__}: {exc})") from None


def make_alert_id(item_id: str, watchlist_id: str) -> str:
    """Deterministic, so every retry or re-screen of the same pair yields the same id."""
    # JSON encoding keeps the pair unambiguous whatever characters the ids contain.
    digest = hashlib.sha256(json.dumps([item_id, watchlist_id]).encode("utf-8")).hexdigest()
    return f"ww1-{digest[:32]}"


class MatchedTerm(TypedDict, total=False):
    """One thing the item matched. `exclude`: a look-alike term the list names; it blocks a match
    only when no keyword or entity is found, so a matched alert may still list one."""

    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]

    kind: Required[Literal["exemplar", "keyword", "entity", "context", "exclude"]]
    text: Required[Annotated[str, Field(description="The exemplar, keyword or entity name from the watchlist.")]]
    found: Annotated[str, Field(description="The words in the item that matched it.")]
    score: float


class Scores(TypedDict, total=False):
    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]

    semantic: Required[float]
    lexical: Required[float]
    counter: Required[float]
    final: Required[float]
    threshold: Required[float]


class ListedEntryEvidence(TypedDict, total=False):
    """An entry of a designated-party list (a watchlist's entity_sources) that the item names."""

    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]

    list: Required[Annotated[str, Field(description="The list, e.g. OFAC SDN.")]]
    entry_id: Required[Annotated[str, Field(description="The entry's number on that list (OFAC: ent_num).")]]
    name: Required[Annotated[str, Field(description="The entry's primary name, as listed.")]]
    found: Required[Annotated[str, Field(description="The words in the item that matched (folded).")]]
    alias: Annotated[str, Field(description="The listed name or alias that was found.")]
    alias_strength: Annotated[str, Field(description="primary, aka, fka, nka, or weak (OFAC's weak a.k.a.).")]
    type: Annotated[str, Field(description="individual, entity, vessel or aircraft.")]
    programs: list[str]
    url: Annotated[str, Field(description="The entry's official record.")]
    alone: Annotated[bool, Field(description="The name is distinctive enough to alert on its own; "
                                             "false: shown only, it added nothing to the match.")]


class LanguageEvidence(TypedDict, total=False):
    """The item's language as wirewatch detected it, and whether a model or the glossary reads it."""

    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]

    code: Required[Annotated[str, Field(description="ISO 639-1 code, or 'und' when it could not be told.")]]
    covered: Required[Annotated[bool, Field(description="false: no model nor the glossary reads this language; the "
                                                        "item was matched on keywords and names alone.")]]


class CrossLingualEvidence(TypedDict, total=False):
    """For an item not in English: its closest sentence to the list's exemplars in the multilingual model's space."""

    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]

    model: Required[str]
    similarity: Required[float]
    threshold: Required[Annotated[float, Field(description="The list's cross-lingual threshold; at or above it, the item matches.")]]
    exemplar: Required[Annotated[str, Field(description="The watchlist exemplar closest in meaning.")]]
    found: Required[Annotated[str, Field(description="The item's own sentence, in its language, that came closest.")]]
    counter: float


class Evidence(TypedDict, total=False):
    """Why the item matched: the sentence, what it matched, and every score."""

    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]

    sentence: Required[Annotated[str, Field(description="The item's sentence (or title) that carried the match.")]]
    matched: Required[list[MatchedTerm]]
    scores: Required[Scores]
    rule: str
    listed: Annotated[list[ListedEntryEvidence], Field(description="Designated-party list entries the item "
                                                                   "names; absent when there are none.")]
    language: LanguageEvidence
    crosslingual: Annotated[CrossLingualEvidence, Field(description="Present for an item that the multilingual "
                                                                     "model read (not English, not a glossary language).")]


class Alert(BaseModel):
    """Value of each message on the `alerts` topic (key: alert_id as UTF-8). Within version 1,
    fields are only ever added, never removed or retyped; readers must ignore fields they do not know."""

    model_config = ConfigDict(frozen=True, extra="ignore", title="wirewatch Alert, schema version 1")

    schema_version: Literal[1] = ALERT_SCHEMA_VERSION
    alert_id: str = Field(pattern=r"^ww1-[0-9a-f]{32}$", description="Deterministic from item id + watchlist id: the same "
                          "pair always has the same id, so consumers can de-duplicate on it.")
    watchlist_id: str = Field(min_length=1)
    watchlist_name: str = ""
    watchlist_version: str = Field(pattern=r"^[0-9a-f]{12,64}$", description="Content hash of the watchlist file the item was matched with.")
    severity: Literal["low", "medium", "high", "critical"] = "medium"
    channels: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    item: NewsItem
    score: float = Field(allow_inf_nan=False)
    evidence: Evidence
    matched_at: str = Field(description="When the match was made, ISO 8601 UTC.")
    ingested_at: str = Field("", description="When the news message reached the broker (its timestamp), ISO 8601 UTC.")
    stale: bool = Field(False, description="Published or ingested longer ago than the staleness cutoff: kept here, not posted to Slack.")
    story_signature: str = Field("", description="Quantised story vector (base64) for near-duplicate detection; may be empty. Added within v1.")
    item_body_truncated: bool = Field(False, description="item.body was cut to fit the broker's message limit. Added within v1.")

    @model_validator(mode="before")
    @classmethod
    def _older_writers(cls, data: Any) -> Any:
        """Fields an earlier v1 writer could leave out or null read as their defaults."""
        if isinstance(data, dict):
            data = dict(data)
            data.setdefault("watchlist_name", data.get("watchlist_id"))
            for name in ("ingested_at", "story_signature"):
                if data.get(name) is None:
                    data.pop(name, None)
        return data

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> "Alert":
        data = decode_json_object(raw, "alert")
        version = data.get("schema_version")
        if version != ALERT_SCHEMA_VERSION:
            raise InvalidMessage(f"alert: unsupported schema_version {version!r} (this reader knows {ALERT_SCHEMA_VERSION})")
        return _validated(cls, data, "alert")


def alert_json_schema() -> dict[str, Any]:
    """streams/schemas/alert.v1.json: generated from the model (`wirewatch alerts schema --write`)."""
    schema = Alert.model_json_schema(ref_template="#/$defs/{model}")
    schema["required"] = ["schema_version", *schema.get("required", [])]  # writers always send it; readers check it
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "https://wirewatch.invalid/schemas/alert.v1.json", **schema}


def fit_body(item: NewsItem, encode: Callable[[NewsItem, bool], bytes], max_bytes: int) -> bytes:
    """`encode(item, cut)` of the item as it is, or with its body cut so the record fits `max_bytes`.

    A news message may be as large as the item limit, and the records built from it add
    vectors and evidence, so without a cut they could exceed the broker's message size.
    """
    value = encode(item, False)
    body = item.body.encode("utf-8")
    while len(value) > max_bytes:
        if not body:
            raise InvalidMessage(f"record is {len(value)} bytes even with an empty body, above the limit of {max_bytes}")
        over = len(value) - max_bytes
        body = body[: max(0, len(body) - over - 1024)]
        value = encode(item.model_copy(update={"body": body.decode("utf-8", "ignore")}), True)
    return value
