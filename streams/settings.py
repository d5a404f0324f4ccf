"""Runtime settings, read once from the environment.

Each field documents its environment variable next to its default, so that
`wirewatch` can be configured without reading code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from streams.topics import TopicNames

DEFAULT_SLACK_API_URL = "https://slack.com/api/"


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"{name}={raw!r}: expected an integer") from exc


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SystemExit(f"{name}={raw!r}: expected a number") from exc


@dataclass(frozen=True)
class Settings:
    """Everything a worker, the CLI and the tests need to agree on."""

    # WIREWATCH_BROKER: kafka://host:port[;host:port]. Empty: start the embedded broker.
    broker: str = ""
    # WIREWATCH_PARTITIONS: partitions per topic when wirewatch creates topics.
    partitions: int = 4
    # WIREWATCH_WATCHLISTS: folder of watchlist YAML files.
    watchlists_dir: Path = Path("config/watchlists")
    # WIREWATCH_GLOSSARY: cross-language glossary for non-English items (read at start).
    glossary_path: Path = Path("config/glossary.yaml")
    # WIREWATCH_PRESEARCH: 0 sends every item to the transformer (no cascade); for comparisons only.
    presearch: bool = True
    # WIREWATCH_STATIC_MODEL_DIR: the static presearch model (built offline on first use; empty: next to the venv).
    static_model_dir: str = ""
    # WIREWATCH_DATA_DIR: faust's local state (table snapshots, web port files).
    data_dir: Path = Path("var/wirewatch")
    # WIREWATCH_HTTP_PORT: faust web server (health, metrics) of this worker.
    http_port: int = 6066
    # WIREWATCH_HTTP_HOST: address it binds; loopback unless a scraper elsewhere needs it (compose).
    http_host: str = "127.0.0.1"
    # WIREWATCH_APP_ID: consumer-group id prefix; workers sharing it share the work.
    app_id: str = "wirewatch"
    # WIREWATCH_TOPIC_PREFIX: put before every topic name, so pipelines can share a broker.
    topic_prefix: str = ""
    # WIREWATCH_SESSION_TIMEOUT: seconds; group join waits about half of this on Tansu.
    session_timeout_s: float = 6.0
    # WIREWATCH_HEARTBEAT_INTERVAL: seconds between consumer heartbeats.
    heartbeat_interval_s: float = 2.0
    # WIREWATCH_EMBED_BATCH: news items the embed agent takes per model call.
    embed_batch: int = 32
    # WIREWATCH_MODEL_BATCH: sentences per forward pass. Small is fast on CPU: short, length-sorted
    # groups carry little padding (measured 2x faster at 4 than at 32 on 2 cores; same vectors).
    model_batch: int = 4
    # WIREWATCH_MODEL_WORKERS: single-threaded model copies that share each call (0: one per core, up to 4).
    model_workers: int = 0
    # WIREWATCH_EMBED_ACTORS: embed batches in flight at once (one encodes while another is sent).
    embed_actors: int = 2
    # WIREWATCH_EMBED_WITHIN: seconds to wait for a batch to fill.
    embed_within_s: float = 0.05
    # WIREWATCH_MAX_ITEM_BYTES: larger news messages go to deadletter.
    max_item_bytes: int = 1_000_000
    # WIREWATCH_MAX_MESSAGE_BYTES: the largest record wirewatch writes (embedded items, alerts); a
    # body is cut to fit. Keep it under the broker's message.max.bytes (Kafka's default: 1,048,588).
    max_message_bytes: int = 1_000_000
    # WIREWATCH_RELOAD_INTERVAL: seconds between watchlist folder checks.
    reload_interval_s: float = 1.0
    # SLACK_BOT_TOKEN: bot token. Never logged.
    slack_token: str = field(default="", repr=False)
    # SLACK_API_URL: Web API base URL, passed to slack-sdk as base_url.
    slack_api_url: str = DEFAULT_SLACK_API_URL
    # WIREWATCH_STALE_AFTER: seconds; items published or ingested longer ago are marked stale, not posted fresh.
    stale_after_s: float = 48 * 3600.0
    # WIREWATCH_STORY_WINDOW: seconds a top-level post collects near-duplicate stories as thread replies.
    story_window_s: float = 24 * 3600.0
    # WIREWATCH_LEDGER_RETENTION: seconds a Slack ledger row is kept (30 days); keep it longer than
    # WIREWATCH_STALE_AFTER, so an alert replayed after its row is gone is stale and never posted.
    ledger_retention_s: float = 30 * 86400.0
    # WIREWATCH_OPS_CHANNEL: where dead-man messages go.
    ops_channel: str = "#wirewatch-ops"
    # WIREWATCH_DEADMAN_SILENCE: seconds without a news item before the dead-man speaks.
    deadman_silence_s: float = 900.0
    # WIREWATCH_DEADMAN_LAG: unprocessed messages (all agents' partitions) before it speaks.
    deadman_lag: int = 1000
    # WIREWATCH_DEADMAN_SLACK: seconds of failing Slack calls before it speaks.
    deadman_slack_s: float = 300.0
    # WIREWATCH_LOG_FORMAT: json, console, or auto (console on a terminal, else JSON lines).
    log_format: str = "auto"
    # WIREWATCH_CONSOLE_ALERTS: 1 prints each alert readably on the worker console.
    console_alerts: bool = False
    # WIREWATCH_FAUST_COMMIT_FIX: 0 turns off the commit repair of streams/commits.py. Only for
    # reproducing faust's loss in `tests/chaos.py --without-commit-fix`; never in production.
    faust_commit_fix: bool = True
    # WIREWATCH_BROKER_GIVE_UP: seconds the broker may be unreachable before the worker exits (code 3).
    broker_give_up_s: float = 60.0
    # WIREWATCH_STALL_EXIT: seconds the embed or match input may wait without progress before the
    # worker exits (code 4) for a supervisor to restart it; 0 turns the check off.
    stall_exit_s: float = 180.0

    @classmethod
    def from_env(cls) -> "Settings":
        api_url = _env("SLACK_API_URL", DEFAULT_SLACK_API_URL)
        if not api_url.endswith("/"):
            api_url += "/"
        return cls(
            broker=_env("WIREWATCH_BROKER", ""),
            partitions=_env_int("WIREWATCH_PARTITIONS", 4),
            watchlists_dir=Path(_env("WIREWATCH_WATCHLISTS", "config/watchlists")),
            glossary_path=Path(_env("WIREWATCH_GLOSSARY", "config/glossary.yaml")),
            presearch=_env("WIREWATCH_PRESEARCH", "1") not in {"0", "false", "no", "off"},
            static_model_dir=_env("WIREWATCH_STATIC_MODEL_DIR", ""),
            data_dir=Path(_env("WIREWATCH_DATA_DIR", "var/wirewatch")),
            http_port=_env_int("WIREWATCH_HTTP_PORT", 6066),
            http_host=_env("WIREWATCH_HTTP_HOST", "127.0.0.1"),
            app_id=_env("WIREWATCH_APP_ID", "wirewatch"),
            topic_prefix=_env("WIREWATCH_TOPIC_PREFIX", ""),
            session_timeout_s=_env_float("WIREWATCH_SESSION_TIMEOUT", 6.0),
            heartbeat_interval_s=_env_float("WIREWATCH_HEARTBEAT_INTERVAL", 2.0),
            embed_batch=_env_int("WIREWATCH_EMBED_BATCH", 32),
            embed_within_s=_env_float("WIREWATCH_EMBED_WITHIN", 0.05),
            embed_actors=_env_int("WIREWATCH_EMBED_ACTORS", 2),
            model_batch=_env_int("WIREWATCH_MODEL_BATCH", 4),
            model_workers=_env_int("WIREWATCH_MODEL_WORKERS", 0),
            max_item_bytes=_env_int("WIREWATCH_MAX_ITEM_BYTES", 1_000_000),
            max_message_bytes=_env_int("WIREWATCH_MAX_MESSAGE_BYTES", 1_000_000),
            reload_interval_s=_env_float("WIREWATCH_RELOAD_INTERVAL", 1.0),
            slack_token=_env("SLACK_BOT_TOKEN", ""),
            slack_api_url=api_url,
            stale_after_s=_env_float("WIREWATCH_STALE_AFTER", 48 * 3600.0),
            story_window_s=_env_float("WIREWATCH_STORY_WINDOW", 24 * 3600.0),
            ledger_retention_s=_env_float("WIREWATCH_LEDGER_RETENTION", 30 * 86400.0),
            ops_channel=_env("WIREWATCH_OPS_CHANNEL", "#wirewatch-ops"),
            deadman_silence_s=_env_float("WIREWATCH_DEADMAN_SILENCE", 900.0),
            deadman_lag=_env_int("WIREWATCH_DEADMAN_LAG", 1000),
            deadman_slack_s=_env_float("WIREWATCH_DEADMAN_SLACK", 300.0),
            log_format=_env("WIREWATCH_LOG_FORMAT", "auto"),
            console_alerts=_env("WIREWATCH_CONSOLE_ALERTS", "0") in {"1", "true", "yes"},
            broker_give_up_s=_env_float("WIREWATCH_BROKER_GIVE_UP", 60.0),
            stall_exit_s=_env_float("WIREWATCH_STALL_EXIT", 180.0),
            faust_commit_fix=_env("WIREWATCH_FAUST_COMMIT_FIX", "1") not in {"0", "false", "no"},
        )

    @property
    def topic_names(self) -> "TopicNames":
        return TopicNames(self.topic_prefix)

    @property
    def bootstrap_servers(self) -> list[str]:
        """host:port list for kafka-python, from the kafka:// URL."""
        return broker_url_to_servers(self.broker)


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
