"""The `wirewatch` command: one click group; settings are read once here and passed down."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import click

from streams.processes import follow_parent_from_env, install_stop_signals
from streams.settings import Settings, SettingsError, example_env
from wirewatch.logs import EXTRA_SECRETS, RedactSecrets

# Commands that run until told to stop: Ctrl-C ends them successfully.
SERVICES = frozenset({"broker", "worker", "slack-sink", "run"})
EXAMPLE_ENV = Path("config/settings.example.env")

json_flag = click.option("--json", "as_json", is_flag=True, help="print exactly one JSON object on stdout")
watchlists_option = click.option("--watchlists", type=click.Path(path_type=Path), help="watchlist folder (default: $WIREWATCH_WATCHLISTS)")


EXIT_CODES = """Exit codes: 0 done (a service: stopped on request); 1 the command's own failure (see its
--help); 2 a usage or settings error; 3 the broker could not be reached or was lost; 4 a worker
stalled; 5 the broker refused the login or its TLS certificate is not trusted; 130 a one-shot
command interrupted."""


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True}, epilog=EXIT_CODES)
@click.version_option(package_name="wirewatch", prog_name="wirewatch")
@click.option("--env-file", type=click.Path(path_type=Path, dir_okay=False), help="read settings from this file instead of ./.env")
@click.pass_context
def cli(ctx: click.Context, env_file: Path | None) -> None:
    """Streaming news alerts for trade-compliance watchlists."""
    follow_parent_from_env()  # a child of `run --demo`, bench or the tests stops when its parent dies
    install_stop_signals()  # SIGTERM stops a command the way Ctrl-C does
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecrets())  # the worker's own logging config does the same
    # kafka-python's INFO lines drown a command's own output, and while a broker is unreachable it logs
    # every retry: the command reports that itself, in one line.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    if env_file is not None and not env_file.is_file():
        raise click.BadParameter(f"{env_file}: no such file", param_hint="--env-file")
    ctx.obj = Settings.from_env(env_file)
    if len(ctx.obj.kafka_sasl_password) >= 4:  # masked in every log line, whatever prints it
        EXTRA_SECRETS.add(ctx.obj.kafka_sasl_password)


def _folder(settings: Settings, given: Path | None) -> Settings:
    return settings if given is None else settings.model_copy(update={"watchlists_dir": given})


@cli.command()
@click.option("--port", type=int, default=9092, help="loopback port to listen on")
@click.option("--partitions", type=int, help="partitions per topic (default: $WIREWATCH_PARTITIONS)")
@click.option("--log", "log_path", type=click.Path(path_type=Path), help="append Tansu's own output to this file (default: discarded)")
@click.option("--tls-cert", type=click.Path(path_type=Path, exists=True, dir_okay=False), help="serve TLS with this certificate (PEM)")
@click.option("--tls-key", type=click.Path(path_type=Path, exists=True, dir_okay=False), help="private key of --tls-cert (PEM)")
@click.option("--user", "users", multiple=True, metavar="NAME:PASSWORD",
              help="require a SASL login; repeat for more users (the process list shows it: a development broker)")
@click.option("--sasl-mechanisms", default="PLAIN,SCRAM-SHA-256,SCRAM-SHA-512", help="mechanisms offered with --user")
@click.pass_obj
def broker(settings: Settings, port: int, partitions: int | None, log_path: Path | None, tls_cert: Path | None,
           tls_key: Path | None, users: tuple[str, ...], sasl_mechanisms: str) -> int:
    """Run the embedded Kafka-protocol broker (Tansu, memory only) in the foreground.

    With --tls-cert/--tls-key and --user, clients connect with TLS and a SASL login (PLAIN,
    SCRAM-SHA-256, SCRAM-SHA-512), through a gateway in this process: Tansu's own TLS and
    SASL do not work in the shipped build (docs/security.md)."""
    from streams.broker import BrokerError, EmbeddedBroker, ensure_topics

    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    pairs = [user.split(":", 1) for user in users if ":" in user]
    accounts = dict(pairs)
    if len(pairs) != len(users) or not all(accounts) or not all(accounts.values()):
        raise click.BadParameter("write each as NAME:PASSWORD, both non-empty", param_hint="--user")
    if len(accounts) != len(pairs):
        raise click.BadParameter("each user name once", param_hint="--user")
    mechanisms = tuple(dict.fromkeys(m.strip().upper() for m in sasl_mechanisms.split(",") if m.strip()))
    if accounts and (not mechanisms or not set(mechanisms) <= {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}):
        raise click.BadParameter("one or more of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", param_hint="--sasl-mechanisms")
    try:
        embedded = EmbeddedBroker(port=port, tls=(tls_cert, tls_key) if tls_cert and tls_key else None, users=accounts,
                                  mechanisms=mechanisms).start(log_path)
    except BrokerError as exc:
        click.echo(f"wirewatch broker: cannot start on 127.0.0.1:{port}: {exc}", err=True)
        return 1
    try:
        ensure_topics([embedded.bootstrap], partitions or settings.partitions, settings.topic_names, client_options=embedded.admin_options())
        click.echo(f"WIREWATCH_BROKER={embedded.url}")
        for line in _client_settings(tls_cert, accounts, mechanisms):
            click.echo(line)
        click.echo(f"wirewatch broker: Tansu (memory only) on {embedded.bootstrap}; topics ready; Ctrl-C stops it")
        while embedded.process is not None and embedded.process.poll() is None:
            time.sleep(0.5)
        click.echo(f"wirewatch broker: Tansu exited with code {embedded.process.returncode if embedded.process else '?'}", err=True)
        return 1
    finally:
        embedded.stop()


def _client_settings(tls_cert: Path | None, accounts: dict[str, str], mechanisms: tuple[str, ...]) -> list[str]:
    """What a client of a secured embedded broker sets (the password is the one given to --user)."""
    if tls_cert is None and not accounts:
        return []
    protocol = ("SASL_" if accounts else "") + ("SSL" if tls_cert else "PLAINTEXT")
    lines = [f"WIREWATCH_KAFKA_SECURITY_PROTOCOL={protocol}"]
    if tls_cert is not None:
        lines.append(f"WIREWATCH_KAFKA_SSL_CAFILE={tls_cert.resolve()}")
    if accounts:
        lines += [f"WIREWATCH_KAFKA_SASL_MECHANISM={mechanisms[-1]}", f"WIREWATCH_KAFKA_SASL_USERNAME={next(iter(accounts))}",
                  "# and WIREWATCH_KAFKA_SASL_PASSWORD=<the password given to --user>"]
    return lines


@cli.command()
@watchlists_option
@click.option("--loglevel", default="info", help="log level of the worker's own lines (debug, info, warning, error)")
@click.pass_obj
def worker(settings: Settings, watchlists: Path | None, loglevel: str) -> int:
    """Run the faust agents (embed, match, notify)."""
    from wirewatch.worker import run_worker

    run_worker(_folder(settings, watchlists), loglevel=loglevel)
    return 0


@cli.command("slack-sink")
@click.option("--port", type=int, default=8765, help="port to listen on")
@click.option("--host", default="127.0.0.1", help="address to bind; loopback unless containers must reach it")
@click.option("--token", envvar="WIREWATCH_SINK_TOKEN", default="", help="token to require (default: $WIREWATCH_SINK_TOKEN, or accept any)")
@click.option("--channels", default="", help="comma-separated channel names; others get channel_not_found")
def slack_sink(port: int, host: str, token: str, channels: str) -> int:
    """Run a local Slack-Web-API-compatible server."""
    from wirewatch.slack_sink import serve

    serve(port, token=token, channels=[c for c in channels.split(",") if c] or None, host=host)
    return 0


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.pass_obj
def ingest(settings: Settings, path: Path) -> int:
    """Produce news items from a JSON-lines file to the news topic.

    The whole file is checked first (FILE:LINE: reason for each bad line), then sent.
    Exit codes: 0 all sent; 1 some lines refused (the rest sent); 2 no broker set or no file;
    3 the broker could not be reached; 5 it refused the login or its certificate is not trusted.
    """
    from streams.kafka_security import BrokerUnreachable, KafkaAccessDenied
    from wirewatch.ingest import ingest_file

    if not settings.broker:
        click.echo("WIREWATCH_BROKER is not set: start `wirewatch broker` and export the address it prints", err=True)
        return 2
    if not path.is_file():
        click.echo(f"{path}: no such file", err=True)
        return 2
    try:
        report = ingest_file(path, settings.bootstrap_servers, settings.topic_names, security=settings.kafka_security)
    except BrokerUnreachable as exc:
        click.echo(f"wirewatch ingest: {exc}", err=True)
        return 3
    except KafkaAccessDenied as exc:
        click.echo(f"wirewatch ingest: {exc}", err=True)
        return 5
    click.echo(f"ingested {report.sent} items, rejected {report.rejected}")
    return 0 if report.rejected == 0 else 1


@cli.command()
@click.option("--demo", is_flag=True, help="embedded broker + Slack sink + worker + sample feed")
@click.option("--sample", type=click.Path(path_type=Path), help="JSON-lines feed to ingest (default: the bundled sample)")
@click.option("--duration", type=float, help="stop after this many seconds (default: run until Ctrl-C)")
@click.pass_obj
def run(settings: Settings, demo: bool, sample: Path | None, duration: float | None) -> int:
    """Run everything locally."""
    from wirewatch.demo import SAMPLE, run_demo

    if not demo:
        click.echo("only `wirewatch run --demo` exists today; use `wirewatch worker` for production", err=True)
        return 2
    return run_demo(settings, sample or SAMPLE, duration_s=duration)


@cli.group()
def watchlists() -> None:
    """Check, test and describe watchlist files."""


@watchlists.command("check")
@watchlists_option
@click.pass_obj
def watchlists_check(settings: Settings, watchlists: Path | None) -> int:
    """Validate watchlist files; errors as FILE:LINE: field: message (exit 1)."""
    from wirewatch.watchlist_tools import cmd_check

    return cmd_check(watchlists or settings.watchlists_dir)


@watchlists.command("schema")
@click.option("--write", type=click.Path(path_type=Path), help="write it to this path, e.g. config/watchlist.schema.json")
def watchlists_schema(write: Path | None) -> int:
    """Print (or --write) the JSON Schema of a watchlist file."""
    from wirewatch.watchlist_tools import cmd_schema

    return cmd_schema(write)


@watchlists.command("test")
@click.argument("file", type=click.Path(path_type=Path))
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--against-current", is_flag=True, help="compare with the list of the same id in --watchlists")
@click.option("--near-misses", type=click.IntRange(min=0), default=0, show_default=True,
              help="also show the N closest items that did not match, and what stopped each")
@watchlists_option
@click.pass_obj
def watchlists_test(settings: Settings, file: Path, data: Path, against_current: bool, near_misses: int,
                    watchlists: Path | None) -> int:
    """Dry run: what the watchlist FILE would match in DATA (JSON lines with id, title, body)."""
    from wirewatch.watchlist_tools import cmd_test

    return cmd_test(settings, file, data, against_current, watchlists or settings.watchlists_dir, near_misses=near_misses)


@cli.group()
def alerts() -> None:
    """The alerts topic's contract."""


