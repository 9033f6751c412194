"""The Hugging Face dataset card (README.md) of an export: YAML header, rules, splits, labels, limits, licence."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from vpa_stream.schemas.example_record import signal_type_of, strength_of, ticker_of, timeframe_of, timestamp_of
from vpa_stream.sinks.formats import FORMATS

if TYPE_CHECKING:
    from vpa_stream.sinks.export_files import WrittenExport
    from vpa_stream.sinks.exports import SplitPlan

SPLIT_NAMES = {"train": "train", "val": "validation", "test": "test"}  # file stem -> Hugging Face split name
SIGNALS = ("BUY", "SELL", "HOLD")
STRENGTHS = ("STRONG", "MODERATE", "WEAK")

_SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                    (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"))


def size_category(n: int) -> str:
    for limit, name in _SIZE_CATEGORIES:
        if n < limit:
            return name
    return "n>1T" if n >= 10**12 else "100M<n<1B"


def _q(value: str) -> str:
    """A YAML scalar that stays a string (JSON strings are valid YAML)."""
    return json.dumps(value)


def _yaml_header(plan: SplitPlan, formats: list[str], total: int) -> list[str]:
    lines = [
        "---",
        "license: other",
        "license_name: source-data-terms",
        "license_link: README.md",
        "language:",
        "- en",
        "pretty_name: " + _q("VPA training examples (vpa-stream)"),
        "task_categories:",
        "- text-generation",
        "tags:",
        *(f"- {t}" for t in ("finance", "trading", "volume-price-analysis", "vsa", "wyckoff", "rule-based-labels",
                             "fine-tuning")),
        "size_categories:",
        f"- {size_category(total)}",
        "configs:",
    ]
    default = "hf" if "hf" in formats else formats[0]
    for name in sorted(formats, key=lambda f: (f != default, f)):
        ext = FORMATS[name].file_extension
        lines.append(f"- config_name: {name}")
        if name == default:
            lines.append("  default: true")
        lines.append("  data_files:")
        for split, hf_split in SPLIT_NAMES.items():
            if plan.splits[split]:
                lines += [f"  - split: {hf_split}", f"    path: {name}/{split}{ext}"]
    lines.append("---")
    return lines


def _range(examples: list[dict[str, Any]]) -> tuple[str, str]:
    if not examples:
        return "-", "-"
    times = [timestamp_of(e) for e in examples]
    return min(times), max(times)


def _distinct(examples: list[dict[str, Any]], path: tuple[str, ...]) -> list[str]:
    values = set()
    for e in examples:
        value: Any = e
        for key in path:
            value = value.get(key, "") if isinstance(value, dict) else ""
        values.add(str(value))
    return sorted(v for v in values if v)


def render_card(plan: SplitPlan, formats: list[str], examples: list[dict[str, Any]], prompt_style: str,
                extra: dict[str, Any], written: WrittenExport | None = None) -> str:
    """The card's Markdown: a pure function of its arguments (no dates of generation, no host names)."""
    from vpa_stream.sinks.card_training import reproduce_options, training_sections

    exported = [e for s in SPLIT_NAMES for e in plan.splits[s]]
    hashes = _distinct(examples, ("meta", "config_hash"))
    versions = _distinct(examples, ("meta", "engine_version"))
    sources = _distinct(examples, ("meta", "source"))
    symbols = sorted({ticker_of(e) for e in examples})
    timeframes = sorted({timeframe_of(e) for e in examples})
    out = _yaml_header(plan, formats, len(exported))
    out += [
        "",
        "# VPA training examples (vpa-stream)",
        "",
        f"{len(exported):,} supervised examples for teaching a language model Volume Price Analysis (VPA/VSA): "
        f"each prompt describes one closed {'/'.join(timeframes)} bar of {', '.join(symbols)} with its recent "
        "history and context, and each completion is the rule engine's signal and a grounded explanation whose "
        "first line is `Signal: BUY|SELL|HOLD (STRONG|MODERATE|WEAK)`.",
        "",
        "## Generation rules",
        "",
        f"- Engine version: {', '.join(versions) or 'unknown'}; config hash: {', '.join(hashes) or 'unknown'} "
        "(sha256 of every rule threshold; it is in every example's metadata).",
        f"- Source: {', '.join(sources) or 'unknown'}; {len(examples):,} examples read, from "
        f"{_range(examples)[0]} to {_range(examples)[1]}.",
        "- Labels come from deterministic VPA rules (volume and spread ratios against the previous 20 bars, close "
        "position, trend from SMA slopes, confirmed swing pivots, support/resistance, trading ranges, higher-"
        "timeframe context). The rules are mirror-symmetric: reflecting prices swaps BUY and SELL.",
        "- No lookahead: the example for a bar uses only bars closed at or before its close time (the decision "
        "time); higher-timeframe context uses only fully closed higher-timeframe bars; swing pivots are used only "
        "after their confirmation bars; prices are as traded, with splits applied point in time.",
        f"- Prompt style: `{prompt_style}` ("
        + {"text": "a readable summary of the input with aligned tables",
           "compact": "the same facts as the text style in fewer tokens: bars labelled t-k, codes in lower case",
           }.get(prompt_style, "compact JSON of the input")
        + "). Completion: the explanation, first line `Signal: TYPE (STRENGTH)`.",
    ]
    if extra.get("engine_config_hash") and hashes and extra["engine_config_hash"] not in hashes:
        out.append(f"- Note: the export ran with config hash {extra['engine_config_hash']}, which differs from "
                   "the examples' hash; the embargo length was taken from the export's config.")
    out += ["", "## Files", "", "| config | files | keys |", "|---|---|---|"]
    for name in formats:
        fmt = FORMATS[name]
        out.append(f"| `{name}` | `{name}/{{train,val,test}}{fmt.file_extension}` | {fmt.description} |")
    out += [
        "",
        "Provider files hold only the keys their trainer expects. Each format folder has a sidecar "
        "`meta/sidecar.jsonl` with one line per row of every split, in file order (train, then val, then test), "
        "keyed by `id`: split, symbol, timeframe, timestamp, signal type and strength, rules fired, config hash, "
        "engine version, source, `holdout_symbol`, `copy` (0, or the repeat number of an oversampled row), the "
        "prompt's view and the row's token count. It sits in a folder of its own so that "
        "`datasets.load_dataset(\"json\", data_dir=\"<format>\")` reads only the split files. The `hf` files carry "
        "the same metadata as columns. Alpaca and ShareGPT folders include a LLaMA-Factory `dataset_info.json`; "
        "`examples/` holds the validation and test records with the input their prompts show, for "
        "`vpa-stream evaluate`.",
    ]
    out += _splits_section(plan)
    out += _labels_section(plan)
    if written is not None:
        out += training_sections(written)
    out += [
        "",
        "## Limitations",
        "",
        "- Labels are derived from rules, not from outcomes: they teach the model to apply this VPA rule set "
        "and to explain it, not to predict prices. A label says what the rules conclude at the bar's close.",
        "- Not investment advice and not a forecast. Past patterns in the symbols above say nothing "
        "reliable about future returns; no forward return is in the data.",
        "- Symbols and periods are few, so markets, regimes and instruments outside them are not represented; "
        "neighbouring examples of one symbol share most of their input window and are strongly correlated.",
        "- Explanations are template-based with deterministic phrasing variants; a model may learn the "
        "templates along with the reasoning.",
        "- Volume from FX/crypto sources is tick volume (see each example's `volume_kind`).",
        "",
        "## Source data licence",
        "",
        "The examples are derived from the price and volume bars of the source listed above, and that source's "
        "terms apply to them. The bundled sample (`sample:bokeh-sampledata/stocks`) comes from the "
        "[bokeh-sampledata](https://pypi.org/project/bokeh-sampledata/) package (BSD-3-Clause), distributed "
        "for examples and demonstrations. If you build a dataset from another vendor (Yahoo Finance via "
        "yfinance, a broker, an exchange feed), you must respect that data vendor's terms of use before you "
        "publish or share the examples: many forbid redistribution. The card's `license: other` records that "
        "the licence is the source data's, not the code's (the vpa-stream code is MIT).",
        "",
        "## Naming note: CLIMAX_BOTTOM and CLIMAX_TOP",
        "",
        "Wyckoff's \"selling climax\" is a bottom (panic selling absorbed by strong hands), while Coulling's "
        "\"selling climax\" is a top (the smart money selling into strength). To avoid the clash, the codes name "
        "where the climax happens: `CLIMAX_BOTTOM` (bullish) and `CLIMAX_TOP` (bearish).",
        "",
        "## Reproduce",
        "",
        "```",
        "vpa-stream backfill --out DATA",
        f"vpa-stream export --in DATA --format {','.join(formats)} --out OUT "
        f"--val-from {plan.val_from:%Y-%m-%d} --test-from {plan.test_from:%Y-%m-%d} "
        f"--embargo-bars {plan.embargo_bars}"
        + (f" --holdout-symbols {','.join(plan.holdout_symbols)}" if plan.holdout_symbols else "")
        + (f" --hold-cap {plan.hold_cap:g}" if plan.hold_cap is not None else "")
        + (f" --prompt-style {prompt_style}" if prompt_style != "text" else "")
        + (reproduce_options(written) if written is not None else ""),
        "```",
        "",
        "The export is deterministic: the same input directory and options give byte-identical files.",
    ]
    return "\n".join(out) + "\n"


