"""``vpa-stream audit``: re-run the engine on truncated histories and report any lookahead (exit 1)."""

from __future__ import annotations

import argparse
from typing import Any

from vpa_stream.cli.options import add_source_options, apply_defaults, make_sources, run_timeframes, source_specs
from vpa_stream.cli.usage import UsageError
from vpa_stream.processors.audit import audit, engine_factory


def register(subparsers: Any, defaults: dict[str, Any] | None = None) -> argparse.ArgumentParser:
    """Add the ``audit`` subcommand to the CLI's subparsers."""
    au: argparse.ArgumentParser = subparsers.add_parser(
        "audit", help="check for lookahead: re-run the engine on histories truncated at random bars",
        description="Run the engine over the source once, then re-run it on the history up to N randomly chosen "
                    "bars (seeded) and report every example that differs from the full run. Exit code 1 if one "
                    "does.")
    add_source_options(au)
    au.add_argument("--samples", type=int, default=50, help="truncation points (default: %(default)s)")
    au.add_argument("--seed", type=int, default=0, help="seed of the choice of points (default: %(default)s)")
    au.add_argument("--from-start", action="store_true",
                    help="replay each truncated history from the symbol's first bar instead of the engine's "
                         "lookback window before t (slower; also checks state older than the window)")
    au.set_defaults(handler=handler)
    apply_defaults(au, defaults)
    return au


def handler(args: argparse.Namespace, file_data: dict[str, Any]) -> int:
    from vpa_stream.producers.replay import bars_of
    from vpa_stream.settings import engine_config

    if args.samples < 1:
        raise UsageError("--samples must be positive")
    cfg = engine_config(file_data)
    rejected = 0

    def dead(_: object) -> None:
        nonlocal rejected
        rejected += 1

    timeframes = run_timeframes(args)
    bars = list(bars_of(make_sources(args), dead, timeframes.required))
    result = audit(bars, engine_factory(cfg, (timeframes.primary,)), int(args.samples), int(args.seed), cfg,
                   from_start=bool(args.from_start))
    print(f"vpa-stream audit ({', '.join(source_specs(args))}, seed {args.seed})")
    for line in result.lines():
        print("  " + line)
    if rejected:
        print(f"  rejected bars      {rejected:,} (not replayed)")
    print("  OK: no example depends on a later bar" if result.ok else "  FAILED: lookahead or impurity found")
    return 0 if result.ok else 1
