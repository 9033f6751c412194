"""``vpa-stream sink``: examples and dead letters from Kafka into rotating JSONL files, exactly once."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vpa_stream.cli.options import add_kafka_options, add_sink_options, apply_defaults, sink_options, stop_flag


def register(subparsers: Any, defaults: dict[str, Any] | None = None) -> argparse.ArgumentParser:
    sk: argparse.ArgumentParser = subparsers.add_parser(
        "sink", help="write examples from Kafka into rotating JSONL files, exactly once",
        description="Consume examples and dead letters, write rotating JSONL with a manifest; "
                    "offsets are committed only after the files holding them are durable.")
    add_kafka_options(sk)
    sk.add_argument("--out", default="data", help="output directory (default: %(default)s)")
    add_sink_options(sk)
    sk.add_argument("--group-id", default=None, help="consumer group (default: PREFIX + sink)")
    sk.add_argument("--idle-commit", type=float, default=1.0,
                    help="seconds without records after which open files are committed (default: %(default)s)")
    sk.add_argument("--max-file-age", type=float, default=1.0,
                    help="seconds after its first record that an open file is committed (default: %(default)s)")
    sk.add_argument("--exit-when-idle", type=float, default=None,
                    help="exit after this many seconds without records (default: run until stopped)")
    sk.set_defaults(handler=handler)
    apply_defaults(sk, defaults)
    return sk


def handler(args: argparse.Namespace, file_data: dict[str, Any]) -> int:
    from vpa_stream.schemas.topics import Topics, create_topics, quiet_client_logs
    from vpa_stream.sinks.kafka_sink import KafkaDatasetSink

    quiet_client_logs(args.verbose)
    topics = Topics(args.topic_prefix)
    wait = float(args.broker_timeout)
    create_topics(args.bootstrap_servers, topics, wait_s=wait)
    sink = KafkaDatasetSink(args.bootstrap_servers, topics, Path(args.out), sink_options(args),
                            group_id=args.group_id, idle_commit_s=float(args.idle_commit),
                            max_file_age_s=float(args.max_file_age), broker_timeout_s=wait)
    summary = sink.run(exit_when_idle_s=args.exit_when_idle, stop=stop_flag())
    print(f"vpa-stream sink -> {args.out}")
    for line in summary.lines():
        print("  " + line)
    return 0
