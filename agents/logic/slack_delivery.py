"""Deliver messages to Slack: per-channel pacing, retries, and no double posts.

Slack has no idempotency key, and a post whose answer was lost may still have
landed. So every message carries its alert id in `metadata`, and before a
post whose earlier attempt had an unknown outcome is retried, the channel's
history is searched for that id.
"""

from __future__ import annotations

import asyncio
import re
import ipaddress
import logging
import random
import time
from dataclasses import dataclass
from urllib.parse import urlsplit
from typing import Any, Callable

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

#: Errors that no retry can fix: the alert goes to the dead-letter topic.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found", "not_in_channel", "is_archived", "msg_too_long", "invalid_auth",
        "not_authed", "account_inactive", "token_revoked", "token_expired", "no_permission",
        "missing_scope", "invalid_blocks", "invalid_metadata_format", "invalid_metadata_schema",
        "restricted_action", "too_many_attachments", "invalid_arguments", "no_text",
    }
)


class PermanentSlackError(Exception):
    """Slack refused the message for a reason a retry cannot change."""

    def __init__(self, reason: str, channel: str):
        super().__init__(f"Slack refused the post to {channel}: {reason}")
        self.reason = reason
        self.channel = channel


class Superseded(Exception):
    """The post is no longer this worker's to make (its partition moved in a rebalance)."""


@dataclass(frozen=True)
class _Retry:
    """A failed attempt worth repeating; `uncertain_since` when the message may have been stored."""

    reason: str
    uncertain_since: float | None = None
    counts: bool = True  # False: a rate limit, which waits its Retry-After instead of a back-off


@dataclass(frozen=True)
class Posted:
    channel_id: str
    ts: str
    found_existing: bool = False  # True when an earlier attempt had landed


class ChannelPacer:
    """A token bucket per channel (about 1 message/s with a small burst) that also honours Retry-After."""

    def __init__(self, rate_per_s: float = 1.0, burst: int = 2):
        self.rate = rate_per_s
        self.burst = float(burst)
        self._tokens: dict[str, float] = {}
        self._stamp: dict[str, float] = {}
        self._blocked_until: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, channel: str) -> asyncio.Lock:
        return self._locks.setdefault(channel, asyncio.Lock())

    async def wait_turn(self, channel: str) -> None:
        while True:
            now = time.monotonic()
            blocked = self._blocked_until.get(channel, 0.0) - now
            if blocked > 0:
                await asyncio.sleep(blocked)
                continue
            tokens = min(self.burst, self._tokens.get(channel, self.burst) + (now - self._stamp.get(channel, now)) * self.rate)
            self._stamp[channel] = now
            if tokens >= 1.0:
                self._tokens[channel] = tokens - 1.0
                return
            self._tokens[channel] = tokens
            await asyncio.sleep((1.0 - tokens) / self.rate)

    def back_off(self, channel: str, seconds: float) -> None:
        """Slack said 429: nothing goes to this channel for `seconds`, and the burst is spent."""
        self._blocked_until[channel] = max(self._blocked_until.get(channel, 0.0), time.monotonic() + seconds)
        self._tokens[channel] = 0.0
        self._stamp[channel] = time.monotonic() + seconds


_REAL_LOOKING_TOKEN = re.compile(r"^xox[a-z]-\d+-")


def plain_http_refusal(token: str, base_url: str) -> str | None:
    """Why this token must not go to this URL, or None.

    A token shaped like one Slack issues (`xoxb-<digits>-...`) travels only over https, or over
    http to this machine (a local test server). Anything else would send it in clear text.
    """
    parts = urlsplit(base_url)
    if parts.scheme == "https" or not _REAL_LOOKING_TOKEN.match(token):
        return None
    host = (parts.hostname or "").lower()
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme == "http" and loopback:
        return None
    return (f"SLACK_API_URL={base_url} is not https: refusing to send a Slack token there in clear text "
            "(use https, or a local test server on 127.0.0.1)")


def make_client(token: str, base_url: str, timeout_s: int = 10) -> AsyncWebClient:
    # retry_handlers=[]: slack-sdk's default re-sends on connection errors, which can double-post.
    return AsyncWebClient(token=token, base_url=base_url, timeout=timeout_s, retry_handlers=[])


