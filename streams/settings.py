"""Runtime settings: one typed table, read once from the environment (and `.env`) at the entry point.

Each field names its environment variable and says what it does; `config/settings.example.env`
is generated from this table (`wirewatch settings --example`), so the two cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.kafka_security import KafkaSecurity
from streams.topics import TopicNames

DEFAULT_SLACK_API_URL = "https://slack.com/api/"


def _setting(default: Any, env: str, doc: str, **kwargs: Any) -> Any:
    return Field(default, validation_alias=env, description=doc, **kwargs)


class SettingsError(ValueError):
    """An environment variable that does not parse; the text names it and its value."""


class Settings(BaseSettings):
    """Everything a worker, the CLI and the tests need to agree on."""

    # Variables already in the environment win over a `.env` file in the working directory.
    model_config = SettingsConfigDict(frozen=True, populate_by_name=True, env_ignore_empty=True, extra="ignore",
                                      str_strip_whitespace=True, env_file=".env", env_file_encoding="utf-8")

    broker: str = _setting("", "WIREWATCH_BROKER", "Kafka bootstrap as kafka://host:port[,host:port] (';' also works). Empty: the worker "
                           "starts the embedded, memory-only Tansu broker itself (data is lost when it stops).")
    partitions: int = _setting(4, "WIREWATCH_PARTITIONS", "Partitions per topic when wirewatch creates topics.", ge=1)
    topic_prefix: str = _setting("", "WIREWATCH_TOPIC_PREFIX", "Put before every topic name, so pipelines can share a broker.")
    app_id: str = _setting("wirewatch", "WIREWATCH_APP_ID", "Consumer-group id prefix: workers with the same id share the partitions.")
    watchlists_dir: Path = _setting(Path("config/watchlists"), "WIREWATCH_WATCHLISTS", "Watchlist folder, re-read every "
                                    "WIREWATCH_RELOAD_INTERVAL seconds.")
    reload_interval_s: float = _setting(1.0, "WIREWATCH_RELOAD_INTERVAL", "Seconds between watchlist folder checks.", gt=0)
    glossary_path: Path = _setting(Path("config/glossary.yaml"), "WIREWATCH_GLOSSARY", "Cross-language glossary for "
                                   "non-English items (read at start).")
    presearch: bool = _setting(True, "WIREWATCH_PRESEARCH", "The screening cascade; 0 sends every item to the transformer "
                               "(for comparisons only).")
    multilingual: bool = _setting(True, "WIREWATCH_MULTILINGUAL", "The multilingual model for items not in English (cross-lingual "
                                  "matching); 0 screens them by keywords, names and the glossary only.")
    glossary_languages: str = _setting("de,es,fr,ja,ko,ru,zh", "WIREWATCH_GLOSSARY_LANGUAGES", "Languages the glossary serves: "
                                       "their items are matched through it, not by the cross-lingual rule (docs/multilingual.md).")
    static_model_dir: str = _setting("", "WIREWATCH_STATIC_MODEL_DIR", "Where the static presearch model is built and read "
                                     "(empty: .wirewatch-cache/ beside the venv).")
    onnx_model_dir: str = _setting("", "WIREWATCH_ONNX_MODEL_DIR", "Where the model's ONNX export is written and read "
                                   "(empty: .wirewatch-cache/ beside the venv).")
    data_dir: Path = _setting(Path("var/wirewatch"), "WIREWATCH_DATA_DIR", "Local state of the worker (faust table snapshots).")
    http_port: int = _setting(6066, "WIREWATCH_HTTP_PORT", "The worker's HTTP port (health, metrics): one per worker on a host.")
    http_host: str = _setting("127.0.0.1", "WIREWATCH_HTTP_HOST", "Address the HTTP port binds; loopback unless a scraper "
                              "elsewhere needs it.")
    session_timeout_s: float = _setting(6.0, "WIREWATCH_SESSION_TIMEOUT", "Seconds; group joins wait about half of this.", gt=0)
    heartbeat_interval_s: float = _setting(2.0, "WIREWATCH_HEARTBEAT_INTERVAL", "Seconds between consumer heartbeats.", gt=0)
    embed_batch: int = _setting(32, "WIREWATCH_EMBED_BATCH", "News items the embed agent takes per model call.", ge=1)
    embed_within_s: float = _setting(0.05, "WIREWATCH_EMBED_WITHIN", "Seconds to wait for an embed batch to fill.", ge=0)
    match_within_s: float = _setting(0.01, "WIREWATCH_MATCH_WITHIN", "Seconds the match agent waits for a batch to fill. "
                                     "Matching costs about a millisecond an item, so batching buys little and a short wait "
                                     "keeps it off each alert's latency.", ge=0)
    model_batch: int = _setting(4, "WIREWATCH_MODEL_BATCH", "Sentences per forward pass. Small is fast on CPU: short, "
                                "length-sorted groups carry little padding.", ge=1)
    model_backend: Literal["onnx", "torch"] = _setting("onnx", "WIREWATCH_MODEL_BACKEND", "How the model runs: onnx (its graph "
                                                       "exported once to ONNX Runtime, which leaves the other threads alone) or torch.")
    model_workers: int = _setting(0, "WIREWATCH_MODEL_WORKERS", "Single-threaded model copies sharing each call "
                                  "(0: one per core, up to 4).", ge=0)
    embed_actors: int = _setting(2, "WIREWATCH_EMBED_ACTORS", "Embed batches in flight at once (one encodes while "
                                 "another is sent).", ge=1)
    max_item_bytes: int = _setting(1_000_000, "WIREWATCH_MAX_ITEM_BYTES", "Larger news messages go to the deadletter topic.", ge=1)
    max_message_bytes: int = _setting(1_000_000, "WIREWATCH_MAX_MESSAGE_BYTES", "The largest record wirewatch writes; a body "
                                      "is cut to fit. Keep it under the broker's message.max.bytes.", ge=1024)
    slack_token: str = _setting("", "SLACK_BOT_TOKEN", "Bot token with chat:write and channels:history. Never logged.", repr=False)
    slack_api_url: str = _setting(DEFAULT_SLACK_API_URL, "SLACK_API_URL", "Slack Web API base URL (passed to slack-sdk).")
    stale_after_s: float = _setting(48 * 3600.0, "WIREWATCH_STALE_AFTER", "Seconds; items published or ingested longer ago "
                                    "are marked stale and not posted as fresh news.", gt=0)
    story_window_s: float = _setting(24 * 3600.0, "WIREWATCH_STORY_WINDOW", "Seconds a top-level post collects "
                                     "near-duplicate stories as thread replies.", ge=0)
    ledger_retention_s: float = _setting(30 * 86400.0, "WIREWATCH_LEDGER_RETENTION", "Seconds a Slack ledger row is kept; "
                                         "keep it longer than WIREWATCH_STALE_AFTER.", gt=0)
    ops_channel: str = _setting("#wirewatch-ops", "WIREWATCH_OPS_CHANNEL", "Where dead-man messages go.")
    deadman_silence_s: float = _setting(900.0, "WIREWATCH_DEADMAN_SILENCE", "Seconds without a news item before the "
                                        "dead-man speaks.", gt=0)
    deadman_lag: int = _setting(1000, "WIREWATCH_DEADMAN_LAG", "Unprocessed messages before the dead-man speaks.", ge=1)
    deadman_slack_s: float = _setting(300.0, "WIREWATCH_DEADMAN_SLACK", "Seconds of failing Slack calls before the "
                                      "dead-man speaks.", gt=0)
    log_format: str = _setting("auto", "WIREWATCH_LOG_FORMAT", "json, console, or auto (console on a terminal, else JSON lines).",
                               pattern="^(auto|json|console)$")
    console_alerts: bool = _setting(False, "WIREWATCH_CONSOLE_ALERTS", "1 also prints each alert readably on the worker console.")
    faust_commit_fix: bool = _setting(True, "WIREWATCH_FAUST_COMMIT_FIX", "0 turns off the faust commit repair "
                                      "(streams/commits.py): only to reproduce faust's loss in tests/chaos.py; never in production.")
    broker_give_up_s: float = _setting(60.0, "WIREWATCH_BROKER_GIVE_UP", "Seconds the broker may be unreachable before the "
                                       "worker exits with code 3 (a supervisor restarts it).", gt=0)
    allow_untested_faust: bool = _setting(False, "WIREWATCH_ALLOW_UNTESTED_FAUST", "1 starts a worker on faust-streaming or "
                                          "aiokafka releases other than the tested ones (README, \"Changes to faust\").")
    kafka_security_protocol: str = _setting("PLAINTEXT", "WIREWATCH_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT, SSL, SASL_PLAINTEXT or "
                                            "SASL_SSL, for every Kafka client wirewatch makes.",
                                            pattern="^(PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL)$")
    kafka_ssl_cafile: Path | None = _setting(None, "WIREWATCH_KAFKA_SSL_CAFILE", "PEM file of the CA(s) that signed the "
                                             "brokers' certificates (empty: the system's trusted CAs).")
    kafka_ssl_certfile: Path | None = _setting(None, "WIREWATCH_KAFKA_SSL_CERTFILE", "Client certificate (PEM), for brokers "
                                               "that require mutual TLS.")
    kafka_ssl_keyfile: Path | None = _setting(None, "WIREWATCH_KAFKA_SSL_KEYFILE", "Private key of the client certificate (PEM).")
    kafka_ssl_check_hostname: bool = _setting(True, "WIREWATCH_KAFKA_SSL_CHECK_HOSTNAME", "0 accepts a broker certificate "
                                              "issued for another host name (still signed by the CA).")
    kafka_sasl_mechanism: str = _setting("SCRAM-SHA-512", "WIREWATCH_KAFKA_SASL_MECHANISM", "PLAIN, SCRAM-SHA-256 or "
                                         "SCRAM-SHA-512 (used with the SASL_* protocols).",
                                         pattern="^(PLAIN|SCRAM-SHA-256|SCRAM-SHA-512)$")
    kafka_sasl_username: str = _setting("", "WIREWATCH_KAFKA_SASL_USERNAME", "SASL user name.")
    kafka_sasl_password: str = _setting("", "WIREWATCH_KAFKA_SASL_PASSWORD", "SASL password. Never logged.", repr=False)
    stall_exit_s: float = _setting(180.0, "WIREWATCH_STALL_EXIT", "Seconds the embed or match input may wait without progress "
                                   "before the worker exits with code 4; 0: off.", ge=0)

    @field_validator("broker")
    @classmethod
    def _one_separator(cls, value: str) -> str:
        """Commas are what people write (and what a shell leaves alone); faust wants ';' between hosts."""
        hosts = [part.strip() for part in value.replace(",", ";").split(";") if part.strip()]
        return ";".join(hosts)

    @model_validator(mode="after")
    def _kafka_security_is_complete(self) -> "Settings":
        protocol = self.kafka_security_protocol
        if protocol.startswith("SASL") and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError(f"WIREWATCH_KAFKA_SECURITY_PROTOCOL={protocol} needs WIREWATCH_KAFKA_SASL_USERNAME and "
                             "WIREWATCH_KAFKA_SASL_PASSWORD")
        if not protocol.startswith("SASL") and self.kafka_sasl_username:
            raise ValueError(f"WIREWATCH_KAFKA_SASL_USERNAME is set but WIREWATCH_KAFKA_SECURITY_PROTOCOL={protocol} "
                             "does not log in; use SASL_SSL (or SASL_PLAINTEXT)")
        for name, path in (("WIREWATCH_KAFKA_SSL_CAFILE", self.kafka_ssl_cafile), ("WIREWATCH_KAFKA_SSL_CERTFILE", self.kafka_ssl_certfile),
                           ("WIREWATCH_KAFKA_SSL_KEYFILE", self.kafka_ssl_keyfile)):
            if path is not None and not path.is_file():
                raise ValueError(f"{name}={path}: no such file")
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            raise ValueError("WIREWATCH_KAFKA_SSL_CERTFILE and WIREWATCH_KAFKA_SSL_KEYFILE go together")
        return self

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @classmethod
    def from_env(cls, env_file: Path | None = None, **overrides: Any) -> "Settings":
        """Read the environment (and `env_file`, else ./.env) once; a value that does not parse names its variable."""
        try:
            if env_file is not None:
                return cls(_env_file=env_file, **overrides)  # type: ignore[call-arg]
            return cls(**overrides)
        except ValidationError as exc:
            raise SettingsError("; ".join(_describe(error) for error in exc.errors())) from None

    @property
    def topic_names(self) -> TopicNames:
        return TopicNames(self.topic_prefix)

    @property
    def kafka_security(self) -> KafkaSecurity:
        """TLS and SASL options for every Kafka client (streams/kafka_security.py)."""
        return KafkaSecurity.from_settings(self)

    @property
    def bootstrap_servers(self) -> list[str]:
        """host:port list for kafka-python, from the kafka:// URL."""
        return broker_url_to_servers(self.broker)


