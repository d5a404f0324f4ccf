"""Rules of the code's shape that a reviewer would otherwise have to remember."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.harness import REPO

SOURCE_DIRS = ("agents", "streams", "wirewatch", "scripts")
MAX_FUNCTION_LINES = 60
MAX_AGENT_LINES = 65  # "about 60": an agent wires streams to plain logic and stays short


def source_files() -> list[Path]:
    return sorted(p for d in SOURCE_DIRS for p in (REPO / d).rglob("*.py"))


def test_domain_logic_imports_neither_faust_nor_aiokafka() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import agents.logic as pkg\n"
        "for m in pkgutil.iter_modules(pkg.__path__):\n"
        "    importlib.import_module(f'agents.logic.{m.name}')\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('faust', 'aiokafka', 'mode'))\n"
        "print(' '.join(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "", f"agents/logic pulls in: {done.stdout.strip()}"


def test_no_function_is_longer_than_60_lines() -> None:
    long = []
    for path in source_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "\n".join(long)


def test_agent_modules_stay_thin() -> None:
    agents = [p for p in (REPO / "agents").glob("*.py") if p.name != "__init__.py"]
    wide = [f"{p.name}: {n}" for p in agents if (n := len(p.read_text().splitlines())) > MAX_AGENT_LINES and _registers_an_agent(p)]
    assert not wide, wide


def _registers_an_agent(path: Path) -> bool:
    return "@app.agent(" in path.read_text()


def test_test_modules_do_not_import_each_other() -> None:
    offenders = []
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and ".test_" in f".{node.module}" and (node.module or "").startswith("tests"):
                offenders.append(f"{path.relative_to(REPO)} imports {node.module}")
    assert not offenders, offenders
