"""`wirewatch run --demo`: broker, Slack sink and worker as child processes, then the sample feed."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path

from streams.broker import EmbeddedBroker, ensure_topics, free_port, terminate, wait_for_port
from streams.processes import spawn_python
from streams.settings import Settings
from wirewatch.ingest import ingest_file

SAMPLE = Path(__file__).resolve().parent.parent / "config" / "sample-news.jsonl"


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Its own session, so a Ctrl-C at the terminal reaches only the demo, which then stops it.
    return spawn_python(args, env, start_new_session=True)


def run_demo(sample: Path = SAMPLE, duration_s: float | None = None, partitions: int = 4) -> int:
    env = dict(os.environ)
    broker = None
    if not env.get("WIREWATCH_BROKER"):
        broker = EmbeddedBroker().start()
        env["WIREWATCH_BROKER"] = broker.url
        print(f"[demo] embedded broker (memory only) at {broker.bootstrap}", flush=True)
    sink = worker = None
    try:
        servers = env["WIREWATCH_BROKER"].split("://", 1)[-1].split(";")
        names = Settings.from_env().topic_names
        ensure_topics(servers, partitions, names)
        if not env.get("SLACK_BOT_TOKEN"):
            token = "xoxb-demo-" + secrets.token_hex(8)
            port = free_port()
            sink = _spawn(["slack-sink", "--port", str(port), "--token", token], env)
            wait_for_port("127.0.0.1", port, 15)
            env["SLACK_BOT_TOKEN"] = token
            env["SLACK_API_URL"] = f"http://127.0.0.1:{port}/api/"
            env["WIREWATCH_CONSOLE_ALERTS"] = "1"
            print(f"[demo] Slack sink at http://127.0.0.1:{port}/api/ (no Slack workspace configured)", flush=True)
        if "WIREWATCH_STALE_AFTER" not in env:
            # The bundled sample is real news from 2025; with the 48 h default it would be stale
            # (kept on the alerts topic, not posted). The demo is meant to show the posts.
            env["WIREWATCH_STALE_AFTER"] = str(5 * 365 * 86400)
            print("[demo] staleness cutoff set to 5 years: the sample feed is historical news", flush=True)
        env.setdefault("WIREWATCH_HTTP_PORT", str(free_port()))
        env.setdefault("WIREWATCH_DATA_DIR", f"var/demo-{os.getpid()}")
        worker = _spawn(["worker"], env)
        started = time.monotonic()
        report = ingest_file(sample, servers, names)
        print(f"[demo] ingested {report.sent} items from {sample} ({report.rejected} rejected); alerts follow", flush=True)
        while worker.poll() is None:
            if duration_s is not None and time.monotonic() - started > duration_s:
                break
            time.sleep(0.5)
        return 0 if worker.returncode in (None, 0) else int(worker.returncode)
    finally:
        terminate(worker, 10)
        terminate(sink, 10)
        if broker is not None:
            broker.stop()
