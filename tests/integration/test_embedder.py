"""The data-parallel encode gives the vectors of a plain single-model call, in the caller's order."""

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
