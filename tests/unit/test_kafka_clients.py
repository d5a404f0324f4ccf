"""The Kafka client libraries run their hot paths in C, as installed by the project's dependencies."""

from __future__ import annotations

import os

from kafka.record import util as kafka_record_util
from kafka.record._crc32c import crc as pure_python_crc32c


def test_kafka_python_checksums_records_in_c() -> None:
    # Without the crc32c package kafka-python falls back to a pure-Python CRC-32C (3.7 MB/s here):
    # every record the bench, ingest and rescreen send or read would pay it.
    assert kafka_record_util.crc32c_c is not None and kafka_record_util._crc32c is kafka_record_util.crc32c_c
    data = os.urandom(4096)
    assert kafka_record_util.calc_crc32c(memoryview(data)) == pure_python_crc32c(data)
