"""The worker's HTTP pages, on faust's web server.

GET /health  liveness: the event loop answers.
GET /ready   200 when the broker is connected with partitions assigned, the model
             is loaded and a valid watchlist set is active; else 503. JSON body.
GET /metrics Prometheus text format (agents/metrics.py).
GET /status  the JSON that `wirewatch status` prints readably.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp.web import HTTPNotFound
from aiohttp.web import middleware as web_middleware

import faust

from agents.health import WorkerHealth
from streams.timefmt import utc_now_iso

# Only these: faust's own views (its table pages would show ledger rows) are switched off in
# streams/app.py, and anything else is answered 404 before it reaches a view.
PAGES = frozenset({"/health", "/ready", "/status", "/metrics"})


def _file_name_only(line: str) -> str:
    """A watchlist error without the folder it came from: /status is no map of the file system."""
    path, sep, rest = line.partition(":")
    return f"{Path(path).name}{sep}{rest}" if sep else line


def status(health: WorkerHealth) -> dict[str, Any]:
    runtime, delivery = health.runtime, health.runtime.delivery
    return {
        **health.readiness(),
        "now": utc_now_iso(),
        "started_at": runtime.started_at,
        "last_item_at": runtime.last_item_at,
        "counters": dict(runtime.counters),
        "lag": [{"topic": t, "partition": p, "lag": n} for (t, p), n in sorted(health.lag.items())],
        "watchlists": {
            "versions": runtime.registry.versions,
            "rejected_edit": [_file_name_only(line) for line in runtime.registry.last_errors],
        },
        "slack": {
            "failing_since": delivery.failing_since,
            "last_ok_at": delivery.last_ok_at,
            "last_error": delivery.last_error,
            "posts": delivery.posts,
            "retries": delivery.retries,
            "failures": delivery.failures,
        },
        "deadman": dict(health.deadman),
    }


def register(app: faust.App, health: WorkerHealth) -> None:
    def json_response(web: Any, body: dict[str, Any], code: int = 200) -> Any:
        return web.bytes(json.dumps(body).encode(), content_type="application/json", status=code)

    @web_middleware
    async def only_our_pages(request: Any, handler: Any) -> Any:
        if request.path.rstrip("/") not in PAGES:
            raise HTTPNotFound()
        return await handler(request)

    app.web.web_app.middlewares.append(only_our_pages)

    @app.page("/health")
    async def health_page(web: Any, request: Any) -> Any:
        return json_response(web, {"alive": True})

    @app.page("/ready")
    async def ready_page(web: Any, request: Any) -> Any:
        body = health.readiness()
        return json_response(web, body, 200 if body["ready"] else 503)

    @app.page("/status")
    async def status_page(web: Any, request: Any) -> Any:
        return json_response(web, status(health))

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(health.runtime.metrics.exposition(), content_type="text/plain; version=0.0.4")
