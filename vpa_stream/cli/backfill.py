"""``vpa-stream backfill``: a source through the engine into a dataset directory, in one process tree."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vpa_stream.cli.options import (
    add_sink_options,
    add_source_options,
    apply_defaults,
    make_sources,
    progress,
    run_timeframes,
    sink_options,
)
from vpa_stream.cli.usage import UsageError
from vpa_stream.settings import engine_config


def register(subparsers: Any, defaults: dict[str, Any] | None = None) -> argparse.ArgumentParser:
    bf: argparse.ArgumentParser = subparsers.add_parser(
        "backfill", help="build a dataset from a source in one process (no broker)",
        description="Replay a source in event-time order through the VPA engine and write "
                    "rotating JSONL examples plus a manifest into --out.")
    add_source_options(bf)
    bf.add_argument("--out", default="data", help="output directory (default: %(default)s)")
    add_sink_options(bf)
    bf.add_argument("--no-progress", action="store_true", help="no progress bar")
    bf.add_argument("--workers", type=int, default=None,
                    help="engine processes, symbols partitioned over them as Kafka partitions keys (default: the "
                         "cores available; 1 runs the engine in the main process); the files are the same bytes")
    bf.add_argument("--single-process", action="store_true",
                    help="run every stage in this process (for debugging; one worker): the same bytes")
    bf.add_argument("--verify-wire", action="store_true",
                    help="round-trip every example through its Avro schema and stop at one that changes")
    bf.add_argument("--then-live", action="store_true",
                    help="after the backfill, fill the gap to now and keep polling its source (yfinance, or a file "
                         "a recorder appends to)")
    bf.add_argument("--grace", type=float, default=None, help="with --then-live: seconds after a close before polling")
    bf.set_defaults(handler=handler)
    apply_defaults(bf, defaults)
    return bf


def handler(args: argparse.Namespace, file_data: dict[str, Any]) -> int:
    from vpa_stream.engine_processes import MAX_PARTITIONS
    from vpa_stream.pipeline import run_backfill

    options = sink_options(args)
    workers = None if args.workers is None else int(args.workers)
    if workers is not None and not 1 <= workers <= MAX_PARTITIONS:
        raise UsageError(f"--workers {workers}: must be between 1 and {MAX_PARTITIONS}")
    if args.single_process and workers not in (None, 1):
        raise UsageError(f"--single-process runs one engine: use it with --workers 1, not {workers}")
    cfg = engine_config(file_data)
    sources = make_sources(args)
    out = Path(args.out)
    bar = progress(args)
    try:
        summary = run_backfill(sources, out, cfg, options, progress=bar.update if bar is not None else None,
                               parallel=not args.single_process, timeframes=run_timeframes(args),
                               workers=workers, verify_wire=bool(args.verify_wire))
    finally:
        if bar is not None:
            bar.close()
    print(f"vpa-stream backfill -> {out}")
    for line in summary.lines():
        print("  " + line)
    if args.then_live:
        from vpa_stream.cli.live import then_live

        return then_live(args, file_data)
    return 0