@alerts.command("schema")
@click.option("--write", type=click.Path(path_type=Path), help="write it to this path, e.g. streams/schemas/alert.v1.json")
def alerts_schema(write: Path | None) -> int:
    """Print (or --write) the Alert v1 JSON Schema, generated from the model."""
    import json

    from streams.records import alert_json_schema

    text = json.dumps(alert_json_schema(), indent=2, ensure_ascii=False) + "\n"
    if write is None:
        click.echo(text, nl=False)
    else:
        write.write_text(text, encoding="utf-8")
        click.echo(f"wrote {write}")
    return 0


@cli.command()
@click.argument("data", type=click.Path(path_type=Path))
@watchlists_option
@json_flag
@click.option("--plot", type=click.Path(path_type=Path), help="write precision-recall curves to this PNG")
@click.option("--compare-full", is_flag=True, help="also run the full matcher on every item: matches the cascade keeps")
@click.option("--background", type=click.Path(path_type=Path), help="unlabelled JSON lines screened too (cascade figures only)")
@click.option("--background-items", type=int, default=3000, show_default=True, help="how many --background items to read")
@click.pass_obj
def evaluate(settings: Settings, data: Path, watchlists: Path | None, as_json: bool, plot: Path | None, compare_full: bool,
             background: Path | None, background_items: int) -> int:
    """Precision, recall and F1 per watchlist on labelled JSON lines."""
    from wirewatch.evaluate import cmd_evaluate

    return cmd_evaluate(settings, data, watchlists or settings.watchlists_dir, as_json, plot,
                        compare_full=compare_full, background=background, background_items=background_items)


