#!/usr/bin/env bash
# Create .venv with Python 3.11 and install wirewatch (plus test extras when asked).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), f"wirewatch needs Python 3.11, found {sys.version}"'
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: it takes the local CPU build instead of a multi-GB CUDA download.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".${1:-}"
# MiniLM's ONNX export (what the worker runs, about 10 s) and the screening cascade's static model
# (distilled from MiniLM, about 30 s), offline, once, into .wirewatch-cache/ beside the venv. A
# worker would otherwise make them at its first start.
HF_HUB_OFFLINE=1 .venv/bin/wirewatch presearch build
