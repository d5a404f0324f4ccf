"""Check the installed dependencies for known-vulnerable releases, offline where it must be.

    .venv/bin/python scripts/audit.py

First pip-audit, which asks PyPI's JSON API; where that cannot be reached (these machines reach
only the package index), it reports every package as "could not be audited". Then the offline
check that always runs: deploy/dependency-floors.txt lists, per package, the lowest release with
no advisory we know of. Exit 1 if an installed package is below its floor.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

FLOORS = Path(__file__).resolve().parent.parent / "deploy" / "dependency-floors.txt"


def pip_audit() -> None:
    try:
        done = subprocess.run([sys.executable, "-m", "pip_audit", "--progress-spinner", "off", "--local"],
                              capture_output=True, text=True, timeout=90)
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"audit: pip-audit did not run ({exc})")
        return
    lines = (done.stdout + done.stderr).splitlines()
    unaudited = sum("could not be audited" in line for line in lines)
    if unaudited and unaudited >= len([ln for ln in lines if ln.strip()]) - 3:
        print(f"audit: pip-audit could not reach a vulnerability service ({unaudited} packages not audited); offline floors follow")
    else:
        print("\n".join(f"audit: pip-audit: {line}" for line in lines[-20:]))


def below_floors(floors: Path = FLOORS) -> list[str]:
    problems = []
    for line in floors.read_text().splitlines():
        spec = line.split("#", 1)[0].strip()
        if not spec:
            continue
        requirement = Requirement(spec)
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            continue
        if not requirement.specifier.contains(installed, prereleases=True):
            problems.append(f"{requirement.name} {installed} is below its floor ({spec}): {line.split('#', 1)[-1].strip()}")
    return problems


def main() -> int:
    pip_audit()
    problems = below_floors()
    checked = sum(1 for line in FLOORS.read_text().splitlines() if line.split("#", 1)[0].strip())
    for problem in problems:
        print(f"audit: VULNERABLE: {problem}")
    print(f"audit: {checked} dependency floors checked, {len(problems)} below")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