@cli.command()
@click.argument("data", type=click.Path(path_type=Path))
@watchlists_option
@click.option("--folds", type=int, default=5, help="cross-validation folds")
@json_flag
@click.pass_obj
def calibrate(settings: Settings, data: Path, watchlists: Path | None, folds: int, as_json: bool) -> int:
    """Held-out and cross-validated quality, recommended thresholds and presearch cut-offs."""
    from wirewatch.evaluate import cmd_calibrate

    return cmd_calibrate(settings, data, watchlists or settings.watchlists_dir, folds, as_json)


@cli.group()
def presearch() -> None:
    """The screening cascade's static model."""


@presearch.command("build")
@click.option("--corpus", multiple=True, type=click.Path(path_type=Path), help="JSON lines (title, body) to fit on (default: the bundled dev set)")
@click.option("--force", is_flag=True, help="rebuild even if it is built")
@click.pass_obj
def presearch_build(settings: Settings, corpus: tuple[Path, ...], force: bool) -> int:
    """Export MiniLM to ONNX if that is missing, then distil the static model from it (offline) and calibrate it."""
    from wirewatch.screening_setup import cmd_presearch_build

    return cmd_presearch_build(settings, list(corpus), force)


@cli.command()
@click.option("--url", help="worker web address (default http://127.0.0.1:$WIREWATCH_HTTP_PORT)")
@json_flag
@click.pass_obj
def status(settings: Settings, url: str | None, as_json: bool) -> int:
    """A running worker's readiness, lag, last item, watchlists and Slack state."""
    from wirewatch.status import cmd_status

    return cmd_status(url or f"http://127.0.0.1:{settings.http_port}", as_json)