class SlackDelivery:
    """Posts with pacing and retries; one channel's trouble never holds another's lock."""

    def __init__(
        self,
        client: AsyncWebClient,
        pacer: ChannelPacer | None = None,
        base_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        give_up_after_s: float | None = None,
    ):
        self.client = client
        self.pacer = pacer or ChannelPacer()
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self.give_up_after_s = give_up_after_s
        self._channel_ids: dict[str, str] = {}
        self.retries = 0
        self.failures = 0
        self.posts = 0
        self.in_flight = 0  # chat.postMessage calls awaiting their answer
        # Health, for metrics, `wirewatch status` and the dead-man check.
        self.failing_since: float | None = None  # epoch s of the first failure since the last success
        self.last_ok_at: float | None = None
        self.last_error = ""
        self.observer: Callable[[str, str, str], None] | None = None  # (posted|retry|failure, channel, detail)

    def _note(self, kind: str, channel: str, detail: str = "") -> None:
        if kind == "posted":
            self.failing_since, self.last_ok_at, self.last_error = None, time.time(), ""
        else:
            if kind == "retry":  # transient trouble: Slack (or the way to it) is failing
                self.failing_since = self.failing_since or time.time()
            self.last_error = detail
        if self.observer is not None:
            self.observer(kind, channel, detail)

    async def channel_id(self, channel: str) -> str | None:
        """Resolve '#name' to an id (history needs ids); ids pass through; None if unknown."""
        name = channel.lstrip("#")
        if name in self._channel_ids:
            return self._channel_ids[name]
        if name[:1] in ("C", "G", "D") and name.upper() == name:
            return name
        cursor: str | None = None
        while True:
            response = await self.client.conversations_list(limit=1000, cursor=cursor, exclude_archived=True, types="public_channel,private_channel")
            for entry in response.get("channels", []):
                self._channel_ids[entry["name"]] = entry["id"]
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if name in self._channel_ids or not cursor:
                break
        return self._channel_ids.get(name)

    async def find_posted(self, channel: str, alert_id: str, oldest: float, thread_ts: str | None = None) -> Posted | None:
        """Search the channel's recent history (or the thread, for a reply) for a message tagged with this alert id."""
        channel_id = await self.channel_id(channel)
        if channel_id is None:
            return None  # the channel is not visible: nothing of ours can be in it
        cursor: str | None = None
        for _ in range(20):  # at most 20 pages of 200 messages
            if thread_ts:
                response = await self.client.conversations_replies(
                    channel=channel_id, ts=thread_ts, oldest=f"{max(oldest, 0):.6f}", limit=200, include_all_metadata=True, cursor=cursor
                )
            else:
                response = await self.client.conversations_history(
                    channel=channel_id, oldest=f"{max(oldest, 0):.6f}", limit=200, include_all_metadata=True, cursor=cursor
                )
            for message in response.get("messages", []):
                payload = (message.get("metadata") or {}).get("event_payload") or {}
                if payload.get("alert_id") == alert_id:
                    return Posted(channel_id, message["ts"], found_existing=True)
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
        return None

    async def recent_top_level(self, channel: str, oldest: float, pages: int = 5) -> list[dict[str, Any]]:
        """Metadata payloads (plus ts) of our recent top-level messages in a channel, newest first."""
        channel_id = await self.channel_id(channel)
        if channel_id is None:
            return []
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(pages):
            response = await self.client.conversations_history(
                channel=channel_id, oldest=f"{max(oldest, 0):.6f}", limit=200, include_all_metadata=True, cursor=cursor
            )
            for message in response.get("messages", []):
                payload = (message.get("metadata") or {}).get("event_payload") or {}
                if payload.get("alert_id") and message.get("thread_ts", message["ts"]) == message["ts"]:
                    found.append({**payload, "ts": message["ts"]})
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        return found

    async def post(
        self,
        channel: str,
        message: dict[str, Any],
        alert_id: str,
        uncertain_since: float | None = None,
        still_ours: Callable[[], bool] | None = None,
    ) -> Posted:
        """Post once. `uncertain_since` (epoch s) says an earlier attempt may have landed.

        `still_ours` is asked right before each attempt; False raises Superseded, so a
        worker that lost the alert's partition does not post it beside the new owner.
        """
        started = time.monotonic()
        attempt = 0
        async with self.pacer.lock(channel):
            while True:
                if uncertain_since is not None:
                    existing, trouble = await self._earlier_post(channel, message, alert_id, uncertain_since)
                    if existing is not None:
                        self._note("posted", channel)
                        return existing
                    if trouble:
                        attempt += 1
                        await self._sleep_backoff(channel, attempt, started, trouble)
                        continue
                await self.pacer.wait_turn(channel)
                if still_ours is not None and not still_ours():
                    raise Superseded(alert_id)
                outcome = await self._attempt(channel, message)
                if isinstance(outcome, Posted):
                    return outcome
                if outcome.uncertain_since is not None:
                    uncertain_since = uncertain_since or outcome.uncertain_since
                if outcome.counts:
                    attempt += 1
                    self.retries += 1
                    self._note("retry", channel, outcome.reason)
                    await self._sleep_backoff(channel, attempt, started, outcome.reason)

    async def _earlier_post(self, channel: str, message: dict[str, Any], alert_id: str, since: float) -> tuple[Posted | None, str]:
        """The earlier attempt's message if it landed, and why the history could not be read ('' if it could)."""
        try:
            return await self.find_posted(channel, alert_id, since - 5, message.get("thread_ts")), ""
        except (SlackApiError, aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            if isinstance(exc, SlackApiError) and _error_code(exc) in PERMANENT_ERRORS:
                raise PermanentSlackError(_error_code(exc), channel) from None
            return None, f"history check failed: {_describe(exc)}"

    async def _attempt(self, channel: str, message: dict[str, Any]) -> "Posted | _Retry":
        """One chat.postMessage: the post, or why to try again; PermanentSlackError when no retry can help."""
        attempt_started = time.time()
        self.in_flight += 1
        try:
            response = await self.client.chat_postMessage(channel=channel, **message)
            self.posts += 1
            self._note("posted", channel)
            self._channel_ids.setdefault(channel.lstrip("#"), response["channel"])
            return Posted(response["channel"], response["ts"])
        except SlackApiError as exc:
            status, code = exc.response.status_code, _error_code(exc)
            if status == 429 or code == "ratelimited":
                retry_after = _retry_after(exc)
                self.retries += 1
                if self.observer is not None:
                    self.observer("retry", channel, "ratelimited")
                log.info("slack 429 on %s; waiting %.1fs", channel, retry_after)
                self.pacer.back_off(channel, retry_after)
                return _Retry("ratelimited", counts=False)  # refused, so certainly not stored
            if code in PERMANENT_ERRORS or (400 <= status < 500 and status != 408):
                self.failures += 1
                self._note("failure", channel, code or f"http_{status}")
                raise PermanentSlackError(code or f"http_{status}", channel) from None
            return _Retry(f"HTTP {status} {code}", uncertain_since=attempt_started)  # 5xx: it may have been stored
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            return _Retry(_describe(exc), uncertain_since=attempt_started)
        finally:
            self.in_flight -= 1

    async def _sleep_backoff(self, channel: str, attempt: int, started: float, reason: str) -> None:
        if self.give_up_after_s is not None and time.monotonic() - started > self.give_up_after_s:
            self.failures += 1
            self._note("failure", channel, f"gave up: {reason}")
            raise PermanentSlackError(f"gave up after {self.give_up_after_s:.0f}s: {reason}", channel)
        delay = min(self.max_backoff_s, self.base_backoff_s * (2 ** min(attempt - 1, 10)))
        delay = random.uniform(delay / 2, delay)  # jitter, so retries from many workers spread out
        log.warning("slack post to %s failed (%s); retry %d in %.1fs", channel, reason, attempt, delay)
        await asyncio.sleep(delay)


def _error_code(exc: SlackApiError) -> str:
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    return str(data.get("error", ""))


def _retry_after(exc: SlackApiError) -> float:
    headers = {k.lower(): v for k, v in (exc.response.headers or {}).items()}
    raw = headers.get("retry-after", "1")
    if isinstance(raw, list):
        raw = raw[0] if raw else "1"
    try:
        return max(0.0, min(float(raw), 300.0))
    except (TypeError, ValueError):
        return 1.0


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
