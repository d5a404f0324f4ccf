"""`wirewatch bench --compare-backends`: torch fp32 against ONNX fp32 and ONNX int8, same sentences.

The ONNX fp32 graph is the one the worker runs (agents/logic/onnx_minilm.py); the int8 one is
that graph through onnxruntime's dynamic int8 quantiser, written next to it. Each runs with the
model's own tokenizer and mean pooling, the computation sentence-transformers does.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from agents.logic import onnx_minilm
from agents.logic.embedder import Embedder, ensure_onnx

INT8_FILE = "model-int8.onnx"


def _int8_file(directory: Path) -> Path:
    """The int8 graph beside the fp32 one: written under another name, then renamed, so an
    interrupted run never leaves a half file that a later one would take."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    int8 = directory / INT8_FILE
    if not int8.is_file():
        partial = directory / f"{INT8_FILE}.partial-{os.getpid()}"
        quantize_dynamic(str(directory / onnx_minilm.MODEL_FILE), str(partial), weight_type=QuantType.QInt8)
        os.replace(partial, int8)
    return int8


def onnx_encoder(model_file: Path, batch_size: int = 32) -> Callable[[Sequence[str]], np.ndarray]:
    model = onnx_minilm.OnnxMiniLM(model_file)
    return lambda texts: model.encode(texts, batch_size)


def compare(texts: Sequence[str], items: int, batch_size: int, onnx_dir: Path) -> dict[str, Any]:
    """items/s for each backend on the same sentences and batch size (one model copy each), and how
    close each stays to torch fp32."""
    torch_model = Embedder(batch_size=batch_size, workers=1, backend="torch")
    directory = ensure_onnx(onnx_dir)
    fp32 = directory / onnx_minilm.MODEL_FILE
    results: dict[str, Any] = {}
    reference = None
    for name, encode in (("torch-fp32", torch_model.encode), ("onnx-fp32", onnx_encoder(fp32, batch_size)),
                         ("onnx-int8", onnx_encoder(_int8_file(directory), batch_size))):
        encode(list(texts[:64]))  # warm-up
        started = time.perf_counter()
        vectors = encode(list(texts))
        elapsed = time.perf_counter() - started
        if reference is None:
            reference = vectors
        cosine = (vectors * reference).sum(axis=1)
        results[name] = {
            "items_per_s": round(items / elapsed, 2),
            "sentences_per_s": round(len(texts) / elapsed, 1),
            "cosine_to_torch_min": round(float(cosine.min()), 4),
            "cosine_to_torch_mean": round(float(cosine.mean()), 4),
        }
    return results
