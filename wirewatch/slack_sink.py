"""A Slack-Web-API-compatible server for tests and the embedded demo.

Implements, under /api/, auth.test, chat.postMessage, conversations.list,
conversations.history and conversations.replies the way Slack documents
them: token check, channel_not_found, about 1 message/s per channel answered
with 429 + Retry-After, size limits, and ts/thread_ts. Fault injection for
tests lives under /_sink/faults.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

TEXT_LIMIT = 40_000
BLOCKS_LIMIT = 50
METADATA_LIMIT = 8_000


@dataclass
class Channel:
    id: str
    name: str
    messages: list[dict[str, Any]] = field(default_factory=list)  # top level and replies, in order
    stored: int = 0  # every message ever stored, including those dropped from the capped history
    tokens: float = 1.0
    stamp: float = field(default_factory=time.monotonic)


@dataclass
class Faults:
    """What the next requests to chat.postMessage should suffer."""

    fail_next: int = 0  # answer 500 to the next N posts (not stored)
    fail_status: int = 500
    rate_limit_next: int = 0  # answer 429 to the next N posts
    retry_after: int = 1
    slow_s: float = 0.0  # delay every post by this many seconds (stored after the delay)
    drop_after_store_next: int = 0  # store, then drop the connection without answering
    hang_after_store_s: float = 0.0  # store, then wait this long before answering
    refuse_all: bool = False  # answer 503 to every API call (Slack down)
    fail_channels: str = ""  # comma-separated channel names whose posts get 500 until cleared


class SlackSink:
    def __init__(
        self, token: str = "", channels: list[str] | None = None, rate_per_s: float = 1.0, burst: int = 3, max_history: int = 10_000
    ):
        self.token = token
        self.max_history = max_history  # messages kept per channel; older ones are dropped, as a capped history
        self.dropped = 0
        self.allowed = {c.lstrip("#") for c in channels} if channels else None
        self.rate = rate_per_s
        self.burst = float(burst)
        self.channels: dict[str, Channel] = {}
        self.faults = Faults()
        self._clock = int(time.time())
        self._seq = 0
        self.requests = 0
        self.rejected_429 = 0
        self.rate_violations: dict[str, int] = {}  # posts that came faster than the channel's rate

    # --- helpers -------------------------------------------------------
    def _next_ts(self) -> str:
        now = time.time()
        self._seq += 1
        return f"{int(now)}.{self._seq % 1_000_000:06d}"

    def _channel(self, ref: str, create: bool) -> Channel | None:
        name = ref.lstrip("#")
        for channel in self.channels.values():
            if channel.id == ref or channel.name == name:
                return channel
        if not create or (self.allowed is not None and name not in self.allowed):
            return None
        if not name or len(name) > 80:
            return None
        channel = Channel(id=f"C{len(self.channels) + 1:08d}", name=name, tokens=self.burst)
        self.channels[name] = channel
        return channel

    def _take_token(self, channel: Channel) -> float:
        """0 if the post may go now, else seconds to wait."""
        now = time.monotonic()
        channel.tokens = min(self.burst, channel.tokens + (now - channel.stamp) * self.rate)
        channel.stamp = now
        if channel.tokens >= 1.0:
            channel.tokens -= 1.0
            return 0.0
        return (1.0 - channel.tokens) / self.rate

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except (json.JSONDecodeError, UnicodeDecodeError):
                    raise web.HTTPBadRequest(text="invalid JSON")
                if isinstance(body, dict):
                    params.update(body)
            else:
                params.update(dict(await request.post()))
        return params

    def _auth_error(self, request: web.Request, params: dict[str, Any]) -> str | None:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.startswith("Bearer ") else str(params.get("token", "")).strip()
        if not token:
            return "not_authed"
        if self.token and token != self.token:
            return "invalid_auth"
        return None

    @staticmethod
    def _ok(**data: Any) -> web.Response:
        return web.json_response({"ok": True, **data})

    @staticmethod
    def _err(error: str, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        return web.json_response({"ok": False, "error": error}, status=status, headers=headers)

    # --- API methods ---------------------------------------------------
    async def api(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        method = request.match_info["method"]
        if self.faults.refuse_all:
            return self._err("service_unavailable", status=503)
        params = await self._params(request)
        auth = self._auth_error(request, params)
        if auth:
            return self._err(auth)
        handler = {
            "auth.test": self.auth_test,
            "chat.postMessage": self.post_message,
            "conversations.list": self.conversations_list,
            "conversations.history": self.conversations_history,
            "conversations.replies": self.conversations_replies,
        }.get(method)
        if handler is None:
            return self._err("unknown_method", status=404)
        return await handler(request, params)

    async def auth_test(self, request: web.Request, params: dict[str, Any]) -> web.StreamResponse:
        return self._ok(url="http://sink.local/", team="wirewatch-sink", user="wirewatch", team_id="T00000001", user_id="U00000001", bot_id="B00000001")

    async def post_message(self, request: web.Request, params: dict[str, Any]) -> web.StreamResponse:
        faults = self.faults
        if faults.fail_next > 0:
            faults.fail_next -= 1
            return self._err("internal_error", status=faults.fail_status)
        if faults.rate_limit_next > 0:
            faults.rate_limit_next -= 1
            self.rejected_429 += 1
            return self._err("ratelimited", status=429, headers={"Retry-After": str(faults.retry_after)})
        channel_ref = str(params.get("channel", "")).strip()
        if not channel_ref:
            return self._err("channel_not_found")
        channel = self._channel(channel_ref, create=True)
        if channel is None:
            return self._err("channel_not_found")
        text = params.get("text")
        blocks = _maybe_json(params.get("blocks"))
        metadata = _maybe_json(params.get("metadata"))
        refusal = _refusal(text, blocks, metadata)
        if refusal:
            return self._err(refusal)
        thread_ts = str(params.get("thread_ts") or "") or None
        parent = None
        if thread_ts:
            parent = next((m for m in channel.messages if m["ts"] == thread_ts), None)
            if parent is None:
                return self._err("thread_not_found")
        if channel.name in {c.strip().lstrip("#") for c in faults.fail_channels.split(",") if c.strip()}:
            return self._err("internal_error", status=500)
        wait = self._take_token(channel)
        if wait > 0:
            self.rejected_429 += 1
            self.rate_violations[channel.name] = self.rate_violations.get(channel.name, 0) + 1
            return self._err("ratelimited", status=429, headers={"Retry-After": str(max(1, math.ceil(wait)))})
        if faults.slow_s > 0:
            await asyncio.sleep(faults.slow_s)
        message: dict[str, Any] = {
            "type": "message", "user": "U00000001", "bot_id": "B00000001", "text": str(text or ""), "ts": self._next_ts(),
            "x_stored_at": time.time(),  # sink-only field: exact store time, for delay measurements
        }
        if blocks is not None:
            message["blocks"] = blocks
        if metadata is not None:
            message["metadata"] = metadata
        if parent is not None:
            message["thread_ts"] = parent["ts"]
            parent["thread_ts"] = parent["ts"]
            parent["reply_count"] = parent.get("reply_count", 0) + 1
        self._store(channel, message)
        if faults.hang_after_store_s > 0:
            await asyncio.sleep(faults.hang_after_store_s)
        if faults.drop_after_store_next > 0:
            faults.drop_after_store_next -= 1
            transport = request.transport
            if transport is not None:
                transport.abort()
            raise asyncio.CancelledError()
        return self._ok(channel=channel.id, ts=message["ts"], message=message)

    def _store(self, channel: Channel, message: dict[str, Any]) -> None:
        channel.messages.append(message)
        channel.stored += 1
        if len(channel.messages) > self.max_history:
            excess = len(channel.messages) - self.max_history
            del channel.messages[:excess]
            self.dropped += excess

    async def conversations_list(self, request: web.Request, params: dict[str, Any]) -> web.StreamResponse:
        if self.allowed is not None:
            for name in sorted(self.allowed):
                self._channel(name, create=True)
        channels = [{"id": c.id, "name": c.name, "is_channel": True, "is_archived": False} for c in self.channels.values()]
        return self._ok(channels=channels, response_metadata={"next_cursor": ""})

    def _page(self, messages: list[dict[str, Any]], params: dict[str, Any], newest_first: bool) -> web.Response:
        oldest = float(params.get("oldest") or 0)
        latest = float(params.get("latest") or 1e12)
        limit = max(1, min(int(params.get("limit") or 100), 1000))
        start = int(params.get("cursor") or 0)
        include_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        selected = [m for m in messages if oldest <= float(m["ts"]) <= latest]
        if newest_first:
            selected.reverse()
        page = selected[start : start + limit]
        if not include_metadata:
            page = [{k: v for k, v in m.items() if k != "metadata"} for m in page]
        more = start + limit < len(selected)
        return self._ok(messages=page, has_more=more, response_metadata={"next_cursor": str(start + limit) if more else ""})

    async def conversations_history(self, request: web.Request, params: dict[str, Any]) -> web.StreamResponse:
        channel = self._channel(str(params.get("channel", "")), create=False)
        if channel is None:
            return self._err("channel_not_found")
        top = [m for m in channel.messages if m.get("thread_ts") in (None, m["ts"])]
        return self._page(top, params, newest_first=True)

    async def conversations_replies(self, request: web.Request, params: dict[str, Any]) -> web.StreamResponse:
        channel = self._channel(str(params.get("channel", "")), create=False)
        if channel is None:
            return self._err("channel_not_found")
        ts = str(params.get("ts", ""))
        thread = [m for m in channel.messages if m["ts"] == ts or m.get("thread_ts") == ts]
        if not thread:
            return self._err("thread_not_found")
        return self._page(thread, params, newest_first=False)

    # --- test control --------------------------------------------------
    def _control_refused(self, request: web.Request) -> web.Response | None:
        """The fault and stats endpoints need the sink's own token (when it has one)."""
        if self.token and request.headers.get("Authorization", "") != f"Bearer {self.token}":
            return web.json_response({"ok": False, "error": "not_authed"}, status=401)
        return None

    async def set_faults(self, request: web.Request) -> web.Response:
        refused = self._control_refused(request)
        if refused is not None:
            return refused
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"ok": False, "error": "invalid JSON"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"ok": False, "error": "expected a JSON object"}, status=400)
        for key, value in body.items():
            if not hasattr(self.faults, key):
                return web.json_response({"ok": False, "error": f"unknown fault {key!r}"}, status=400)
            setattr(self.faults, key, type(getattr(self.faults, key))(value))
        return web.json_response({"ok": True, "faults": self.faults.__dict__})

    async def stats(self, request: web.Request) -> web.Response:
        refused = self._control_refused(request)
        if refused is not None:
            return refused
        return web.json_response(
            {
                "requests": self.requests,
                "rejected_429": self.rejected_429,
                "rate_violations": self.rate_violations,
                "channels": {c.name: c.stored for c in self.channels.values()},
                "kept": {c.name: len(c.messages) for c in self.channels.values()},
                "dropped_from_history": self.dropped,
            }
        )

    def app(self) -> web.Application:
        app = web.Application(client_max_size=2 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self.api)
        app.router.add_post("/_sink/faults", self.set_faults)
        app.router.add_get("/_sink/stats", self.stats)
        return app


def _refusal(text: Any, blocks: Any, metadata: Any) -> str:
    """Slack's error code for a message it would not store ('' if it would)."""
    if not text and not blocks:
        return "no_text"
    if text is not None and len(str(text)) > TEXT_LIMIT:
        return "msg_too_long"
    if blocks is not None and (not isinstance(blocks, list) or len(blocks) > BLOCKS_LIMIT):
        return "invalid_blocks"
    if metadata is not None and (not isinstance(metadata, dict) or "event_type" not in metadata or len(json.dumps(metadata)) > METADATA_LIMIT):
        return "invalid_metadata_format"
    return ""


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def serve(port: int, token: str = "", channels: list[str] | None = None, host: str = "127.0.0.1") -> None:
    """Run in the foreground until interrupted."""
    sink = SlackSink(token=token, channels=channels)
    print(f"wirewatch slack-sink: http://{host}:{port}/api/", flush=True)
    # A stop waits at most a second for requests still open: a fault such as hang_after_store_s
    # holds them for a minute, and a test tool must not hold up the run that stops it.
    web.run_app(sink.app(), host=host, port=port, print=None, access_log=None, shutdown_timeout=1.0)
