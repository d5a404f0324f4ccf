"""Watchlist files: the model, a safe line-aware loader, and errors as FILE:LINE.

YAML is composed with the safe loader into nodes (which carry line numbers)
and converted by hand, with a node budget so that an alias bomb fails fast
instead of expanding. Pydantic then checks types, ranges and unknown fields,
and each error is mapped back to the line of the offending node.
"""

from __future__ import annotations

import difflib
import os
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agents.logic.listed_names import DEFAULT_MIN_RARITY, Edition, SourceError, load_ofac_csv

MAX_FILE_BYTES = 512 * 1024
MAX_NODES = 50_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Thresholds(_Strict):
    """Score cut-offs; calibrated per watchlist with `wirewatch evaluate`."""

    match: float = Field(0.5, ge=0.0, le=2.0, description="final score an item needs to match")
    semantic_alone: float = Field(
        0.62, ge=0.0, le=1.0, description="semantic similarity that matches without any keyword or entity"
    )
    counter_margin: float = Field(
        0.03, ge=0.0, le=1.0, description="a counter-example closer than an exemplar by this much vetoes"
    )
    crosslingual: float = Field(
        0.44, ge=0.0, le=1.0,
        description="for an item not in English: the multilingual similarity of its closest sentence to an exemplar "
        "that matches without any keyword (`wirewatch calibrate` recommends a value)",
    )


class Entity(_Strict):
    """A named organisation, person or campaign; aliases may be in any script."""

    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)


class EntitySource(_Strict):
    """A designated-party list the authorities publish as files; each edition is loaded whole."""

    format: Literal["ofac-sdn-csv"] = Field(description="ofac-sdn-csv: a folder with OFAC's legacy sdn.csv and alt.csv")
    path: str = Field(min_length=1, description="the folder; a relative path is read from the watchlist file's folder")
    list_name: str = Field("OFAC SDN", min_length=1, description="shown on alerts")
    record_url: str = Field("https://sanctionssearch.ofac.treas.gov/Details.aspx?id={entry_id}",
                            description="link to an entry's official record; {entry_id} is replaced")
    min_rarity: float = Field(DEFAULT_MIN_RARITY, ge=0.0, le=60.0,
                              description="how rare a name's words must be, together, for the name to alert on its own "
                                          "(-log10 of their probability in English; docs/sanctions-lists.md)")


class Rule(_Strict):
    """Evidence an item must show, all together, for this rule to allow a match."""

    name: str = Field(min_length=1)
    require: list[Literal["keyword", "entity", "context", "semantic"]] = Field(min_length=1)
    min_semantic: float = Field(0.0, ge=0.0, le=1.0)


class QuietHours(_Strict):
    """Local times between which alerts are held and then posted as one digest."""

    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, local time")
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, local time; may be past midnight")
    timezone: str = Field("UTC", description="IANA zone, e.g. Europe/Berlin")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class Delivery(_Strict):
    """How this list's alerts reach Slack."""

    mode: Literal["immediate", "digest"] = Field("immediate", description="digest: one message every digest_minutes")
    digest_minutes: float = Field(60.0, gt=0, le=1440, description="digest period")
    quiet_hours: QuietHours | None = Field(None, description="hold alerts in this window; post them as a digest when it ends")


