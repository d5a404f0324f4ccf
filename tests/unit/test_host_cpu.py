"""The bench's host CPU shares, from /proc/stat-shaped text."""

from __future__ import annotations

from pathlib import Path

from wirewatch.host_cpu import CpuTicks, process_cpu_seconds, read_ticks, shares


def _stat(tmp_path: Path, name: str, line: str) -> Path:
    path = tmp_path / name
    path.write_text(line + "\ncpu0 1 2 3 4 5 6 7 8 0 0\n", encoding="ascii")
    return path


def test_busy_and_steal_shares_between_two_reads(tmp_path: Path) -> None:
    #          user nice system idle iowait irq softirq steal guest guest_nice
    before = read_ticks(_stat(tmp_path, "a", "cpu  100 0 20 800 10 0 5 65 0 0"))
    after = read_ticks(_stat(tmp_path, "b", "cpu  160 0 30 900 10 0 10 90 0 0"))
    assert before == CpuTicks(busy=125, idle=810, steal=65)
    # 75 busy, 100 idle, 25 stolen ticks in between
    assert shares(before, after) == {"busy": 0.375, "steal": 0.125}


def test_no_figure_where_proc_stat_is_missing_or_odd(tmp_path: Path) -> None:
    assert read_ticks(tmp_path / "missing") is None
    assert read_ticks(_stat(tmp_path, "odd", "intr 1 2 3")) is None
    good = read_ticks(_stat(tmp_path, "good", "cpu  1 0 1 1 0 0 0 0 0 0"))
    assert shares(None, good) is None and shares(good, good) is None


def test_a_process_cpu_time_is_read_from_its_stat_file(tmp_path: Path) -> None:
    import os

    (tmp_path / "42").mkdir()
    # pid (comm with a space and a parenthesis) state ... utime=250 stime=50 ticks (fields 14 and 15)
    fields = ["S", "1", "42", "42", "0", "-1", "0", "0", "0", "0", "0", "250", "50"] + ["0"] * 30
    (tmp_path / "42" / "stat").write_text("42 (python (x) y) " + " ".join(fields), encoding="ascii")
    assert process_cpu_seconds(42, tmp_path) == 300 / os.sysconf("SC_CLK_TCK")
    assert process_cpu_seconds(43, tmp_path) is None
    own = process_cpu_seconds(os.getpid())
    assert own is not None and own > 0
