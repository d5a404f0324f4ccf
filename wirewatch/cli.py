"""The `wirewatch` command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from streams.processes import follow_parent_from_env, install_stop_signals
from streams.settings import Settings
from wirewatch.logs import RedactSecrets


SERVICES = frozenset({"broker", "worker", "slack-sink", "run"})


def _cmd_broker(args: argparse.Namespace) -> int:
    from streams.broker import BrokerError, EmbeddedBroker, ensure_topics

    try:
        broker = EmbeddedBroker(port=args.port).start()
    except BrokerError as exc:
        print(f"wirewatch broker: cannot start on 127.0.0.1:{args.port}: {exc}", file=sys.stderr)
        return 1
    try:
        ensure_topics([broker.bootstrap], args.partitions)
        print(f"WIREWATCH_BROKER={broker.url}", flush=True)
        print(f"wirewatch broker: Tansu (memory only) on {broker.bootstrap}; topics ready; Ctrl-C stops it", flush=True)
        while broker.process is not None and broker.process.poll() is None:
            time.sleep(0.5)
        print("wirewatch broker: Tansu exited", file=sys.stderr)
        return 1
    finally:
        broker.stop()


def _cmd_worker(args: argparse.Namespace) -> int:
    from wirewatch.worker import run_worker

    if args.watchlists:
        os.environ["WIREWATCH_WATCHLISTS"] = args.watchlists
    run_worker(Settings.from_env(), loglevel=args.loglevel)
    return 0


def _cmd_sink(args: argparse.Namespace) -> int:
    from wirewatch.slack_sink import serve

    channels = [c for c in (args.channels or "").split(",") if c] or None
    serve(args.port, token=args.token or os.environ.get("WIREWATCH_SINK_TOKEN", ""), channels=channels, host=args.host)
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    from wirewatch.ingest import ingest_file

    settings = Settings.from_env()
    if not settings.broker:
        print("WIREWATCH_BROKER is not set: start `wirewatch broker` and export the address it prints", file=sys.stderr)
        return 2
    path = Path(args.path)
    if not path.is_file():
        print(f"{path}: no such file", file=sys.stderr)
        return 2
    report = ingest_file(path, settings.bootstrap_servers, settings.topic_names)
    print(f"ingested {report.sent} items, rejected {report.rejected}")
    return 0 if report.rejected == 0 else 1


def _cmd_run(args: argparse.Namespace) -> int:
    from wirewatch.demo import SAMPLE, run_demo

    if not args.demo:
        print("only `wirewatch run --demo` exists today; use `wirewatch worker` for production", file=sys.stderr)
        return 2
    return run_demo(Path(args.sample) if args.sample else SAMPLE, duration_s=args.duration)


def _cmd_watchlists_check(args: argparse.Namespace) -> int:
    from agents.logic.watchlists import WatchlistErrors, load_watchlist_dir

    directory = Path(args.dir)
    try:
        loaded = load_watchlist_dir(directory)
    except WatchlistErrors as exc:
        for error in exc.errors:
            print(error)
        return 1
    for entry in loaded:
        print(f"ok {entry.path}: {entry.watchlist.id} version {entry.version}")
    return 0


def _cmd_watchlists_schema(args: argparse.Namespace) -> int:
    from wirewatch.watchlist_tools import cmd_schema

    return cmd_schema(Path(args.write) if args.write else None)


def _cmd_watchlists_test(args: argparse.Namespace) -> int:
    from wirewatch.watchlist_tools import cmd_test

    return cmd_test(Path(args.file), Path(args.data), args.against_current, Path(args.watchlists))


def _cmd_rescreen(args: argparse.Namespace) -> int:
    from wirewatch.rescreen import cmd_rescreen

    if args.watchlists:
        os.environ["WIREWATCH_WATCHLISTS"] = args.watchlists
    return cmd_rescreen(args.since, args.json)


def _cmd_status(args: argparse.Namespace) -> int:
    from wirewatch.status import cmd_status

    return cmd_status(args.url or f"http://127.0.0.1:{Settings.from_env().http_port}", args.json)


def _cmd_bench(args: argparse.Namespace) -> int:
    from wirewatch.bench import cmd_bench

    return cmd_bench(
        args.items, args.json, args.workers, args.latency_seconds, args.compare_backends,
        background=Path(args.background) if args.background else None, relevant_share=args.relevant_share,
    )


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from wirewatch.evaluate import cmd_evaluate

    return cmd_evaluate(
        Path(args.data), Path(args.watchlists), args.json, Path(args.plot) if args.plot else None,
        compare_full=args.compare_full, background=Path(args.background) if args.background else None, background_items=args.background_items,
    )


def _cmd_presearch_build(args: argparse.Namespace) -> int:
    from wirewatch.screening_setup import cmd_presearch_build

    return cmd_presearch_build([Path(p) for p in args.corpus], args.force)


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from wirewatch.evaluate import cmd_calibrate

    return cmd_calibrate(Path(args.data), Path(args.watchlists), args.folds, args.json)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wirewatch", description="Streaming news alerts for trade-compliance watchlists.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("broker", help="run the embedded Kafka-protocol broker (Tansu, memory only) in the foreground")
    p.add_argument("--port", type=int, default=9092)
    p.add_argument("--partitions", type=int, default=int(os.environ.get("WIREWATCH_PARTITIONS", "4")))
    p.set_defaults(func=_cmd_broker)

    p = sub.add_parser("worker", help="run the faust agents (embed, match, notify)")
    p.add_argument("--watchlists", help="watchlist folder (default: config/watchlists or $WIREWATCH_WATCHLISTS)")
    p.add_argument("--loglevel", default="info")
    p.set_defaults(func=_cmd_worker)

    p = sub.add_parser("slack-sink", help="run a local Slack-Web-API-compatible server")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--token", help="token to require (default: $WIREWATCH_SINK_TOKEN, or accept any)")
    p.add_argument("--channels", help="comma-separated channel names; others get channel_not_found")
    p.set_defaults(func=_cmd_sink)

    p = sub.add_parser("ingest", help="produce news items from a JSON-lines file to the news topic")
    p.add_argument("path")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("run", help="run everything locally")
    p.add_argument("--demo", action="store_true", help="embedded broker + Slack sink + worker + sample feed")
    p.add_argument("--sample", help="JSON-lines feed to ingest (default: the bundled sample)")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: run until Ctrl-C)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("watchlists", help="watchlist tools")
    wsub = p.add_subparsers(dest="watchlists_command", required=True)
    c = wsub.add_parser("check", help="validate watchlist files; errors as FILE:LINE: field: message")
    c.add_argument("dir", nargs="?", default=os.environ.get("WIREWATCH_WATCHLISTS", "config/watchlists"))
    c.set_defaults(func=_cmd_watchlists_check)
    c = wsub.add_parser("schema", help="print (or --write) the JSON Schema of a watchlist file")
    c.add_argument("--write", help="write it to this path, e.g. config/watchlist.schema.json")
    c.set_defaults(func=_cmd_watchlists_schema)
    c = wsub.add_parser("test", help="dry run: what a watchlist file would match in a JSON-lines news file")
    c.add_argument("file", help="the watchlist YAML file (an edited copy)")
    c.add_argument("--data", required=True, help="JSON lines with id, title, body")
    c.add_argument("--against-current", action="store_true", help="compare with the same id in --watchlists")
    c.add_argument("--watchlists", default=os.environ.get("WIREWATCH_WATCHLISTS", "config/watchlists"))
    c.set_defaults(func=_cmd_watchlists_test)

    default_watchlists = os.environ.get("WIREWATCH_WATCHLISTS", "config/watchlists")
    p = sub.add_parser("evaluate", help="precision, recall and F1 per watchlist on labelled JSON lines")
    p.add_argument("data", help="JSON lines with id, title, body, labels")
    p.add_argument("--watchlists", default=default_watchlists)
    p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    p.add_argument("--plot", help="write precision-recall curves to this PNG")
    p.add_argument("--compare-full", action="store_true", help="also run the full matcher on every item: matches the cascade keeps")
    p.add_argument("--background", help="unlabelled JSON lines screened too (cascade figures only), e.g. a feed sample")
    p.add_argument("--background-items", type=int, default=3000, help="how many --background items to read (default 3000)")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("presearch", help="the screening cascade's static model")
    psub = p.add_subparsers(dest="presearch_command", required=True)
    c = psub.add_parser("build", help="distil the static model from the installed MiniLM (offline) and calibrate it")
    c.add_argument("--corpus", action="append", default=[], help="JSON lines (title, body) to fit on (default: the bundled dev set)")
    c.add_argument("--force", action="store_true", help="rebuild even if it is built")
    c.set_defaults(func=_cmd_presearch_build)

    p = sub.add_parser("status", help="a running worker's readiness, lag, last item, watchlists and Slack state")
    p.add_argument("--url", help="worker web address (default http://127.0.0.1:$WIREWATCH_HTTP_PORT)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("bench", help="ceiling, pipeline, naive and latency figures on this machine")
    p.add_argument("--items", type=int, default=2000)
    p.add_argument("--workers", type=int, default=1, help="worker processes sharing the partitions")
    p.add_argument("--compare-backends", action="store_true", help="also time ONNX fp32 and int8 (needs the [onnx] extra)")
    p.add_argument("--latency-seconds", type=float, default=20.0, help="how long to offer load for the latency figure")
    p.add_argument("--background", help="JSON lines of background news: bench a firehose mix instead of the enriched dev stream")
    p.add_argument("--relevant-share", type=float, default=0.02, help="share of dev items in the --background mix (default 0.02)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("rescreen", help="re-match recent items from news.embedded with the current watchlists")
    p.add_argument("--since", default="24h", help="how far back, e.g. 90m, 24h, 7d (default 24h)")
    p.add_argument("--watchlists", help="watchlist folder (default: $WIREWATCH_WATCHLISTS or config/watchlists)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_rescreen)

    p = sub.add_parser("calibrate", help="held-out and cross-validated quality, and recommended thresholds")
    p.add_argument("data", help="JSON lines with id, title, body, labels")
    p.add_argument("--watchlists", default=default_watchlists)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_calibrate)

    args = parser.parse_args(argv)
    follow_parent_from_env()  # a child of `run --demo`, bench or the tests stops when its parent dies
    install_stop_signals()  # SIGTERM stops a command the way Ctrl-C does
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecrets())  # the worker's own logging config does the same
    logging.getLogger("kafka").setLevel(logging.WARNING)  # its INFO lines drown the command's own output
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        # Services run until they are told to stop, so that is a success; a one-shot command
        # cut short is not (130, as a shell reports Ctrl-C).
        return 0 if args.command in SERVICES else 130


if __name__ == "__main__":
    sys.exit(main())
