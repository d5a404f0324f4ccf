"""wirewatch's parts as child processes on one machine: the broker, a Slack sink, workers.

`wirewatch run --demo`, `wirewatch bench` and the end-to-end tests all start them through this
module. Each child runs in its own session (a Ctrl-C at the terminal reaches only the parent,
which then stops them in order) and stops by itself if its parent dies.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from streams.broker import EmbeddedBroker, ensure_topics, free_port, terminate, wait_for_port
from streams.kafka_security import KafkaSecurity
from streams.processes import spawn_python
from streams.settings import Settings, broker_url_to_servers
from streams.topics import TopicNames


def spawn_cli(args: list[str], env: dict[str, str], log_path: Path | None = None, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """`python -m wirewatch ARGS`, its output appended to `log_path` (None: this console)."""
    if log_path is None:
        return spawn_python(args, env, cwd=cwd, start_new_session=True)
    with open(log_path, "ab") as log:  # the child keeps its own copy of the descriptor
        return spawn_python(args, env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


@dataclass
class LocalStack:
    """Children started from `env`; each start adds what the next one needs (broker URL, Slack URL)."""

    env: dict[str, str]
    logdir: Path | None = None  # None: children write to this console
    cwd: Path | None = None
    broker: EmbeddedBroker | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def ensure_broker(self, partitions: int, names: TopicNames) -> list[str]:
        """The broker named by WIREWATCH_BROKER, else a fresh embedded one; its topics created."""
        if not self.env.get("WIREWATCH_BROKER"):
            self.broker = EmbeddedBroker(port=free_port()).start()
            # The embedded broker speaks plain text: children must not try TLS or SASL on it.
            self.env.update(WIREWATCH_BROKER=self.broker.url, WIREWATCH_KAFKA_SECURITY_PROTOCOL="PLAINTEXT", WIREWATCH_KAFKA_SASL_USERNAME="")
        servers = broker_url_to_servers(self.env["WIREWATCH_BROKER"])
        ensure_topics(servers, partitions, names, security=self.kafka_security())
        return servers

    def kafka_security(self) -> KafkaSecurity:
        """The TLS and SASL the children use (the embedded broker's plain text, when this stack started one)."""
        return Settings.from_env(**_security_overrides(self.env)).kafka_security

    def start_sink(self, token: str, log_name: str = "sink") -> int:
        """A local Slack-Web-API-compatible server; workers started afterwards post to it."""
        port = free_port()
        self._start(["slack-sink", "--port", str(port), "--token", token], self.env, log_name)
        wait_for_port("127.0.0.1", port, 20)
        self.env.update(SLACK_BOT_TOKEN=token, SLACK_API_URL=f"http://127.0.0.1:{port}/api/")
        return port

    def start_worker(self, log_name: str = "worker", http_port: int | None = None, **overrides: str) -> tuple[subprocess.Popen[bytes], int]:
        """A worker on its own HTTP port (a free one unless given); returns the process and the port."""
        port = http_port or free_port()
        return self._start(["worker"], {**self.env, "WIREWATCH_HTTP_PORT": str(port), **overrides}, log_name), port

    def _start(self, args: list[str], env: dict[str, str], log_name: str) -> subprocess.Popen[bytes]:
        log_path = None if self.logdir is None else self.logdir / f"{log_name}.log"
        process = spawn_cli(args, env, log_path, self.cwd)
        self.processes.append(process)
        return process

    def stop(self, grace_s: float = 10.0) -> None:
        """Workers first (they flush to the broker and the sink), then the sink, then the broker."""
        for process in reversed(self.processes):
            terminate(process, grace_s)
        if self.broker is not None:
            self.broker.stop()


def _security_overrides(env: dict[str, str]) -> dict[str, object]:
    """The children's Kafka security settings, read from their env (it may differ from this process's)."""
    fields = {name: f for name, f in Settings.model_fields.items() if name.startswith("kafka_")}
    return {name: env.get(str(f.validation_alias)) or f.default for name, f in fields.items()}
