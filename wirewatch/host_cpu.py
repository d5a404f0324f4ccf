"""How busy the host's CPUs were during a stretch of a bench, and how much time the hypervisor took.

On a virtual machine the host can run other guests on our cores: that time shows as "steal" in
/proc/stat. The same bench on the same code then gives very different figures (measured on the
2-core machine wirewatch is built on: 6% to 46% steal between latency runs, minutes apart), so
the bench reports it beside each figure, and a reader can tell a slow run from a slow machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC_STAT = Path("/proc/stat")


@dataclass(frozen=True)
class CpuTicks:
    busy: int
    idle: int
    steal: int


def read_ticks(path: Path = PROC_STAT) -> CpuTicks | None:
    """All CPUs' ticks so far; None where /proc/stat is missing or unreadable (not Linux)."""
    try:
        first = path.read_text(encoding="ascii").splitlines()[0].split()
    except (OSError, IndexError, UnicodeDecodeError):
        return None
    if not first or first[0] != "cpu" or len(first) < 9:
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in first[1:9])
    return CpuTicks(busy=user + nice + system + irq + softirq, idle=idle + iowait, steal=steal)


def shares(before: CpuTicks | None, after: CpuTicks | None) -> dict[str, float] | None:
    """{"busy": share of the machine's CPU time that was busy, "steal": share the hypervisor took}
    between two reads."""
    if before is None or after is None:
        return None
    busy, idle, steal = after.busy - before.busy, after.idle - before.idle, after.steal - before.steal
    total = busy + idle + steal
    if total <= 0:
        return None
    return {"busy": round(busy / total, 3), "steal": round(steal / total, 3)}


def process_cpu_seconds(pid: int, proc: Path = Path("/proc")) -> float | None:
    """CPU time (user + system) a process has used so far; None if it is gone or not on Linux.

    The hypervisor's share is not charged to the process, so CPU time per item moves much less
    with the host's stolen time than items per second do (10.9 - 13.4 ms against 84 - 124 items/s
    in three runs of the same code), and compares code across noisy runs better."""
    try:
        stat = (proc / str(pid) / "stat").read_bytes()  # bytes: a process name may be any bytes
        fields = stat[stat.rindex(b")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
