"""`wirewatch status`: a running worker's /status, readable."""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from streams.timefmt import epoch_of


def _ago(iso: str | None, now: float) -> str:
    if not iso:
        return "never"
    then = epoch_of(iso)
    if then is None:
        return iso
    return f"{iso} ({now - then:.0f} s ago)"


def _epoch_ago(epoch: float | None, now: float) -> str:
    return f"{now - epoch:.0f} s ago" if epoch else "never"


def render(status: dict[str, Any], url: str, now: float | None = None) -> str:
    now = now or time.time()
    checks = status["checks"]
    lines = [
        f"wirewatch worker {url}: {'READY' if status['ready'] else 'NOT READY'}"
        f" (broker {'connected' if checks['broker_connected'] else 'DISCONNECTED'}, {checks['partitions_assigned']} partitions,"
        f" model {'loaded' if checks['model_loaded'] else 'NOT loaded'}, watchlists {'active' if checks['watchlists_active'] else 'NONE'}"
        f"{', rebalancing' if status.get('rebalancing') else ''})",
        f"started      {status['started_at']}",
        f"last item    {_ago(status.get('last_item_at'), now)}",
    ]
    lag = status.get("lag", [])
    total = sum(entry["lag"] for entry in lag)
    by_topic: dict[str, list[str]] = {}
    for entry in lag:
        by_topic.setdefault(entry["topic"], []).append(f"p{entry['partition']}={entry['lag']}")
    lines.append(f"lag          {total} in all" + "".join(f"\n             {t}: {' '.join(parts)}" for t, parts in sorted(by_topic.items())))
    wl = status["watchlists"]
    lines.append("watchlists   " + ", ".join(f"{k}@{v}" for k, v in sorted(wl["versions"].items())))
    if wl.get("rejected_edit"):
        lines.append("             REJECTED EDIT, last good version still active:")
        lines.extend(f"             {error}" for error in wl["rejected_edit"])
    slack = status["slack"]
    state = f"FAILING since {_epoch_ago(slack['failing_since'], now)}: {slack['last_error']}" if slack["failing_since"] else "ok"
    lines.append(
        f"slack        {state}; last post {_epoch_ago(slack['last_ok_at'], now)}; "
        f"posts {slack['posts']}, retries {slack['retries']}, failures {slack['failures']}"
    )
    firing = [name for name, on in status.get("deadman", {}).items() if on]
    lines.append(f"dead-man     {'FIRING: ' + ', '.join(firing) if firing else 'quiet'}")
    counters = status.get("counters", {})
    if counters:
        lines.append("counters     " + ", ".join(f"{k}={v}" for k, v in sorted(counters.items())))
    return "\n".join(lines)


def cmd_status(url: str, as_json: bool) -> int:
    base = url.rstrip("/")
    try:
        with urllib.request.urlopen(f"{base}/status", timeout=5) as response:
            status = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"wirewatch status: no worker answers at {base}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(status, indent=2) if as_json else render(status, base))
    return 0 if status.get("ready") else 1
