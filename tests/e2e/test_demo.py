"""The README's first command: `wirewatch run --demo` on the embedded broker and sink."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.harness import REPO

pytestmark = pytest.mark.e2e


def test_run_demo_prints_the_seed_story_three_alerts(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("WIREWATCH_BROKER", "SLACK_BOT_TOKEN", "SLACK_API_URL")}
    env["WIREWATCH_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run(
        [sys.executable, "-m", "wirewatch", "run", "--demo", "--duration", "50"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=170,
    )
    out = done.stdout + done.stderr
    alerts = [line for line in out.splitlines() if line.startswith("ALERT [")]
    assert done.returncode == 0, out[-3000:]
    assert sorted(a.split("]")[0] for a in alerts) == ["ALERT [rare_earths/high", "ALERT [salt_typhoon/critical", "ALERT [sanctions/high"], out[-3000:]
    assert out.count("slack posted alert=") == 3
    # The run ends with a summary read back from the pipeline: the alerts topic, /status, the sink.
    summary = out[out.index("== wirewatch demo summary =="):]
    assert re.search(r"^items in\s+6 \(0 rejected", summary, re.M), summary
    assert re.search(r"^alerts\s+3 \(rare_earths 1, salt_typhoon 1, sanctions 1\)", summary, re.M), summary
    assert re.search(r"^Slack posts\s+3 to the local sink", summary, re.M), summary
    assert re.search(r"^dead letters\s+0$", summary, re.M), summary

