"""The few pieces of the Kafka wire protocol that SASL needs, for the broker gateway and the access check.

Every Kafka message is a frame: a 4-byte big-endian length, then the bytes. A request starts with
api_key (int16), api_version (int16), correlation_id (int32) and client_id (int16-length string);
"flexible" versions add a tagged-field section after the header and use varint-length ("compact")
strings and bytes in the body. Only SaslHandshake (v0-1), SaslAuthenticate (v0-2) and the request
header are encoded here; everything else passes through untouched.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass

API_VERSIONS = 18
SASL_HANDSHAKE = 17
SASL_AUTHENTICATE = 36
UNSUPPORTED_SASL_MECHANISM = 33
ILLEGAL_SASL_STATE = 34
SASL_AUTHENTICATION_FAILED = 58
MAX_PRE_AUTH_FRAME = 1 << 20  # a client that has not logged in cannot make the gateway buffer more


class WireError(ValueError):
    """Bytes that are not the Kafka message they claim to be."""


async def read_frame(reader: asyncio.StreamReader, limit: int = MAX_PRE_AUTH_FRAME) -> bytes:
    size = struct.unpack(">i", await reader.readexactly(4))[0]
    if size < 0 or size > limit:
        raise WireError(f"frame of {size} bytes (limit {limit})")
    return await reader.readexactly(size)


def frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_uvarint(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if offset >= len(data) or shift > 28:
            raise WireError("truncated varint")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7


def _skip_tags(data: bytes, offset: int) -> int:
    count, offset = read_uvarint(data, offset)
    for _ in range(count):
        _tag, offset = read_uvarint(data, offset)
        size, offset = read_uvarint(data, offset)
        offset += size
    return offset


@dataclass(frozen=True)
class RequestHeader:
    api_key: int
    api_version: int
    correlation_id: int
    body_offset: int  # where the request body starts in the frame

    @property
    def flexible(self) -> bool:
        """SaslAuthenticate v2 is the only flexible request this module decodes."""
        return self.api_key == SASL_AUTHENTICATE and self.api_version >= 2


def parse_header(payload: bytes) -> RequestHeader:
    if len(payload) < 10:
        raise WireError("request shorter than its header")
    api_key, api_version, correlation_id, client_len = struct.unpack(">hhih", payload[:10])
    offset = 10 + max(client_len, 0)
    header = RequestHeader(api_key, api_version, correlation_id, offset)
    if header.flexible:
        header = RequestHeader(api_key, api_version, correlation_id, _skip_tags(payload, offset))
    return header


def request(api_key: int, api_version: int, correlation_id: int, body: bytes, client_id: bytes = b"wirewatch") -> bytes:
    """A framed request; header v2 (with an empty tag section) for flexible SaslAuthenticate."""
    head = struct.pack(">hhih", api_key, api_version, correlation_id, len(client_id)) + client_id
    if api_key == SASL_AUTHENTICATE and api_version >= 2:
        head += b"\x00"
    return frame(head + body)


def string(value: str) -> bytes:
    raw = value.encode()
    return struct.pack(">h", len(raw)) + raw


def read_string(data: bytes, offset: int) -> tuple[str, int]:
    (size,) = struct.unpack(">h", data[offset : offset + 2])
    offset += 2
    if size < 0:
        return "", offset
    return data[offset : offset + size].decode("utf-8", "replace"), offset + size


def handshake_response(correlation_id: int, error_code: int, mechanisms: list[str]) -> bytes:
    body = struct.pack(">ihi", correlation_id, error_code, len(mechanisms)) + b"".join(string(m) for m in mechanisms)
    return frame(body)


def parse_handshake_response(payload: bytes) -> tuple[int, list[str]]:
    _corr, error_code, count = struct.unpack(">ihi", payload[:10])
    offset, mechanisms = 10, []
    for _ in range(max(count, 0)):
        mechanism, offset = read_string(payload, offset)
        mechanisms.append(mechanism)
    return error_code, mechanisms


def authenticate_bytes(payload: bytes, header: RequestHeader) -> bytes:
    """The SASL token inside a SaslAuthenticate request."""
    offset = header.body_offset
    if header.flexible:
        size, offset = read_uvarint(payload, offset)
        size -= 1
    else:
        (size,) = struct.unpack(">i", payload[offset : offset + 4])
        offset += 4
    if size < 0 or offset + size > len(payload):
        raise WireError("SaslAuthenticate token runs past the frame")
    return payload[offset : offset + size]


def authenticate_body(token: bytes, api_version: int) -> bytes:
    if api_version >= 2:
        return uvarint(len(token) + 1) + token + b"\x00"
    return struct.pack(">i", len(token)) + token


def authenticate_response(correlation_id: int, api_version: int, error_code: int, message: str | None, token: bytes) -> bytes:
    if api_version >= 2:
        text = b"\x00" if message is None else uvarint(len(message.encode()) + 1) + message.encode()
        body = (struct.pack(">i", correlation_id) + b"\x00" + struct.pack(">h", error_code) + text
                + uvarint(len(token) + 1) + token + struct.pack(">q", 0) + b"\x00")
        return frame(body)
    text = struct.pack(">h", -1) if message is None else string(message)
    body = struct.pack(">ih", correlation_id, error_code) + text + struct.pack(">i", len(token)) + token
    if api_version >= 1:
        body += struct.pack(">q", 0)  # session lifetime: no re-authentication required
    return frame(body)


def parse_authenticate_response(payload: bytes, api_version: int) -> tuple[int, str, bytes]:
    """(error_code, error_message, token) of a SaslAuthenticate response (v0-1)."""
    offset = 4
    (error_code,) = struct.unpack(">h", payload[offset : offset + 2])
    message, offset = read_string(payload, offset + 2)
    (size,) = struct.unpack(">i", payload[offset : offset + 4])
    offset += 4
    return error_code, message, payload[offset : offset + max(size, 0)]
