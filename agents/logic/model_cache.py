"""Folders of models derived from the installed MiniLM (its ONNX export, the static presearch model).

Each is written whole into a sibling staging folder and swapped in with its manifest last, so a
worker starting meanwhile either finds a complete folder or none; a folder with an older format
or a missing file counts as none and is made again.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
from pathlib import Path
from typing import Any


def is_complete(directory: Path, manifest_name: str, fmt: int, required_file: str, expected: dict[str, Any] | None = None) -> bool:
    """The folder holds a manifest of this format (and these values) and the file that matters."""
    try:
        manifest = json.loads((directory / manifest_name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict) or manifest.get("format") != fmt:
        return False
    return all(manifest.get(key) == value for key, value in (expected or {}).items()) and (directory / required_file).is_file()


def new_staging(directory: Path) -> Path:
    """An empty folder beside `directory`, this process's own.

    Call it holding the folder's build lock (every builder does): any other staging folder beside
    it was then left by a build that died, and is removed, or each crash would leave a model-sized
    folder behind."""
    for leftover in directory.parent.glob(f"{glob.escape(directory.name)}.building-*"):
        if leftover.name.rpartition("-")[2].isdigit():  # named by new_staging: .building-<pid>
            shutil.rmtree(leftover, ignore_errors=True)
    staging = directory.with_name(f"{directory.name}.building-{os.getpid()}")
    staging.mkdir(parents=True)
    return staging


def publish(staging: Path, directory: Path, manifest_name: str, manifest: dict[str, Any]) -> None:
    """Write the manifest, then put the staging folder where `directory` was."""
    (staging / manifest_name).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    if directory.exists():
        if any(directory.iterdir()) and not (directory / manifest_name).exists():
            shutil.rmtree(staging, ignore_errors=True)
            raise FileExistsError(f"{directory} is not empty and holds no {manifest_name}: not a folder wirewatch made, so it is left "
                                  "alone; point the setting at an empty or new folder")
        shutil.rmtree(directory)
    os.replace(staging, directory)
