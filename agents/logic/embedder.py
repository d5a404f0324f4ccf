"""Sentence embeddings with the offline all-MiniLM-L6-v2 model."""

from __future__ import annotations

import fcntl
import logging
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from agents.logic import onnx_minilm

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
BACKENDS = ("onnx", "torch")


def default_model_workers() -> int:
    """One single-threaded model copy per core, up to four."""
    return max(1, min(4, os.cpu_count() or 1))


class ModelCopy(Protocol):
    dim: int

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray: ...


class Embedder:
    """Loads one model copy per worker thread; `encode` is thread-safe and returns L2-normalised rows.

    With `workers` > 1 a call is split into that many parts of similar length, and each part is
    encoded by its own single-threaded copy on its own thread. On a busy machine this beats one
    call that uses every core: a parallel loop waits for its slowest thread, so any other thread
    that takes a core (the event loop, the matcher, the broker) stalls the whole model
    (docs/throughput.md). The vectors are the same either way.

    Backend `onnx` (the default) runs the shipped model's exported graph with ONNX Runtime, which
    holds Python's interpreter lock once per call instead of between every operator
    (`agents/logic/onnx_minilm.py`); `torch` runs it through sentence-transformers.
    """

    def __init__(self, batch_size: int = 4, workers: int | None = None, backend: str = "onnx", onnx_dir: Path | None = None) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"model backend {backend!r}: expected one of {', '.join(BACKENDS)}")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        single_threaded_blas()
        self.batch_size = batch_size
        self.model_name = MODEL_NAME
        self.workers = workers or default_model_workers()
        self.backend = f"{backend}-fp32 x{self.workers}"
        if backend == "onnx":
            model_file = ensure_onnx(onnx_dir or onnx_minilm.default_dir()) / onnx_minilm.MODEL_FILE
            self._models: list[ModelCopy] = [onnx_minilm.OnnxMiniLM(model_file) for _ in range(self.workers)]
            initializer = None
        else:
            self._models = [TorchMiniLM() for _ in range(self.workers)]
            initializer = TorchMiniLM.one_thread
        self.dim = self._models[0].dim
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="model", initializer=initializer) if self.workers > 1 else None
        self.calls = 0  # number of encode() calls, for tests and metrics
        self.sentences = 0

    def _encode_with(self, model: ModelCopy, texts: list[str]) -> np.ndarray:
        return np.asarray(model.encode(texts, self.batch_size), dtype=np.float32)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        texts = list(texts)
        with self._lock:
            self.calls += 1
            self.sentences += len(texts)
            if self._pool is None or len(texts) < 2:
                return self._encode_with(self._models[0], texts)
            # Deal the texts, longest first, round-robin: each part gets a similar number of tokens.
            order = sorted(range(len(texts)), key=lambda k: len(texts[k]), reverse=True)
            parts = [order[w :: self.workers] for w in range(self.workers)]
            parts = [p for p in parts if p]
            results = self._pool.map(lambda job: self._encode_with(self._models[job[0]], [texts[k] for k in job[1]]), enumerate(parts))
            out = np.zeros((len(texts), self.dim), dtype=np.float32)
            for part, vectors in zip(parts, results):
                out[part] = vectors
            return out


class TorchMiniLM:
    """The model through sentence-transformers (backend `torch`; the bench's naive loop uses it too)."""

    def __init__(self) -> None:
        from sentence_transformers import SentenceTransformer

        _quiet_transformers()
        self.model = SentenceTransformer(str(onnx_minilm.shipped_model_path()), device="cpu")
        self.dim = int(self.model.get_embedding_dimension() or 384)

    @staticmethod
    def one_thread() -> None:
        import torch

        torch.set_num_threads(1)  # per thread: parallelism comes from the workers, not inside a call

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        return self.model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)


def single_threaded_blas() -> None:
    """numpy's BLAS on one thread, for the whole process. Its products here are small (a batch of
    sentences times a 257 x 384 map), and OpenBLAS's idle helper thread spins for a while after
    each one: measured, the presearch used 2.8 - 4.0 ms of CPU an item with it and 1.2 - 1.4
    without, the difference taken from the core the model needs."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def ensure_onnx(directory: Path) -> Path:
    """The exported graph's folder, exporting it first (about 10 s, no network) if it is missing.
    A file lock makes workers that start together export it once."""
    if onnx_minilm.is_exported(directory):
        return directory
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        with open(directory.parent / f".{directory.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not onnx_minilm.is_exported(directory):
                print(f"wirewatch: exporting the model to ONNX in {directory} (once, offline)", file=sys.stderr, flush=True)
                _quiet_transformers()
                onnx_minilm.export(directory)
    except OSError as exc:
        raise SystemExit(f"cannot write the model's ONNX export to {directory} ({type(exc).__name__}: {exc}). Run `wirewatch presearch "
                         "build` where that folder is writable, point WIREWATCH_ONNX_MODEL_DIR at one, or set "
                         "WIREWATCH_MODEL_BACKEND=torch") from None
    return directory


def _quiet_transformers() -> None:
    """The model loads from a local file: transformers' load report (an expected unused key) and
    its progress bar would only bury the worker's own start-up lines."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
