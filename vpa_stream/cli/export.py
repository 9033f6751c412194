"""``vpa-stream export``: options in, one line per problem out (the work is in ``sinks.exports``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vpa_stream.cli.usage import UsageError
from vpa_stream.schemas.errors import EXIT_FAILURE
from vpa_stream.sinks.balance import BALANCE_MODES, BalanceOptions
from vpa_stream.sinks.exports import ExportError, SplitOptions, export_dataset, parse_cut
from vpa_stream.sinks.formats import FORMATS, PROMPT_STYLES, SFT_FORMATS


def register(subparsers: Any, defaults: dict[str, Any] | None = None) -> argparse.ArgumentParser:
    """Add the ``export`` subcommand (it takes no configured defaults: none of its options is configurable)."""
    ex: argparse.ArgumentParser = subparsers.add_parser(
        "export", help="write fine-tuning splits (OpenAI, TRL, Alpaca, ShareGPT, HF, DPO), recipes and a card",
        description="Split a dataset directory chronologically (one cut date for every symbol, with an "
                    "embargo of the engine's lookback before each cut) and write each split in the chosen "
                    "fine-tuning formats, with metadata sidecars, training recipes (axolotl, LLaMA-Factory, TRL) "
                    "and a Hugging Face dataset card.")
    ex.add_argument("--in", dest="in_dir", required=True, help="dataset directory (examples-*.jsonl[.gz])")
    ex.add_argument("--format", default="hf",
                    help=f"comma-separated formats: {', '.join(FORMATS)}, or all (every format but dpo; "
                         "all,dpo adds preference pairs) (default: %(default)s)")
    ex.add_argument("--out", dest="export_out", required=True, help="export directory")
    ex.add_argument("--val-from", default=None, help="first date of the validation split (default: 80th pct)")
    ex.add_argument("--test-from", default=None, help="first date of the test split (default: 90th pct)")
    ex.add_argument("--embargo-bars", type=int, default=None,
                    help="bars dropped before each cut (default and minimum: the engine's window_bars)")
    ex.add_argument("--holdout-symbols", default="", help="comma-separated symbols put only in test")
    ex.add_argument("--prompt-style", choices=PROMPT_STYLES, default=None,
                    help="text: readable tables; compact: the same facts in fewer tokens; json: the input as "
                         "compact JSON (default: text, or compact with --max-tokens)")
    ex.add_argument("--hold-cap", type=float, default=None,
                    help="cap the HOLD share of train at this fraction (deterministic by id hash)")
    ex.add_argument("--max-tokens", type=int, default=None,
                    help="shorten prompts (never completions) until every row fits N tokens; rows that cannot "
                         "fit are listed in excluded.jsonl")
    ex.add_argument("--tokenizer", default=None,
                    help="cl100k_base, o200k_base, a tokenizer.json (or a model directory holding one), or "
                         "estimate (default: cl100k when installed, else the estimate)")
    ex.add_argument("--balance", choices=BALANCE_MODES, default=None,
                    help="stratify train by signal type x strength: cap the common classes, or cap and repeat "
                         "the rare ones (validation and test keep the natural distribution)")
    ex.add_argument("--class-cap", type=int, default=None,
                    help="with --balance: rows per class at most (default: the largest BUY or SELL class)")
    ex.add_argument("--class-floor", type=int, default=None,
                    help="with --balance oversample: rows per class at least (default: a quarter of the cap)")
    ex.add_argument("--validate", action="store_true",
                    help="check the files as the trainers will read them; exit 1 if any check fails")
    ex.set_defaults(handler=handler)
    return ex


def format_names(text: str) -> list[str]:
    names: list[str] = []
    for name in (n.strip().lower() for n in text.split(",") if n.strip()):
        for expanded in (SFT_FORMATS if name == "all" else (name,)):
            if expanded not in names:
                names.append(expanded)
    return names


def handler(args: argparse.Namespace, file_data: dict[str, Any]) -> int:
    from vpa_stream.settings import engine_config
    from vpa_stream.sinks.export_files import TrainerOptions

    cfg = engine_config(file_data)
    embargo = cfg.window_bars if args.embargo_bars is None else int(args.embargo_bars)
    if embargo < cfg.max_lookback:
        raise UsageError(f"--embargo-bars must be at least the engine's lookback ({cfg.max_lookback} bars)")
    names = format_names(str(args.format))
    unknown = [n for n in names if n not in FORMATS]
    if not names or unknown:
        raise UsageError(f"unknown --format {','.join(unknown) or '(empty)'}: use {', '.join(FORMATS)} or all")
    if args.balance is None and (args.class_cap is not None or args.class_floor is not None):
        raise UsageError("--class-cap and --class-floor need --balance")
    style = args.prompt_style or ("compact" if args.max_tokens is not None else "text")
    # ExportError (from parse_cut and the export itself) is a usage error: exit code 2, one line
    options = SplitOptions(
        val_from=parse_cut(args.val_from) if args.val_from else None,
        test_from=parse_cut(args.test_from) if args.test_from else None,
        embargo_bars=embargo,
        holdout_symbols=tuple(s.strip() for s in str(args.holdout_symbols).split(",") if s.strip()),
        hold_cap=args.hold_cap,
    )
    trainer = TrainerOptions(
        max_tokens=args.max_tokens, tokenizer=args.tokenizer, validate=args.validate,
        balance=BalanceOptions(args.balance, args.class_cap, args.class_floor) if args.balance else None)
    in_dir, out_dir = Path(args.in_dir), Path(args.export_out)
    if not in_dir.is_dir():
        raise ExportError(f"--in {in_dir}: not a directory")
    if out_dir.resolve() == in_dir.resolve():
        raise ExportError("--out must differ from --in")
    summary = export_dataset(in_dir, out_dir, names, options, style,
                             {"engine_config_hash": cfg.config_hash, "window_bars": cfg.window_bars,
                              "max_lookback": cfg.max_lookback}, trainer)
    print(f"vpa-stream export -> {out_dir}")
    for line in summary.lines():
        print("  " + line)
    if args.validate:
        from vpa_stream.sinks.validate_export import validate_export

        problems = validate_export(out_dir)
        for line in problems.lines():
            print("  " + line)
        if problems.failed:
            return EXIT_FAILURE
    return 0
