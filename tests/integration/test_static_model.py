"""The ONNX export and the static presearch model: built from the installed MiniLM with no network;
offline commands never load faust."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.harness import REPO

NO_NETWORK = """
import socket
def refuse(*args, **kwargs):
    raise OSError("network access attempted during an offline build")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
"""

BUILD = """
import sys
from pathlib import Path
from agents.logic.embedder import Embedder
from agents.logic.static_model import StaticEncoder, build
target = Path(sys.argv[1])
corpus = ["The Treasury imposed sanctions on a shipping company.", "China restricted exports of gallium and germanium.",
          "Hackers linked to Beijing breached telecom networks.", "The football club signed a new striker."] * 3
embedder = Embedder(workers=1, onnx_dir=target.parent / "onnx")  # exports the graph here first
build(target, corpus, embedder.encode)
print(StaticEncoder(target).encode(["sanctions on a bank", ""]).shape)
"""


def test_the_onnx_export_and_the_static_model_build_with_the_network_cut_off(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(NO_NETWORK)
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}  # not even the offline flag
    env["PYTHONPATH"] = f"{tmp_path}{os.pathsep}{REPO}"
    target = tmp_path / "static"
    done = subprocess.run([sys.executable, "-c", BUILD, str(target)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "(2, 384)" in done.stdout
    manifest = json.loads((target / "wirewatch-static.json").read_text())
    assert manifest["corpus_sentences"] == 4 and manifest["teacher"] == "all-MiniLM-L6-v2"
    exported = json.loads((tmp_path / "onnx" / "wirewatch-onnx.json").read_text())
    assert exported["worst_cosine_to_torch"] >= 0.99999 and (tmp_path / "onnx" / "model.onnx").stat().st_size > 1_000_000
    # The probe really refuses connections: the same interpreter cannot open a socket.
    probe = subprocess.run(
        [sys.executable, "-c", "import socket; socket.create_connection(('127.0.0.1', 9))"], env=env, capture_output=True, text=True
    )
    assert probe.returncode != 0 and "network access attempted" in probe.stderr


def test_estimates_track_the_transformer(static_encoder, embedder) -> None:
    sentences = [
        "The Treasury sanctioned three shipping firms for moving Iranian oil.",
        "Beijing tightened export licences for rare-earth magnets.",
        "State-backed hackers broke into telecom carriers' wiretap systems.",
        "The striker scored twice as the club won the cup final.",
    ]
    estimate = static_encoder.encode(sentences)
    truth = embedder.encode(sentences)
    assert estimate.shape == truth.shape
    assert np.allclose(np.linalg.norm(estimate, axis=1), 1.0, atol=1e-4)
    # Each sentence's estimate is closer to its own transformer vector than to any other's.
    assert (np.argmax(estimate @ truth.T, axis=1) == np.arange(len(sentences))).all()


OFFLINE_COMMANDS = """
import sys
import agents.logic
import agents.logic.screening, agents.logic.presearch, agents.logic.lexicon, agents.logic.steps, agents.logic.registry
import wirewatch.evaluate, wirewatch.rescreen, wirewatch.watchlist_tools, wirewatch.screening_setup
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("faust", "aiokafka", "mode"))
print(",".join(loaded))
"""


def test_the_screening_path_and_offline_commands_import_neither_faust_nor_aiokafka() -> None:
    done = subprocess.run([sys.executable, "-c", OFFLINE_COMMANDS], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == ""
    # Every module under agents/logic, imported one by one.
    for path in sorted((REPO / "agents" / "logic").glob("*.py")):
        module = f"agents.logic.{path.stem}"
        code = f"import sys, {module}; print([m for m in sys.modules if m.split('.')[0] in ('faust', 'aiokafka')])"
        done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and done.stdout.strip() == "[]", (module, done.stdout, done.stderr[-500:])


def test_a_bad_calibration_corpus_line_is_named_by_file_and_line(tmp_path: Path) -> None:
    import pytest

    from wirewatch.screening_setup import CorpusError, corpus_sentences

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"title": "Sanctions on a bank", "body": "Assets were frozen."}\n\n{"body": "no title"}\n')
    with pytest.raises(CorpusError, match=rf"{corpus}:3: not a news item with a title"):
        corpus_sentences([corpus], None)
    corpus.write_text('{"title": "Sanctions on a bank", "body": "Assets were frozen."}\n')
    assert corpus_sentences([corpus], None) == ["Sanctions on a bank", "Assets were frozen."]
