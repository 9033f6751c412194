"""``vpa-stream topics create``: the bars, examples and dead-letter topics of a prefix."""

from __future__ import annotations

import argparse
from typing import Any

from vpa_stream.cli.options import add_kafka_options, apply_defaults


def register(subparsers: Any, defaults: dict[str, Any] | None = None) -> argparse.ArgumentParser:
    tp: argparse.ArgumentParser = subparsers.add_parser("topics", help="Kafka topics of the pipeline",
                                                        description="Manage the bars, examples and dead-letter "
                                                                    "topics.")
    tsub = tp.add_subparsers(dest="topics_command", metavar="ACTION")
    tc = tsub.add_parser("create", help="create the topics (existing ones are left as they are)")
    add_kafka_options(tc)
    tc.add_argument("--partitions", type=int, default=6, help="partitions per topic (default: %(default)s)")
    tc.add_argument("--replication-factor", type=int, default=1, help="replication factor (default: %(default)s)")
    tc.set_defaults(handler=create)
    apply_defaults(tc, defaults)
    return tp


def create(args: argparse.Namespace, file_data: dict[str, Any]) -> int:
    from vpa_stream.schemas.topics import Topics, create_topics

    status = create_topics(args.bootstrap_servers, Topics(args.topic_prefix), int(args.partitions),
                           int(args.replication_factor))
    for name, state in status.items():
        print(f"{name}: {state}")
    return 0