def _splits_section(plan: SplitPlan) -> list[str]:
    out = [
        "",
        "## Splits",
        "",
        f"Chronological, with one cut for every symbol: validation from {plan.val_from:%Y-%m-%d %H:%M} UTC, "
        f"test from {plan.test_from:%Y-%m-%d %H:%M} UTC (by decision time, the bar's close).",
        "",
        "| split | file | first decision time | last decision time | examples | symbols |",
        "|---|---|---|---|---|---|",
    ]
    for split, hf_split in SPLIT_NAMES.items():
        rows = plan.splits[split]
        first, last = _range(rows)
        syms = ", ".join(sorted({ticker_of(e) for e in rows})) or "-"
        out.append(f"| {hf_split} | `{split}` | {first} | {last} | {len(rows):,} | {syms} |")
    out += [
        "",
        f"- Embargo: {plan.embargo_bars} bars of each series' primary timeframe (at least the engine's lookback, "
        "the bars one example reads). Before each cut, the last "
        f"{plan.embargo_bars} examples of each symbol and timeframe before its first example after the cut are "
        "dropped, so the time span is measured on that symbol's own bars and no two examples on either side of a "
        f"cut share an input bar. {plan.embargoed:,} examples were dropped this way.",
    ]
    if plan.holdout_symbols:
        out.append(f"- Held-out symbols: {', '.join(plan.holdout_symbols)}. Their examples from the test cut on are "
                   "in test only, flagged `holdout_symbol: true` in the sidecar; their "
                   f"{plan.holdout_excluded:,} earlier examples are left out, so none is in train or validation "
                   "and the test split covers one time range for every symbol.")
    if plan.hold_capped:
        out.append(f"- HOLD cap: {plan.hold_capped:,} train HOLD examples were dropped to cap the train HOLD "
                   f"share at {plan.hold_cap:g}; the survivors are those with the lowest sha256(id). Validation "
                   "and test keep the natural label distribution, so evaluation measures what a user will see.")
    return out


def _labels_section(plan: SplitPlan) -> list[str]:
    counts = {s: Counter((signal_type_of(e), strength_of(e))
                         for e in plan.splits[s]) for s in SPLIT_NAMES}
    header = "| signal | strength | " + " | ".join(SPLIT_NAMES[s] for s in SPLIT_NAMES) + " |"
    out = ["", "## Label distribution", "", "Examples (share of the split) by signal and strength.", "",
           header, "|---|---|" + "---|" * len(SPLIT_NAMES)]
    for signal in SIGNALS:
        for strength in STRENGTHS:
            cells = []
            for s in SPLIT_NAMES:
                n, total = counts[s][(signal, strength)], len(plan.splits[s])
                cells.append(f"{n:,} ({n / total:.1%})" if total else "0")
            out.append(f"| {signal} | {strength} | " + " | ".join(cells) + " |")
    totals = [f"{len(plan.splits[s]):,}" for s in SPLIT_NAMES]
    out.append("| all | all | " + " | ".join(totals) + " |")
    return out
