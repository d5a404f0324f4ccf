"""How every wirewatch Kafka client connects: TLS and SASL from the settings, in one place.

The faust worker, `ingest`, `rescreen`, `bench`, the lag probe and the tests all take their
connection options from `KafkaSecurity`. `check_access` runs before any client library: client
libraries answer a refused password or an untrusted certificate by retrying until a generic
timeout, so wirewatch first makes one connection itself and says in one line which it was.
"""

from __future__ import annotations

import socket
import ssl
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams import kafka_wire as wire
from streams.scram import ClientLogin, LoginRefused

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class BrokerUnreachable(Exception):
    """No broker answered; the text names the addresses and the time waited."""


class KafkaAccessDenied(Exception):
    """The broker answered but refused us: an untrusted certificate, a failed TLS handshake or a refused login."""


@dataclass(frozen=True)
class KafkaSecurity:
    protocol: str = "PLAINTEXT"
    ca_file: Path | None = None  # None: the system's trusted CAs
    cert_file: Path | None = None  # client certificate, for brokers that require one (mutual TLS)
    key_file: Path | None = None
    check_hostname: bool = True
    mechanism: str = ""
    username: str = ""
    password: str = field(default="", repr=False)

    @classmethod
    def from_settings(cls, settings: Any) -> "KafkaSecurity":
        return cls(
            protocol=settings.kafka_security_protocol, ca_file=settings.kafka_ssl_cafile,
            cert_file=settings.kafka_ssl_certfile, key_file=settings.kafka_ssl_keyfile,
            check_hostname=settings.kafka_ssl_check_hostname, mechanism=settings.kafka_sasl_mechanism,
            username=settings.kafka_sasl_username, password=settings.kafka_sasl_password,
        )

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.check_hostname = self.check_hostname
        if self.cert_file is not None:
            context.load_cert_chain(str(self.cert_file), str(self.key_file) if self.key_file else None)
        return context

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python and aiokafka clients (both use these names)."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.tls:
            options["ssl_context"] = self.ssl_context()
        if self.sasl:
            options.update(sasl_mechanism=self.mechanism, sasl_plain_username=self.username, sasl_plain_password=self.password)
        return options

    def faust_credentials(self) -> Any:
        """faust's `broker_credentials` (None for plain text)."""
        import faust

        if self.sasl:
            return faust.SASLCredentials(username=self.username, password=self.password, mechanism=self.mechanism,
                                         ssl_context=self.ssl_context())
        if self.tls:
            return faust.SSLCredentials(self.ssl_context())
        return None

    def describe(self) -> str:
        """For logs and errors: never the password."""
        parts = [self.protocol]
        if self.sasl:
            parts.append(f"{self.mechanism} as {self.username!r}")
        if self.tls:
            parts.append(f"CA {self.ca_file or 'system store'}")
        return ", ".join(parts)


def check_access(servers: list[str], security: KafkaSecurity, timeout_s: float = 10.0) -> str:
    """Connect to the first broker that answers, complete TLS and the SASL login; returns its address.

    Raises BrokerUnreachable when none answers within `timeout_s`, KafkaAccessDenied when one
    answers but refuses us (the text says which: certificate, TLS handshake or login)."""
    deadline = time.monotonic() + timeout_s
    started = time.monotonic()
    last = ""
    while True:
        for server in servers:
            host, _, port = server.rpartition(":")
            host = host.strip("[]") or "127.0.0.1"
            try:
                sock = socket.create_connection((host, int(port)), timeout=min(3.0, max(0.5, deadline - time.monotonic())))
            except (OSError, ValueError):
                continue
            with sock:
                sock.settimeout(max(1.0, deadline - time.monotonic()))
                try:
                    _secure_and_log_in(sock, host, server, security)
                except _Transient as exc:  # a broker that is starting or restarting: try again
                    last = f"{server}: {exc}"
                    continue
            return server
        if time.monotonic() >= deadline:
            raise BrokerUnreachable(f"cannot reach the broker at {','.join(servers)} (waited {time.monotonic() - started:.0f} s"
                                    + (f"; last: {last})" if last else ")"))
        time.sleep(0.5)


class _Transient(Exception):
    """The connection broke off (reset, timeout, closed) rather than refusing us: worth retrying."""


def _secure_and_log_in(sock: socket.socket, host: str, server: str, security: KafkaSecurity) -> None:
    conn: socket.socket = sock
    if security.tls:
        try:
            context = security.ssl_context()
        except (OSError, ssl.SSLError) as exc:
            raise KafkaAccessDenied(f"TLS: cannot load the client certificate or CA file: {exc}") from None
        assert context is not None
        try:
            conn = context.wrap_socket(sock, server_hostname=host)
        except ssl.SSLCertVerificationError as exc:
            trusted = f"WIREWATCH_KAFKA_SSL_CAFILE={security.ca_file}" if security.ca_file else "the system's CA store"
            raise KafkaAccessDenied(f"TLS: the certificate of {server} is not trusted by {trusted}: {exc.verify_message}") from None
        except ssl.SSLError as exc:
            raise KafkaAccessDenied(f"TLS handshake with {server} failed ({type(exc).__name__}: {exc}); is it a TLS listener?") from None
        except (socket.timeout, ConnectionError, EOFError, OSError) as exc:
            raise _Transient(f"TLS handshake broke off ({type(exc).__name__}); is it a TLS listener?") from None
    if security.sasl:
        try:
            _log_in(conn, security)
        except LoginRefused as exc:
            raise KafkaAccessDenied(f"SASL {security.mechanism} login as {security.username!r} at {server} refused: {exc}") from None
        except (wire.WireError, struct.error) as exc:
            raise KafkaAccessDenied(f"SASL login at {server} failed: the broker answered out of protocol ({exc}); check that "
                                    f"the listener expects WIREWATCH_KAFKA_SECURITY_PROTOCOL={security.protocol}") from None
        except (OSError, EOFError) as exc:
            raise _Transient(f"the broker closed the connection during the SASL login ({type(exc).__name__}); check that "
                             f"the listener expects WIREWATCH_KAFKA_SECURITY_PROTOCOL={security.protocol}") from None



def _exchange(conn: socket.socket, data: bytes) -> bytes:
    conn.sendall(data)
    size = struct.unpack(">i", _read_exactly(conn, 4))[0]
    if size < 0 or size > wire.MAX_PRE_AUTH_FRAME:
        raise wire.WireError(f"answer of {size} bytes")
    return _read_exactly(conn, size)


def _read_exactly(conn: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return data


def _log_in(conn: socket.socket, security: KafkaSecurity) -> None:
    error, offered = wire.parse_handshake_response(
        _exchange(conn, wire.request(wire.SASL_HANDSHAKE, 1, 1, wire.string(security.mechanism))))
    if error or security.mechanism not in offered:
        raise LoginRefused(f"the broker does not offer {security.mechanism} (it offers {', '.join(offered) or 'none'})")
    login = ClientLogin(security.mechanism, security.username, security.password)
    token, correlation = login.first(), 2
    while True:
        answer = _exchange(conn, wire.request(wire.SASL_AUTHENTICATE, 1, correlation, wire.authenticate_body(token, 1)))
        error, message, reply = wire.parse_authenticate_response(answer, 1)
        if error:
            raise LoginRefused(message or f"error code {error}")
        if security.mechanism == "PLAIN":
            return
        if correlation == 2:
            token, correlation = login.final(reply), 3
            continue
        login.verify(reply)
        return