@cli.command()
@click.option("--items", type=int, default=2000, help="news items to time the pipeline on")
@click.option("--workers", type=int, default=1, show_default=True, help="worker processes sharing the partitions")
@click.option("--compare-backends", is_flag=True, help="also time ONNX fp32 and int8 against torch")
@click.option("--latency-seconds", type=float, default=60.0, show_default=True,
              help="how long to offer load for the latency figure (on the --background mix, about 100 alerts at half load on one worker)")
@click.option("--background", type=click.Path(path_type=Path), help="JSON lines of background news: bench a firehose mix")
@click.option("--relevant-share", type=float, default=0.02, show_default=True, help="share of dev items in the --background mix")
@click.option("--non-english-share", type=float, default=0.0, show_default=True,
              help="share of ordinary news not in English (config/labelled/news-multilingual-background.jsonl) in the --background mix")
@json_flag
@click.pass_obj
def bench(settings: Settings, items: int, workers: int, compare_backends: bool, latency_seconds: float, background: Path | None,
          relevant_share: float, non_english_share: float, as_json: bool) -> int:
    """Ceiling, pipeline, naive and latency figures on this machine."""
    from wirewatch.bench import cmd_bench

    return cmd_bench(settings, items, as_json, workers, latency_seconds, compare_backends, background=background, relevant_share=relevant_share,
                     non_english_share=non_english_share)


@cli.command()
@click.option("--since", default="24h", show_default=True, help="how far back, e.g. 90m, 24h, 7d")
@watchlists_option
@json_flag
@click.pass_obj
def rescreen(settings: Settings, since: str, watchlists: Path | None, as_json: bool) -> int:
    """Re-match recent items from news.embedded with the current watchlists."""
    from wirewatch.rescreen import cmd_rescreen

    return cmd_rescreen(_folder(settings, watchlists), since, as_json)


@cli.command("settings")
@click.option("--example", is_flag=True, help="print every setting with its default, as an env file")
@click.option("--write", type=click.Path(path_type=Path), help=f"write the example to this path, e.g. {EXAMPLE_ENV}")
@click.pass_obj
def settings_command(settings: Settings, example: bool, write: Path | None) -> int:
    """Show the settings in effect (tokens masked), or the example env file."""
    if write is not None:
        write.write_text(example_env(), encoding="utf-8")
        click.echo(f"wrote {write}")
    elif example:
        click.echo(example_env(), nl=False)
    else:
        for name, value in settings.model_dump().items():
            secret = Settings.model_fields[name].repr is False
            shown = "***" if secret and value else int(value) if isinstance(value, bool) else value
            click.echo(f"{Settings.model_fields[name].validation_alias}={shown}")
    return 0


def _with_exit_codes(group: click.Group) -> None:
    """Every command's --help ends with the exit codes (a command's own are in its text)."""
    for command in group.commands.values():
        command.epilog = command.epilog or EXIT_CODES
        if isinstance(command, click.Group):
            _with_exit_codes(command)


_with_exit_codes(cli)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = next((a for a in args if not a.startswith("-")), "")
    try:
        result: Any = cli.main(args=args, prog_name="wirewatch", standalone_mode=False)
    except click.exceptions.Abort:
        # Services run until they are told to stop, so that is a success; a one-shot command
        # cut short is not (130, as a shell reports Ctrl-C).
        return 0 if command in SERVICES else 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except SettingsError as exc:
        click.echo(f"wirewatch: invalid setting: {exc}", err=True)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
