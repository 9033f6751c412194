"""``vpa-stream evaluate``: score a fine-tuned model's answers (the work is in ``sinks.evaluate``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson

from vpa_stream.cli.options import add_source_options, apply_defaults, make_sources, source_specs
from vpa_stream.cli.usage import UsageError


def register(subparsers: Any, defaults: dict[str, Any] | None = None) -> argparse.ArgumentParser:
    ev: argparse.ArgumentParser = subparsers.add_parser(
        "evaluate", help="score a fine-tuned model's answers: signal accuracy, faithfulness, hit rates",
        description="Parse each answer's 'Signal: TYPE (STRENGTH)' header, compare it with the rule label "
                    "(accuracy, macro-F1, confusion matrix), check every claim of the explanation against the "
                    "example's prompt, and compare the forward-return hit rates of the model's signals with the "
                    "rules'. Predictions: JSONL rows {\"id\", \"text\"}.")
    ev.add_argument("--examples", required=True,
                    help="a dataset directory, or an export's examples/ (the inputs its prompts showed)")
    ev.add_argument("--predictions", required=True, help="JSONL file of {\"id\", \"text\"} rows")
    ev.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")
    ev.add_argument("--out", dest="evaluate_out", default=None,
                    help="directory for evaluation.json and answers.jsonl (one row per answer)")
    add_source_options(ev)
    ev.add_argument("--prices", dest="source", default="sample",
                    help="price source for hit rates (as backfill's --source), or none (default: %(default)s)")
    ev.set_defaults(handler=handler)
    apply_defaults(ev, defaults)
    return ev


def handler(args: argparse.Namespace, file_data: dict[str, Any]) -> int:
    from vpa_stream.producers.replay import bars_of
    from vpa_stream.sinks.atomic import write_lines_atomic
    from vpa_stream.sinks.evaluate import evaluate, hit_rates, read_predictions, summary_lines
    from vpa_stream.sinks.exports import load_examples

    examples_dir, predictions_file = Path(args.examples), Path(args.predictions)
    if not examples_dir.is_dir():
        raise UsageError(f"--examples {examples_dir}: not a directory")
    if not predictions_file.is_file():
        raise UsageError(f"--predictions {predictions_file}: no such file")
    examples = load_examples(examples_dir)  # ExportError and EvaluateError are usage errors (exit code 2)
    result, rows = evaluate(examples, read_predictions(predictions_file))
    if source_specs(args) != ["none"]:
        bars = list(bars_of(make_sources(args), lambda _: None))
        result["hit_rates"] = hit_rates(examples, rows, bars)
    if args.evaluate_out:
        out = Path(args.evaluate_out)
        write_lines_atomic(out / "evaluation.json", [orjson.dumps(result, option=orjson.OPT_INDENT_2)])
        write_lines_atomic(out / "answers.jsonl", (orjson.dumps(r) for r in rows))
    if args.json:
        print(orjson.dumps(result).decode())
    else:
        print(f"vpa-stream evaluate -> {examples_dir}")
        for line in summary_lines(result):
            print("  " + line)
    return 0
