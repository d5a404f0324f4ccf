"""The data-parallel encode gives the vectors of a plain single-model call, in the caller's order, and
the ONNX backend gives sentence-transformers' vectors."""

from __future__ import annotations

import numpy as np

from agents.logic.embedder import Embedder


def test_split_encode_matches_one_model_in_order() -> None:
    embedder = Embedder(workers=2)
    texts = [
        "US pauses sanctions on China's Ministry of State Security over Salt Typhoon.",
        "Beijing delays rare-earth export licences.",
        "A short one.",
        "Treasury's OFAC designates three shipping firms that moved Iranian oil through front companies in the Gulf.",
        "Gallium and germanium exports need a licence from August.",
    ]
    split = embedder.encode(texts)
    whole = embedder._encode_with(embedder._models[0], texts)
    assert split.shape == (len(texts), embedder.dim)
    np.testing.assert_allclose(split, whole, atol=1e-5)
    assert np.allclose(np.linalg.norm(split, axis=1), 1.0, atol=1e-5)


def test_one_worker_and_empty_input() -> None:
    single = Embedder(workers=1)
    assert single.encode([]).shape == (0, single.dim)
    vectors = single.encode(["export controls on rare earths", "sanctions designation"])
    assert vectors.shape == (2, single.dim)


def test_onnx_backend_gives_sentence_transformers_vectors(embedder: Embedder) -> None:
    """Odd inputs included: empty, blank, one letter, past the 256-token cut, emoji, mixed scripts."""
    torch_model = Embedder(workers=1, backend="torch")
    texts = [
        "", "   ", "a", "Sanctions.", "  padded on both sides  ",
        "OFAC designated the Ministry of State Security's front companies. " * 40,
        "\U0001F6A8" * 200, "Пекин ограничил экспорт галлия; 北京限制镓出口。 Gallium-Exporte beschränkt.",
    ]
    assert embedder.backend.startswith("onnx")
    onnx_vectors, torch_vectors = embedder.encode(texts), torch_model.encode(texts)
    assert onnx_vectors.shape == torch_vectors.shape == (len(texts), 384)
    assert (onnx_vectors * torch_vectors).sum(axis=1).min() > 0.99999
    # And the check can fail: a different sentence's vector is far from equal.
    assert (onnx_vectors[3] * torch_vectors[7]).sum() < 0.9
