"""SlackDelivery against the sink over real loopback HTTP."""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator

import pytest
from aiohttp.test_utils import TestServer

from agents.logic.slack_delivery import ChannelPacer, PermanentSlackError, SlackDelivery, make_client, plain_http_refusal
from wirewatch.slack_sink import SlackSink

TOKEN = "xoxb-unit"


def message(alert_id: str) -> dict[str, Any]:
    return {"text": f"alert {alert_id}", "metadata": {"event_type": "wirewatch_alert", "event_payload": {"alert_id": alert_id}}}


async def start(sink: SlackSink) -> tuple[TestServer, SlackDelivery]:
    server = TestServer(sink.app(), host="127.0.0.1")
    await server.start_server()
    client = make_client(TOKEN, f"http://127.0.0.1:{server.port}/api/", timeout_s=2)
    return server, SlackDelivery(client, ChannelPacer(rate_per_s=5, burst=1), base_backoff_s=0.05, max_backoff_s=0.2)


def run(coro):
    return asyncio.run(coro)


def test_token_and_channel_errors_are_permanent() -> None:
    async def scenario() -> None:
        sink = SlackSink(token=TOKEN, channels=["ok"])
        server, delivery = await start(sink)
        try:
            with pytest.raises(PermanentSlackError, match="channel_not_found"):
                await delivery.post("#missing", message("a1"), "a1")
            delivery.client.token = "xoxb-wrong"
            with pytest.raises(PermanentSlackError, match="invalid_auth"):
                await delivery.post("#ok", message("a2"), "a2")
        finally:
            await server.close()

    run(scenario())


def test_429_retry_after_is_honoured_and_nothing_duplicates() -> None:
    async def scenario() -> None:
        sink = SlackSink(token=TOKEN)
        sink.faults.rate_limit_next = 1
        sink.faults.retry_after = 1
        server, delivery = await start(sink)
        try:
            started = time.monotonic()
            await delivery.post("#c", message("a1"), "a1")
            assert time.monotonic() - started >= 0.95
            assert len(sink.channels["c"].messages) == 1
        finally:
            await server.close()

    run(scenario())


def test_500_then_success_and_dropped_connection_after_store_are_posted_once() -> None:
    async def scenario() -> None:
        sink = SlackSink(token=TOKEN, rate_per_s=100, burst=10)
        server, delivery = await start(sink)
        try:
            sink.faults.fail_next = 2
            await delivery.post("#c", message("a1"), "a1")
            sink.faults.drop_after_store_next = 1
            posted = await delivery.post("#c", message("a2"), "a2")
            assert posted.found_existing
            ids = [m["metadata"]["event_payload"]["alert_id"] for m in sink.channels["c"].messages]
            assert ids == ["a1", "a2"]
        finally:
            await server.close()

    run(scenario())


def test_sink_enforces_its_rate_and_threads() -> None:
    async def scenario() -> None:
        sink = SlackSink(token=TOKEN)
        server, delivery = await start(sink)
        try:
            first = await delivery.client.chat_postMessage(channel="#c", text="one")
            from slack_sdk.errors import SlackApiError

            for text in ("two", "three"):  # the burst of 3
                await delivery.client.chat_postMessage(channel="#c", text=text)
            with pytest.raises(SlackApiError) as info:
                await delivery.client.chat_postMessage(channel="#c", text="four")
            assert info.value.response.status_code == 429
            assert int(info.value.response.headers["Retry-After"]) >= 1
            await asyncio.sleep(1.05)
            reply = await delivery.client.chat_postMessage(channel="#c", text="reply", thread_ts=first["ts"])
            assert reply["message"]["thread_ts"] == first["ts"]
            replies = await delivery.client.conversations_replies(channel=first["channel"], ts=first["ts"])
            assert [m["text"] for m in replies["messages"]] == ["one", "reply"]
            history = await delivery.client.conversations_history(channel=first["channel"])
            assert [m["text"] for m in history["messages"]] == ["three", "two", "one"]  # newest first
            assert history["messages"][-1]["reply_count"] == 1
        finally:
            await server.close()

    run(scenario())


@pytest.mark.parametrize(
    "token, url, refused",
    [
        ("xoxb-1234567890-987654-abcdef", "http://slack.example.com/api/", True),
        ("xoxb-1234567890-987654-abcdef", "http://10.0.0.5:8765/api/", True),
        ("xoxp-1234-5678-abc", "http://slack-sink:8765/api/", True),
        ("xoxb-1234567890-987654-abcdef", "https://slack.com/api/", False),
        ("xoxb-1234567890-987654-abcdef", "http://127.0.0.1:8765/api/", False),
        ("xoxb-1234567890-987654-abcdef", "http://[::1]:8765/api/", False),
        ("xoxb-1234567890-987654-abcdef", "http://localhost:8765/api/", False),
        ("xoxb-test-token", "http://slack-sink:8765/api/", False),  # not shaped like a real token
    ],
)
def test_a_real_looking_token_never_goes_over_plain_http_beyond_loopback(token: str, url: str, refused: bool) -> None:
    reason = plain_http_refusal(token, url)
    assert (reason is not None) == refused
    if reason:
        assert token not in reason and "https" in reason