class Watchlist(_Strict):
    """One watchlist file. Generated schema: config/watchlist.schema.json (`wirewatch watchlists schema`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="wirewatch watchlist")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$", description="stable id, unique across files; part of every alert id")
    name: str = Field(min_length=1, description="shown to analysts in Slack")
    description: str = Field("", description="what this list watches, for the people who edit it")
    owner: str = Field("", description="team that answers for this list")
    enabled: bool = Field(True, description="false keeps the file but matches nothing")
    severity: Literal["low", "medium", "high", "critical"] = Field("medium", description="shown on each alert")
    channels: list[str] = Field(min_length=1, description="Slack channels (#name or id) that receive its alerts")
    thresholds: Thresholds = Field(default_factory=Thresholds, description="score cut-offs; see `wirewatch calibrate`")
    delivery: Delivery = Field(default_factory=Delivery, description="immediate, digest, quiet hours")
    exemplars: list[str] = Field(min_length=1, description="English sentences describing what should match")
    counter_examples: list[str] = Field(default_factory=list, description="sentences describing look-alikes that must not match")
    keywords: list[str] = Field(
        default_factory=list, description="strong terms in any language; a trailing * matches word endings (no regexes)"
    )
    context: list[str] = Field(default_factory=list, description="weak supporting terms; each adds a little to the score")
    exclude: list[str] = Field(
        default_factory=list,
        description="terms naming look-alikes (another campaign, another sense of a word); "
        "an item that has one and no keyword or entity does not match",
    )
    entities: list[Entity] = Field(
        default_factory=list, description="organisations, people, campaigns or named lists, with aliases in any script"
    )
    rules: list[Rule] = Field(
        default_factory=list, description="evidence combinations that allow a match; none: keyword, entity, or strong semantic"
    )
    entity_sources: list[EntitySource] = Field(
        default_factory=list, description="designated-party lists (files from the authorities) whose names count as entities"
    )

    @field_validator("exemplars", "counter_examples", "keywords", "context", "exclude", "channels")
    @classmethod
    def _no_blank_strings(cls, values: list[str]) -> list[str]:
        for index, value in enumerate(values):
            if not value.strip():
                raise ValueError(f"item {index} is empty")
        return values




@dataclass(frozen=True)
class WatchlistError:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class WatchlistErrors(Exception):
    def __init__(self, errors: list[WatchlistError]):
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class LoadedWatchlist:
    watchlist: Watchlist
    path: Path
    version: str  # content hash of the file, and of each entity source's edition
    editions: tuple[Edition, ...] = ()

    @property
    def source_files(self) -> tuple[Path, ...]:
        return tuple(path for edition in self.editions for path in edition.files)


def content_version(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:16]


class _NodeBudgetExceeded(Exception):
    pass


_PLAIN_TAGS = frozenset(
    "tag:yaml.org,2002:" + name for name in ("map", "seq", "str", "int", "float", "bool", "null")
)


def _to_python(node: yaml.Node, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int], budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise _NodeBudgetExceeded()
    if node.tag not in _PLAIN_TAGS:
        raise yaml.constructor.ConstructorError(None, None, f"YAML tag {node.tag!r} is not allowed", node.start_mark)
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader.construct_scalar(yaml.SafeLoader(""), key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if key is None or key in result:
                raise yaml.constructor.ConstructorError(
                    None, None, "duplicate or non-scalar key" if key else "non-scalar key", key_node.start_mark
                )
            lines[path + (key,)] = key_node.start_mark.line + 1
            result[key] = _to_python(value_node, path + (key,), lines, budget)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(child, path + (i,), lines, budget) for i, child in enumerate(node.value)]
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, OverflowError) as exc:  # e.g. an integer of more than 4,300 digits
        raise yaml.constructor.ConstructorError(None, None, f"unreadable value: {str(exc)[:120]}", node.start_mark) from None


def _line_for(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return 1


def _field_name(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(file)"


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _allowed_fields(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = Watchlist
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        annotation = field.annotation
        inner = getattr(annotation, "__args__", (annotation,))
        nested = next((a for a in inner if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if nested is None:
            return []
        model = nested
    return list(model.model_fields)


def parse_watchlist(raw: bytes, file: str) -> Watchlist:
    """Validate one file's bytes; raises WatchlistErrors with FILE:LINE entries, and nothing else.

    A reload runs on a timer in the worker: any other exception would end that timer, and
    later good edits would never apply.
    """
    try:
        return _parse_watchlist(raw, file)
    except WatchlistErrors:
        raise
    except RecursionError:
        raise WatchlistErrors([WatchlistError(file, 1, "(yaml)", "YAML nested too deeply")]) from None
    except Exception as exc:  # noqa: BLE001 - a file must never take the loader down
        message = f"cannot be read as a watchlist ({type(exc).__name__}: {str(exc)[:200]})"
        raise WatchlistErrors([WatchlistError(file, 1, "(file)", message)]) from None


def _parse_watchlist(raw: bytes, file: str) -> Watchlist:
    if len(raw) > MAX_FILE_BYTES:
        raise WatchlistErrors([WatchlistError(file, 1, "(file)", f"file is {len(raw)} bytes, above the {MAX_FILE_BYTES} byte limit")])
    if b"\x00" in raw:
        raise WatchlistErrors([WatchlistError(file, 1, "(file)", "binary file (contains NUL bytes), expected YAML text")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise WatchlistErrors([WatchlistError(file, line, "(file)", f"not valid UTF-8 at byte {exc.start}")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise WatchlistErrors([WatchlistError(file, line, "(yaml)", f"YAML syntax error: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise WatchlistErrors([WatchlistError(file, 1, "(yaml)", f"YAML error: {exc}")]) from None
    if node is None:
        raise WatchlistErrors([WatchlistError(file, 1, "(file)", "file is empty")])
    lines: dict[tuple[Any, ...], int] = {}
    try:
        data = _to_python(node, (), lines, [MAX_NODES])
    except _NodeBudgetExceeded:
        raise WatchlistErrors([WatchlistError(file, 1, "(yaml)", f"more than {MAX_NODES} YAML nodes after alias expansion (an alias bomb?)")]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise WatchlistErrors([WatchlistError(file, (mark.line + 1) if mark else 1, "(yaml)", str(exc.problem))]) from None
    except RecursionError:
        raise WatchlistErrors([WatchlistError(file, 1, "(yaml)", "YAML nested too deeply")]) from None
    if not isinstance(data, dict):
        raise WatchlistErrors([WatchlistError(file, 1, "(file)", f"expected a mapping of fields, got {type(data).__name__}")])
    try:
        return Watchlist.model_validate(data)
    except ValidationError as exc:
        errors: list[WatchlistError] = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            line = _line_for(loc, lines)
            if err["type"] == "extra_forbidden":
                message = f"unknown field{_did_you_mean(str(loc[-1]), _allowed_fields(loc[:-1]))}"
            elif err["type"] == "too_short" and loc and loc[-1] == "exemplars":
                message = "needs at least one exemplar sentence"
            else:
                message = err["msg"]
            errors.append(WatchlistError(file, line, _field_name(loc), message))
        raise WatchlistErrors(errors) from None


def load_watchlist_file(path: Path) -> LoadedWatchlist:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise WatchlistErrors([WatchlistError(str(path), 1, "(file)", f"cannot read: {exc.strerror}")]) from None
    watchlist = parse_watchlist(raw, str(path))
    editions = tuple(_load_source(source, path, index) for index, source in enumerate(watchlist.entity_sources))
    version = content_version(raw) if not editions else content_version(raw + "".join(e.version for e in editions).encode())
    return LoadedWatchlist(watchlist=watchlist, path=path, version=version, editions=editions)


def declared_source_files(directory: Path) -> list[Path]:
    """The list files the folder's watchlists name, for change detection (only files that mention
    entity_sources are parsed, and an invalid one is skipped: the reload reports it)."""
    files: list[Path] = []
    for path in watchlist_files(directory):
        try:
            raw = path.read_bytes()[: MAX_FILE_BYTES + 1]
            if b"entity_sources" not in raw:
                continue
            sources = parse_watchlist(raw, str(path)).entity_sources
        except (OSError, WatchlistErrors):
            continue
        for source in sources:
            folder = source_folder(source, path)
            files += [folder / "sdn.csv", folder / "alt.csv"]
    return files


def source_folder(source: EntitySource, watchlist_path: Path) -> Path:
    folder = Path(source.path)
    return folder if folder.is_absolute() else Path(os.path.normpath(watchlist_path.parent / folder))


def _load_source(source: EntitySource, watchlist_path: Path, index: int) -> Edition:
    """One edition of a list, whole; a file it cannot use is reported at its own FILE:LINE."""
    try:
        return load_ofac_csv(source_folder(source, watchlist_path), source.list_name, source.record_url, source.min_rarity)
    except SourceError as exc:
        raise WatchlistErrors([WatchlistError(exc.file, exc.line, f"entity_sources[{index}]", exc.message)]) from None
    except Exception as exc:  # noqa: BLE001 - a list file must never take the loader down
        raise WatchlistErrors([WatchlistError(str(watchlist_path), 1, f"entity_sources[{index}]",
                                              f"cannot load {source.path}: {type(exc).__name__}: {str(exc)[:200]}")]) from None


def watchlist_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.y*ml") if p.suffix in {".yaml", ".yml"} and p.is_file())


def load_watchlist_dir(directory: Path) -> list[LoadedWatchlist]:
    """All watchlists of a folder, or WatchlistErrors listing every problem found."""
    if not directory.is_dir():
        raise WatchlistErrors([WatchlistError(str(directory), 1, "(folder)", "watchlist folder does not exist")])
    loaded: list[LoadedWatchlist] = []
    errors: list[WatchlistError] = []
    for path in watchlist_files(directory):
        try:
            loaded.append(load_watchlist_file(path))
        except WatchlistErrors as exc:
            errors.extend(exc.errors)
    seen: dict[str, LoadedWatchlist] = {}
    for entry in loaded:
        first = seen.get(entry.watchlist.id)
        if first is not None:
            errors.append(
                WatchlistError(str(entry.path), 1, "id", f"id {entry.watchlist.id!r} is already used by {first.path}")
            )
        else:
            seen[entry.watchlist.id] = entry
    if errors:
        raise WatchlistErrors(errors)
    return loaded


def watchlist_json_schema() -> dict[str, Any]:
    return Watchlist.model_json_schema()
