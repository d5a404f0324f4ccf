"""Assemble a Screener for a command or a worker: the static presearch model (built on first use)
and the watchlists. `wirewatch presearch build` builds the model ahead of time."""

from __future__ import annotations

import fcntl
import functools
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from agents.logic.chunking import chunk_text
from agents.logic.crosslingual import MultilingualModel, load_multilingual, parse_languages
from agents.logic.gloss import Glossary, GlossaryError, embedding_text
from agents.logic.matcher import Encode
from agents.logic.screening import Screener, load_static
from agents.logic.static_model import StaticEncoder, build, default_dir, is_built
from agents.logic.watchlists import LoadedWatchlist
from streams.settings import Settings

if TYPE_CHECKING:
    from agents.logic.embedder import Embedder

log = logging.getLogger("wirewatch")

REPO = Path(__file__).resolve().parent.parent
# Labelled dev news (config/labelled/README.md): the presearch corpus, the bench's relevant items.
LABELLED_DEV = REPO / "config" / "labelled" / "news-dev-labelled.jsonl"
DEFAULT_CORPUS = LABELLED_DEV
# Labelled news in six languages outside the glossary (config/labelled/README.md).
LABELLED_MULTILINGUAL = REPO / "config" / "labelled" / "news-multilingual-labelled.jsonl"


def make_embedder(settings: Settings) -> "Embedder":
    """The model as the settings say: backend, sentences per forward pass, copies."""
    from agents.logic.embedder import Embedder

    return Embedder(batch_size=settings.model_batch, workers=settings.model_workers or None, backend=settings.model_backend,
                    onnx_dir=onnx_dir(settings))


def onnx_dir(settings: Settings) -> Path:
    from agents.logic.onnx_minilm import default_dir

    return Path(settings.onnx_model_dir) if settings.onnx_model_dir else default_dir()


def load_glossary(settings: Settings) -> Glossary:
    """A missing glossary only costs non-English recall; a broken one stops the start with its error."""
    if not settings.glossary_path.is_file():
        log.warning("no glossary at %s: non-English items are matched by keywords only", settings.glossary_path)
        return Glossary.empty()
    try:
        return Glossary.load(settings.glossary_path)
    except GlossaryError as exc:
        raise SystemExit(f"invalid glossary: {exc}") from None


def static_dir(settings: Settings) -> Path:
    return Path(settings.static_model_dir) if settings.static_model_dir else default_dir()


def corpus_sentences(paths: Iterable[Path], glossary: Glossary | None) -> list[str]:
    """What the model reads for each item of these JSON-lines files (title, body): the calibration corpus."""
    sentences: list[str] = []
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                title, body = row["title"], row.get("body", "")
                if not isinstance(title, str) or not isinstance(body, str):
                    raise TypeError("title and body must be strings")
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise CorpusError(f"{path}:{number}: not a news item with a title ({type(exc).__name__}: {exc})") from None
            sentences.extend(embedding_text(c) for c in chunk_text(title, body, glossary))
    return sentences


class CorpusError(ValueError):
    """A calibration-corpus line that cannot be read; the message names FILE:LINE."""


def ensure_static(settings: Settings, encode: Encode, glossary: Glossary | None, corpus: Sequence[Path] = (DEFAULT_CORPUS,), force: bool = False) -> StaticEncoder | None:
    """Load the static model, building it first (about 30 s on 2 cores, no network) if it is missing.

    A file lock makes workers that start together build it once; None only if presearch is off.
    """
    if not settings.presearch:
        return None
    directory = static_dir(settings)
    if force or not is_built(directory):
        directory.parent.mkdir(parents=True, exist_ok=True)
        with open(directory.parent / f".{directory.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if force or not is_built(directory):
                print(f"wirewatch: building the static presearch model in {directory} (once, offline)", file=sys.stderr, flush=True)
                build(directory, corpus_sentences(corpus, glossary), encode)
    return load_static(directory)


def build_screener(
    settings: Settings, loaded: Sequence[LoadedWatchlist], encode: Encode, glossary: Glossary | None, static: StaticEncoder | None = None
) -> Screener:
    if static is None and settings.presearch:
        static = ensure_static(settings, encode, glossary)
    multilingual = shared_multilingual() if settings.multilingual else None
    # The glossary's languages stay with it only while it is loaded: without it, the model reads them too.
    glossary_languages = parse_languages(settings.glossary_languages) if glossary is not None and glossary.concepts else frozenset()
    return Screener.build(loaded, encode, static, glossary, enabled=settings.presearch, multilingual=multilingual, glossary_languages=glossary_languages)


@functools.cache
def shared_multilingual() -> MultilingualModel | None:
    """One multilingual model per process, shared by every compiled version of the lists."""
    return load_multilingual()


def cmd_presearch_build(settings: Settings, corpus: list[Path], force: bool) -> int:
    if settings.model_backend == "onnx":
        from agents.logic.embedder import ensure_onnx

        print(f"the model's ONNX export is in {ensure_onnx(onnx_dir(settings))}")
    directory = static_dir(settings)
    if is_built(directory) and not force:
        print(f"the static presearch model is already built in {directory} (--force rebuilds it)")
        return 0
    embedder = make_embedder(settings)
    for path in corpus:
        if not path.is_file():
            print(f"wirewatch presearch build: {path}: no such file", file=sys.stderr)
            return 2
    try:
        static = ensure_static(settings, embedder.encode, load_glossary(settings), corpus or [DEFAULT_CORPUS], force=True)
    except (CorpusError, OSError, UnicodeDecodeError) as exc:
        print(f"wirewatch presearch build: {exc}", file=sys.stderr)
        return 2
    manifest = json.loads((directory / "wirewatch-static.json").read_text(encoding="utf-8"))
    print(f"built {directory}: {manifest}" if static else "not built: presearch is off")
    return 0
