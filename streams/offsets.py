"""Exact end offsets on any Kafka-protocol broker.

Tansu answers ListOffsets("latest") with the first offset of the last stored
batch + 1, not the true end (README, "How the broker quirks are handled"). A fetch, however, reports the true
high watermark. `true_end_offsets` asks ListOffsets, then confirms each
non-empty partition with one fetch from (reported end - 1). On a correct
broker the confirmation returns the same number, so the fix is safe
everywhere and needs no broker detection. It costs one small fetch per
partition, and runs only when faust recovers tables or when we count lag.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Mapping

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

log = logging.getLogger(__name__)

_PROBE_TIMEOUT_S = 10.0


async def true_end_offsets(
    bootstrap_servers: list[str] | str,
    reported: Mapping[TopicPartition, int],
    auth: Mapping[str, Any] | None = None,
) -> dict[TopicPartition, int]:
    """Return the fetch-confirmed end offset of each partition in `reported`."""
    result = dict(reported)
    to_probe = {tp: end for tp, end in reported.items() if end is not None and end > 0}
    if not to_probe:
        return result
    probe = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=1024,  # we need the header, not the records
        fetch_max_wait_ms=100,
        **(auth or {}),
    )
    await probe.start()
    try:
        probe.assign(list(to_probe))
        for tp, end in to_probe.items():
            probe.seek(tp, end - 1)
        deadline = asyncio.get_running_loop().time() + _PROBE_TIMEOUT_S
        pending = set(to_probe)
        while pending and asyncio.get_running_loop().time() < deadline:
            await probe.getmany(*pending, timeout_ms=200)
            for tp in list(pending):
                highwater = probe.highwater(tp)
                if highwater is not None:
                    if highwater != to_probe[tp]:
                        log.debug("end offset of %s corrected %d -> %d", tp, to_probe[tp], highwater)
                    result[tp] = max(highwater, to_probe[tp])
                    pending.discard(tp)
        if pending:
            log.warning("could not confirm end offsets of %s; using the reported ones", sorted(pending))
    finally:
        await probe.stop()
    return result


def install_faust_highwater_fix() -> None:
    """Make faust's table recovery use fetch-confirmed end offsets.

    faust reads end offsets only in `AIOKafkaConsumerThread._highwaters`
    (tables/recovery.py). Idempotent.
    """
    from faust.transport.drivers import aiokafka as faust_aiokafka

    thread_cls = faust_aiokafka.AIOKafkaConsumerThread
    if getattr(thread_cls._highwaters, "_wirewatch_fixed", False):
        return
    original = thread_cls._highwaters

    async def _highwaters(self, partitions):  # type: ignore[no-untyped-def]
        reported = await original(self, partitions)
        if self.consumer.in_transaction:
            return reported  # last stable offsets come from fetches already
        consumer = self._ensure_consumer()
        client = consumer._client  # the probe connects exactly as faust's consumer does (TLS, SASL)
        auth = {"security_protocol": client._security_protocol, "ssl_context": client._ssl_context,
                "sasl_mechanism": client._sasl_mechanism, "sasl_plain_username": client._sasl_plain_username,
                "sasl_plain_password": client._sasl_plain_password}
        return await true_end_offsets(client._bootstrap_servers, reported, auth)

    _highwaters._wirewatch_fixed = True  # type: ignore[attr-defined]
    thread_cls._highwaters = _highwaters
