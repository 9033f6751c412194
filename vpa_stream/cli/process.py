"""``vpa-stream process``: a Faust stream-processor worker, restarted when it ends abnormally."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from vpa_stream.cli.options import add_kafka_options, apply_defaults, run_timeframes
from vpa_stream.settings import engine_config


def register(subparsers: Any, defaults: dict[str, Any] | None = None) -> argparse.ArgumentParser:
    pr: argparse.ArgumentParser = subparsers.add_parser(
        "process", help="run a stream processor worker (faust-streaming)",
        description="Consume bars, keep per-symbol windows in a changelog-backed table, produce "
                    "Avro examples. Start several with the same --topic-prefix to scale out.")
    add_kafka_options(pr)
    pr.add_argument("--partitions", type=int, default=6, help="partitions of the topics (default: %(default)s)")
    pr.add_argument("--app-id", default=None, help="consumer group / app id (default: PREFIX + processor)")
    pr.add_argument("--timeframe", default=None,
                    help="primary timeframe: only its bars make examples, bars of other timeframes are context "
                         "(default: every timeframe makes examples)")
    pr.add_argument("--loglevel", default="WARNING", help="worker log level (default: %(default)s)")
    pr.add_argument("--datadir", default=None,
                    help="Faust's data directory (default: vpa-stream/APP-ID-data under the system temp directory; the "
                         "state itself lives in the changelog topic)")
    pr.add_argument("--no-restart", action="store_true",
                    help="run the worker in this process and exit when it stops itself (exit 1: a failed produce, "
                         "records the consumer skipped), for a process manager to restart; by default the command "
                         "starts a new worker whenever one ends abnormally, and gives up after 10 in a row that each "
                         "ended within a minute of their start")
    pr.set_defaults(handler=handler)
    apply_defaults(pr, defaults)
    return pr


def handler(args: argparse.Namespace, file_data: dict[str, Any]) -> int:
    from vpa_stream.processors.faust_app import build_app, run_worker
    from vpa_stream.schemas.topics import Topics, create_topics, quiet_client_logs

    if not args.no_restart:
        from vpa_stream.processes import run_restarting

        return run_restarting([*args.argv, "--no-restart"], lambda line: print(f"vpa-stream process: {line}",
                                                                                file=sys.stderr, flush=True))
    quiet_client_logs(args.verbose)
    logging.getLogger().setLevel(str(args.loglevel).upper())  # Faust's own logs too (the handler is main's)
    topics = Topics(args.topic_prefix)
    wait = float(args.broker_timeout)
    create_topics(args.bootstrap_servers, topics, int(args.partitions), wait_s=wait)  # Faust needs its source topic
    primary = (run_timeframes(args).primary,) if args.timeframe else None
    app = build_app(args.bootstrap_servers, topics, engine_config(file_data), int(args.partitions), args.app_id,
                    datadir=Path(args.datadir) if args.datadir else None, broker_timeout_s=wait,
                    primary_timeframes=primary)
    run_worker(app, str(args.loglevel).upper())
    return 0
