"""Timer `watchlists-reload`: hot reload of the watchlist folder, announced on watchlists.events.

A bad edit is rejected with its errors and the active set stays; a good one takes effect for the
next match batch. The reload runs in the match pool, so a swap never lands in the middle of a
batch: each batch is matched with exactly one version, which its alerts carry.
"""

from __future__ import annotations

import json
import os
import socket

import faust

from agents.runtime import Runtime, log
from streams.timefmt import utc_now_iso


def register(app: faust.App, runtime: Runtime) -> None:
    topics, settings = runtime.topics, runtime.settings
    assert topics is not None
    worker_id = f"{socket.gethostname()}:{os.getpid()}"
    announced = False

    @app.timer(interval=settings.reload_interval_s, name="watchlists-reload")
    async def reload_watchlists() -> None:
        try:
            await reload_once()
        except Exception:  # noqa: BLE001 - the timer must keep running: the next edit may be good
            log.exception("watchlist reload failed; the active set is unchanged and the folder is checked again")

    async def reload_once() -> None:
        nonlocal announced
        outcome = await runtime.off_loop(runtime.match_pool, runtime.registry.reload)
        runtime.metrics.set_watchlists(outcome.versions)
        if outcome.changed or not announced:
            event: dict[str, object] = (
                {"event": "watchlists.activated" if announced else "watchlists.active", "versions": outcome.versions}
                if outcome.ok
                else {"event": "watchlists.rejected", "errors": outcome.errors, "active_versions": outcome.versions}
            )
            event.update(worker=worker_id, at=utc_now_iso(), folder=str(settings.watchlists_dir))
            announced = True
            await topics.watchlist_events.send(key=b"watchlists", value=json.dumps(event, ensure_ascii=False).encode())
