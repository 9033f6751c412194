"""Writing an export directory from a split plan: formats, sidecars, the records as shown, recipes and the card.

The order (each file is written to a temporary name and renamed, so a file that exists is complete):
  1. Token budget (``fit``): the view of each prompt; rows that cannot fit leave every split and are listed,
     with the reason, in ``excluded.jsonl``.
  2. Balance (``balance``): the train split only, when asked.
  3. Per format, ``<format>/<split>.jsonl`` and ``<format>/meta/sidecar.jsonl`` (one line per row of every
     split, in file order, with the split, identity, label, the prompt's view and token count: a folder of
     its own, so ``datasets.load_dataset("json", data_dir="<format>")`` sees only the split files), and a
     trainer registry (LLaMA-Factory's ``dataset_info.json``) where the format has one. Preference pairs
     carry the fault kind of the rejected answer in their sidecar.
  4. ``examples/examples-{val,test}.jsonl``: the validation and test records with the input their prompts
     show (``prompts.checkable``), for ``vpa-stream evaluate --examples <export>/examples``.
  5. ``recipes/`` (axolotl, LLaMA-Factory, TRL), then ``README.md`` (the dataset card) last.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from vpa_stream.schemas.example_record import inputs_of, with_inputs
from vpa_stream.sinks.atomic import write_lines_atomic
from vpa_stream.sinks.balance import BalanceOptions, BalanceReport, balance_train
from vpa_stream.sinks.exports import SPLITS, SplitPlan
from vpa_stream.sinks.faults import reject
from vpa_stream.sinks.fit import Fit, fit_examples, token_stats
from vpa_stream.sinks.formats import ExportFormat, metadata_of
from vpa_stream.sinks.prompts import FULL, checkable, price_decimals_of, render_prompt
from vpa_stream.sinks.recipes import NEEDS, RECIPES, RecipeInputs, sequence_length
from vpa_stream.sinks.tokens import TokenCounter, percentiles, resolve_tokenizer, sequence_tokens

log = logging.getLogger(__name__)

SIDECAR = Path("meta") / "sidecar.jsonl"
EXCLUDED = "excluded.jsonl"
EVAL_SPLITS = ("val", "test")


@dataclass(frozen=True, slots=True)
class TrainerOptions:
    """The options that fit an export to a trainer (issue 17): token budget, tokenizer, balance, validation."""

    max_tokens: int | None = None
    tokenizer: str | None = None
    balance: BalanceOptions | None = None
    validate: bool = False


@dataclass
class WrittenExport:
    """What was written, for the summary lines and the card."""

    formats: list[str]
    counts: dict[str, int]
    fit: Fit
    tokenizer: str
    tokens_before: dict[str, dict[str, int]]
    tokens_after: dict[str, dict[str, int]]
    balance: BalanceReport | None
    recipes: dict[str, str] = field(default_factory=dict)  # file -> format it trains on
    recipes_skipped: dict[str, tuple[str, ...]] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    excluded: int = 0
    trainer: TrainerOptions = field(default_factory=lambda: TrainerOptions())
    style: str = "text"


@dataclass
class _Row:
    example: dict[str, Any]
    split: str
    copy: int
    prompt: str
    shown: dict[str, Any]  # the example with the input its prompt shows


def write_export(out_dir: Path, plan: SplitPlan, strategies: list[ExportFormat], style: str,
                 trainer: TrainerOptions, counter: TokenCounter | None = None) -> WrittenExport:
    """Steps 1-5 of the module docstring except the card (the caller renders it from the result)."""
    counter = counter or resolve_tokenizer(trainer.tokenizer)
    exported = [e for s in SPLITS for e in plan.splits[s]]
    fit = fit_examples(exported, strategies, style, trainer.max_tokens, counter)
    for s in SPLITS:
        plan.splits[s] = [e for e in plan.splits[s] if fit.kept(e["id"])]
    report = None
    if trainer.balance is not None:
        plan.splits["train"], report = balance_train(plan.splits["train"], trainer.balance)
    rows = _rows(plan, fit, style)
    excluded = list(fit.excluded)
    written = WrittenExport([f.name for f in strategies], {s: len(plan.splits[s]) for s in SPLITS}, fit,
                            counter.name, {}, {}, report, trainer=trainer, style=style)
    out_dir.mkdir(parents=True, exist_ok=True)
    for fmt in strategies:
        provider, extra = _render(fmt, rows, trainer.max_tokens, counter, excluded, written)
        _write_format(out_dir, fmt, plan, rows, provider, extra, counter, written)
    if trainer.max_tokens is not None:
        full = ((e, render_prompt(e, style, FULL)) for e in exported)
        written.tokens_before = token_stats(((f, f.render(e, prompt)) for e, prompt in full for f in strategies),
                                            counter)
    else:
        written.tokens_before = written.tokens_after
    written.excluded = len(excluded)
    excluded_path = out_dir / EXCLUDED
    if trainer.max_tokens is not None or excluded:
        write_lines_atomic(excluded_path, (orjson.dumps(x) for x in excluded))
    elif excluded_path.exists():
        excluded_path.unlink()
    for split in EVAL_SPLITS:
        shown = [orjson.dumps(r.shown) for r in rows if r.split == split and r.copy == 0]
        path = out_dir / "examples" / f"examples-{split}.jsonl"
        if shown:
            write_lines_atomic(path, shown)
        elif path.exists():
            path.unlink()
    _write_recipes(out_dir, written)
    return written


def _rows(plan: SplitPlan, fit: Fit, style: str) -> list[_Row]:
    out = []
    for split in SPLITS:
        previous, copy = None, 0
        for e in plan.splits[split]:
            copy = copy + 1 if e["id"] == previous else 0
            previous = e["id"]
            view = fit.views[e["id"]]
            shown = e if view == FULL else with_inputs(e, checkable(inputs_of(e), view))
            out.append(_Row(e, split, copy, render_prompt(e, style, view), shown))
    return out


def _render(fmt: ExportFormat, rows: list[_Row], max_tokens: int | None, counter: TokenCounter,
            excluded: list[dict[str, Any]], written: WrittenExport) -> tuple[list[dict[str, Any] | None],
                                                                             list[dict[str, Any]]]:
    """The provider rows of ``fmt`` (None where a preference pair could not be made) and their sidecar extras."""
    provider: list[dict[str, Any] | None] = []
    extra: list[dict[str, Any]] = []
    faults: dict[str, Any] = {}
    for r in rows:
        row = fmt.render(r.example, r.prompt)
        info: dict[str, Any] = {}
        if fmt.name == "dpo":
            key = r.example["id"]
            if key not in faults:
                faults[key] = reject(r.shown, price_decimals_of(r.example))
            fault = faults[key]
            row["rejected"] = fault.text if fault is not None else ""
            n = sequence_tokens(counter, fmt.sequences(row))
            if fault is None or (max_tokens is not None and n > max_tokens):
                if r.copy == 0:
                    excluded.append({"id": key, "format": "dpo", "reason": "no_fault" if fault is None else "too_long",
                                     "tokens": {"dpo": n}, "max_tokens": max_tokens, "tokenizer": counter.name})
                provider.append(None)
                extra.append({})
                continue
            info["fault"] = fault.kind
            if r.copy == 0:
                written.faults[fault.kind] = written.faults.get(fault.kind, 0) + 1
        provider.append(row)
        extra.append(info)
    return provider, extra


def _write_format(out_dir: Path, fmt: ExportFormat, plan: SplitPlan, rows: list[_Row],
                  provider: list[dict[str, Any] | None], extra: list[dict[str, Any]], counter: TokenCounter,
                  written: WrittenExport) -> None:
    target = out_dir / fmt.name
    sidecar: list[bytes] = []
    tokens: dict[str, list[int]] = {}
    for split in SPLITS:
        lines = []
        for r, row, info in zip(rows, provider, extra, strict=True):
            if r.split != split or row is None:
                continue
            n = sequence_tokens(counter, fmt.sequences(row))
            tokens.setdefault(split, []).append(n)
            lines.append(orjson.dumps(row))
            sidecar.append(orjson.dumps({"split": split, **metadata_of(r.example), "copy": r.copy,
                                         "holdout_symbol": r.example["id"] in plan.holdout_ids,
                                         "prompt_view": written.fit.views[r.example["id"]].label(), "tokens": n,
                                         **info}))
        path = target / f"{split}{fmt.file_extension}"
        if lines:
            write_lines_atomic(path, lines)
        elif path.exists():  # an empty split file would stop datasets.load_dataset(data_dir=...)
            path.unlink()
        if fmt.name == "openai" and 0 < len(lines) < 10:
            log.warning("openai %s split has %d examples: OpenAI fine-tuning needs at least 10", split, len(lines))
    write_lines_atomic(target / SIDECAR, sidecar)
    for stale in target.glob("*.meta.jsonl"):  # sidecars of an older export beside the split files
        stale.unlink()
    written.tokens_after[fmt.name] = percentiles([n for values in tokens.values() for n in values])
    written.tokens_after[fmt.name]["train_p99"] = percentiles(tokens.get("train", []))["p99"]
    written.tokens_after[fmt.name]["train_longer"] = sum(
        n > sequence_length(written.tokens_after[fmt.name]["train_p99"]) for n in tokens.get("train", []))
    registry = fmt.trainer_config({s: f"{s}{fmt.file_extension}" for s in SPLITS if tokens.get(s)})
    if registry is not None:
        write_lines_atomic(target / fmt.trainer_config_name, [json.dumps(registry, indent=2, sort_keys=True).encode()])


def _write_recipes(out_dir: Path, written: WrittenExport) -> None:
    stats = written.tokens_after
    inputs = RecipeInputs(tuple(written.formats), {f: s["train_p99"] for f, s in stats.items()},
                          {f: s["train_longer"] for f, s in stats.items()}, written.counts["train"], written.tokenizer,
                          written.counts["val"] > 0)
    folder = out_dir / "recipes"
    for name, make in RECIPES.items():
        text = make(inputs)
        path = folder / name
        if text is None:
            written.recipes_skipped[name] = NEEDS[name]
            if path.exists():
                path.unlink()
            continue
        write_lines_atomic(path, [text.rstrip("\n").encode()])
        if name.endswith(".sh"):
            path.chmod(0o755)
        written.recipes[name] = next(f for f in NEEDS[name] if f in written.formats)
