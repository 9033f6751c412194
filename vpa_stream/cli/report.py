"""``vpa-stream report``: an HTML quality and signal-evaluation report of a dataset directory."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vpa_stream.cli.options import add_source_options, apply_defaults, make_sources, source_specs
from vpa_stream.cli.usage import UsageError
from vpa_stream.producers.sources.registry import usages


def register(subparsers: Any, defaults: dict[str, Any] | None = None) -> argparse.ArgumentParser:
    """Add the ``report`` subcommand to the CLI's subparsers."""
    rp: argparse.ArgumentParser = subparsers.add_parser(
        "report", help="an HTML quality and signal-evaluation report of a dataset directory",
        description="Label balance, faithfulness, duplicate rates, template diversity and forward-return hit "
                    "rates of a dataset, as index.html with PNG figures and report.json. Forward returns come "
                    "from --prices (same syntax as backfill's --source) and are never written into examples.")
    rp.add_argument("--in", dest="in_dir", required=True, help="dataset directory (examples-*.jsonl[.gz])")
    rp.add_argument("--out", dest="report_out", required=True, help="report directory")
    add_source_options(rp)
    rp.add_argument("--prices", dest="source", default="sample",
                    help=f"price source for forward returns: {usages()} (alias of --source; default: %(default)s)")
    rp.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: %(default)s)")
    rp.add_argument("--evaluate-from", default=None,
                    help="evaluate forward returns only on examples from this date (a held-out period)")
    rp.add_argument("--evaluate-to", default=None, help="... and up to this date (inclusive)")
    rp.add_argument("--tokenizer", default=None,
                    help="token counts per format: cl100k_base, o200k_base, a tokenizer.json or estimate "
                         "(default: cl100k when installed)")
    rp.set_defaults(handler=handler)
    apply_defaults(rp, defaults)
    return rp


def handler(args: argparse.Namespace, file_data: dict[str, Any]) -> int:
    from vpa_stream.producers.replay import bars_of
    from vpa_stream.sinks.report import load_dataset, summary_lines, write_report
    from vpa_stream.sinks.tokens import resolve_tokenizer

    in_dir = Path(args.in_dir)
    if not in_dir.is_dir():
        raise UsageError(f"--in {in_dir}: not a directory")
    rejected = 0

    def dead(_: object) -> None:
        nonlocal rejected
        rejected += 1

    resolve_tokenizer(getattr(args, "tokenizer", None))  # TokenizerError: a usage error, like the next
    examples = load_dataset(in_dir)  # before the price source: a download must not precede a typo
    bars = list(bars_of(make_sources(args), dead))
    report = write_report(examples, bars, Path(args.report_out), int(args.seed), ", ".join(source_specs(args)),
                          str(in_dir), (args.evaluate_from, args.evaluate_to), getattr(args, "tokenizer", None))
    print(f"vpa-stream report -> {Path(args.report_out) / 'index.html'}")
    for line in summary_lines(report):
        print("  " + line)
    if rejected:
        print(f"  price bars rejected {rejected:,}")
    return 0