def _describe(error: Any) -> str:
    if not error.get("loc"):  # a check across settings: its message names the variables
        return str(error["msg"]).removeprefix("Value error, ")
    name = str(error["loc"][0])
    field = Settings.model_fields.get(name)
    shown = "<hidden>" if field is not None and field.repr is False else repr(error.get("input"))
    if field is not None and isinstance(field.validation_alias, str):
        name = field.validation_alias
    return f"{name}={shown}: {error['msg']}"


def example_env() -> str:
    """config/settings.example.env: every setting with its default and what it does."""
    lines = ["# wirewatch settings: copy to .env (or export them) and adjust. Every one is optional.",
             "# Generated by `wirewatch settings --example` from streams/settings.py.", ""]
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, bool):
            default = int(default)
        elif default is None:
            default = ""
        lines += [f"# {field.description}", f"{field.validation_alias}={default}"]
    return "\n".join(lines) + "\n"


def broker_url_to_servers(url: str) -> list[str]:
    """Turn `kafka://a:9092;b:9092` (faust style) into `["a:9092", "b:9092"]`."""
    if not url:
        raise ValueError("no broker URL given")
    servers: list[str] = []
    for part in url.replace(",", ";").split(";"):
        part = part.strip()
        if "://" in part:
            part = part.split("://", 1)[1]
        if part:
            servers.append(part.rstrip("/"))
    return servers
