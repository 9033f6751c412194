"""``vpa-stream replay``: a source's bars in event-time order to the Kafka bars topic."""

from __future__ import annotations

import argparse
from typing import Any

from vpa_stream.cli.options import (
    add_kafka_options,
    add_source_options,
    apply_defaults,
    make_sources,
    progress,
    run_timeframes,
)
from vpa_stream.cli.usage import UsageError


def register(subparsers: Any, defaults: dict[str, Any] | None = None) -> argparse.ArgumentParser:
    rp: argparse.ArgumentParser = subparsers.add_parser(
        "replay", help="send a source's time-ordered bars to the Kafka bars topic",
        description="Replay a source in event-time order to the bars topic (Avro, key = symbol), "
                    "with an idempotent producer and acks=all.")
    add_source_options(rp)
    add_kafka_options(rp)
    rp.add_argument("--speed", type=float, default=0.0,
                    help="0: as fast as possible; N: N times real time on one global clock (default: 0)")
    rp.add_argument("--no-progress", action="store_true", help="no progress bar")
    rp.set_defaults(handler=handler)
    apply_defaults(rp, defaults)
    return rp


def handler(args: argparse.Namespace, file_data: dict[str, Any]) -> int:
    from vpa_stream.pipeline import timeframe_lines
    from vpa_stream.producers.kafka_replay import BarPublisher, make_producer, replay_to_kafka
    from vpa_stream.schemas.topics import Topics, quiet_client_logs

    quiet_client_logs(args.verbose)
    sources = make_sources(args)
    speed = float(args.speed)
    if speed < 0:
        raise UsageError("--speed must be 0 or positive")
    wait = float(args.broker_timeout)
    publisher = BarPublisher(make_producer(args.bootstrap_servers, wait), Topics(args.topic_prefix),
                             broker_timeout_s=wait)
    bar = progress(args, "replay")
    try:
        summary = replay_to_kafka(sources, publisher, speed, progress=bar.update if bar is not None else None,
                                  require=run_timeframes(args).required)
    finally:
        if bar is not None:
            bar.close()
        publisher.producer.close()  # type: ignore[attr-defined]
    print(f"vpa-stream replay -> {Topics(args.topic_prefix).bars} at {args.bootstrap_servers}")
    for i, line in enumerate(timeframe_lines(sources, (run_timeframes(args).primary,))):
        print(f"  {'timeframes' if i == 0 else '':<15}{line}")
    for line in summary.lines():
        print("  " + line)
    return 0
