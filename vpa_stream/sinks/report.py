"""The dataset report: label balance, faithfulness, duplicates, template diversity and signal evaluation.

``build_report`` reads a dataset directory (``examples-*.jsonl[.gz]``) and the bars of a price source, and
writes into the output directory, in this order: the PNG figures, ``report.json`` (every number a figure or
table shows) and ``index.html`` (written last, so a page that exists refers to files that exist). The
sections' numbers come from ``report_text`` (duplicates, diversity) and ``report_signals`` (forward returns);
the figures and the page from ``report_figures``. Nothing is written back into the dataset.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from vpa_stream.processors.faithfulness import check_example
from vpa_stream.schemas.errors import UsageError
from vpa_stream.schemas.example_record import (
    explanation_of,
    signal_of,
    ticker_of,
    timeframe_of,
    timestamp_of,
)
from vpa_stream.schemas.models import Bar
from vpa_stream.sinks.atomic import write_atomic
from vpa_stream.sinks.report_signals import PriceTable, evaluate_signals
from vpa_stream.sinks.report_text import diversity, duplicate_rates
from vpa_stream.sinks.report_text import pct as _pct

log = logging.getLogger(__name__)

SIGNALS = ("BUY", "SELL", "HOLD")
STRENGTHS = ("STRONG", "MODERATE", "WEAK")
#: failing ids listed in the page (report.json lists them all)
MAX_LISTED_FAILURES = 100


class ReportError(UsageError):
    """The input directory holds no examples (or unreadable ones): a usage error."""


def _table() -> dict[str, dict[str, int]]:
    return {t: dict.fromkeys(STRENGTHS, 0) for t in SIGNALS}


def label_distribution(examples: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Counts by signal type x strength: overall, per symbol and per year of the decision time."""
    overall = _table()
    by_symbol: dict[str, dict[str, dict[str, int]]] = defaultdict(_table)
    by_year: dict[str, dict[str, dict[str, int]]] = defaultdict(_table)
    n = 0
    for ex in examples:
        signal = signal_of(ex)
        kind, strength = signal["type"], signal["strength"]
        for table in (overall, by_symbol[ticker_of(ex)], by_year[timestamp_of(ex)[:4]]):
            table.setdefault(kind, dict.fromkeys(STRENGTHS, 0))
            table[kind][strength] = table[kind].get(strength, 0) + 1
        n += 1
    shares = {t: {s: (c / n if n else 0.0) for s, c in row.items()} for t, row in overall.items()}
    return {
        "n": n,
        "overall": overall,
        "shares": shares,
        "by_symbol": {k: by_symbol[k] for k in sorted(by_symbol)},
        "by_year": {k: by_year[k] for k in sorted(by_year)},
    }


_KINDS = {"number": "numbers", "code": "codes", "field": "codes", "header": "header", "unverifiable": "unverifiable",
          "false": "false_claims", "evidence": "evidence", "not": "not_v2"}


def _problem_kind(problem: str) -> str:
    return _KINDS.get(problem.split(" ", 1)[0], "other")


def faithfulness(examples: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """DOMAIN §7 checks of every example (``check_example``): failures by kind, and the failing ids."""
    failing: dict[str, list[str]] = {}
    kinds: Counter[str] = Counter()
    n = 0
    for ex in examples:
        n += 1
        problems = check_example(ex)
        if problems:
            failing[ex["id"]] = problems
            kinds.update({_problem_kind(p) for p in problems})  # examples per kind, not problems
    return {
        "n": n,
        "failing": len(failing),
        "failing_rate": len(failing) / n if n else 0.0,
        "by_kind": {k: kinds.get(k, 0) for k in (*dict.fromkeys(_KINDS.values()), "other")},
        "failing_ids": sorted(failing),
        "problems": {k: failing[k][:5] for k in sorted(failing)[:MAX_LISTED_FAILURES]},
    }


def load_dataset(in_dir: Path) -> list[dict[str, Any]]:
    """Every example of ``in_dir`` once, in (decision time, ticker, timeframe, id) order."""
    from vpa_stream.sinks.exports import ExportError, load_examples

    try:
        return load_examples(in_dir)
    except ExportError as exc:
        raise ReportError(str(exc)) from exc


def prose_lengths(examples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Words and characters per explanation, and tokens estimated at 4 characters a token (the export's
    ``--tokenizer`` counts real ones)."""
    words = np.array([len(explanation_of(ex).split()) for ex in examples], dtype=float)
    chars = np.array([len(explanation_of(ex)) for ex in examples], dtype=float)
    if not len(words):
        return {"mean_words": 0.0, "p95_words": 0.0, "mean_chars": 0.0, "mean_tokens_estimate": 0.0}
    return {"mean_words": float(words.mean()), "p95_words": float(np.percentile(words, 95)),
            "mean_chars": float(chars.mean()), "mean_tokens_estimate": float(chars.mean() / 4)}


def token_lengths(examples: Sequence[dict[str, Any]], tokenizer: str | None = None) -> dict[str, Any]:
    """p50/p95/p99/max tokens of each export format's row with the full text prompt (``export --max-tokens``
    shortens them), counted with ``tokenizer`` (``tokens.resolve_tokenizer``: cl100k when installed)."""
    from vpa_stream.sinks.fit import token_stats
    from vpa_stream.sinks.formats import FORMATS
    from vpa_stream.sinks.prompts import render_prompt
    from vpa_stream.sinks.tokens import resolve_tokenizer

    counter = resolve_tokenizer(tokenizer)
    sft = [f for name, f in FORMATS.items() if name != "dpo"]
    prompts = ((ex, render_prompt(ex, "text")) for ex in examples)
    stats = token_stats(((f, f.render(ex, prompt)) for ex, prompt in prompts for f in sft), counter)
    return {"tokenizer": counter.name, "exact": counter.exact, "formats": stats}


def _within(examples: Sequence[dict[str, Any]], start: str | None, end: str | None) -> list[dict[str, Any]]:
    """The examples whose decision time falls in [start, end] (ISO dates or times; either may be open)."""
    return [ex for ex in examples if (start is None or timestamp_of(ex) >= start)
            and (end is None or timestamp_of(ex)[: len(end)] <= end)]


def compute_report(examples: Sequence[dict[str, Any]], price_bars: Iterable[Bar], seed: int = 0,
                   evaluate: tuple[str | None, str | None] = (None, None),
                   tokenizer: str | None = None) -> dict[str, Any]:
    """Every number of the report, JSON-ready. ``evaluate`` limits the forward-return evaluation to a window of
    decision times (a held-out period the rules were not shaped on)."""
    started = time.perf_counter()
    report: dict[str, Any] = {
        "examples": len(examples),
        "symbols": sorted({ticker_of(ex) for ex in examples}),
        "timeframes": sorted({timeframe_of(ex) for ex in examples}),
        "first": timestamp_of(examples[0]) if examples else None,
        "last": timestamp_of(examples[-1]) if examples else None,
        "config_hashes": sorted({ex["meta"]["config_hash"] for ex in examples}),
        "engine_versions": sorted({ex["meta"]["engine_version"] for ex in examples}),
    }
    report["labels"] = label_distribution(examples)
    report["faithfulness"] = faithfulness(examples)
    report["duplicates"] = duplicate_rates(examples)
    report["diversity"] = diversity(examples)
    report["prose"] = prose_lengths(examples)
    report["tokens"] = token_lengths(examples, tokenizer)
    report["signals"] = evaluate_signals(_within(examples, *evaluate), PriceTable(price_bars), seed)
    report["signals"]["window"] = {"from": evaluate[0], "to": evaluate[1]}
    log.info("report computed in %.1f s", time.perf_counter() - started, extra={"examples": len(examples)})
    return report


def build_report(in_dir: Path, price_bars: Iterable[Bar], out_dir: Path, seed: int = 0,
                 source: str = "") -> dict[str, Any]:
    """Compute the report of the dataset in ``in_dir`` and write it into ``out_dir``."""
    return write_report(load_dataset(in_dir), price_bars, out_dir, seed, source, str(in_dir))


def write_report(examples: Sequence[dict[str, Any]], price_bars: Iterable[Bar], out_dir: Path, seed: int = 0,
                 source: str = "", input_name: str = "",
                 evaluate: tuple[str | None, str | None] = (None, None),
                 tokenizer: str | None = None) -> dict[str, Any]:
    """Compute the report of ``examples`` and write the figures, ``report.json`` and ``index.html``."""
    from vpa_stream.sinks.report_figures import render_figures, render_page

    report = compute_report(examples, price_bars, seed, evaluate, tokenizer)
    report["input"] = input_name
    report["price_source"] = source
    out_dir.mkdir(parents=True, exist_ok=True)
    report["figures"] = render_figures(report, out_dir)
    write_atomic(out_dir / "report.json", orjson.dumps(report, option=orjson.OPT_INDENT_2))
    write_atomic(out_dir / "index.html", render_page(report).encode())
    return report


def summary_lines(report: dict[str, Any]) -> list[str]:
    """A few lines for the terminal: the headline number of each section."""
    labels = report["labels"]["overall"]
    counts = ", ".join(f"{t} {sum(labels[t].values()):,}" for t in SIGNALS)
    dup = report["duplicates"]
    div = report["diversity"]
    out = [
        f"examples       {report['examples']:,} ({counts})",
        f"faithfulness   {report['faithfulness']['failing']:,} failing",
        f"duplicates     exact {dup['exact_duplicate_rate']:.2%}, near {dup['near_duplicate_rate']:.2%}",
        f"diversity      distinct-1 {div['distinct_1']:.4f}, distinct-2 {div['distinct_2']:.4f}, "
        f"largest phrasing {div['largest_phrasing_share']:.1%}",
        f"prose          {report['prose']['mean_words']:.0f} words an explanation "
        f"(p95 {report['prose']['p95_words']:.0f}), about {report['prose']['mean_tokens_estimate']:.0f} tokens",
    ]
    tokens = report.get("tokens") or {}
    for name, stats in (tokens.get("formats") or {}).items():
        out.append(f"tokens {name:<22} p50 {stats['p50']:,}  p95 {stats['p95']:,}  max {stats['max']:,} "
                   f"({tokens['tokenizer']})")
    signals = report["signals"]
    window = signals.get("window") or {}
    if window.get("from") or window.get("to"):
        out.append(f"evaluated on   {window.get('from') or 'start'} .. {window.get('to') or 'end'}")
    out.append(f"prices         {signals['with_prices']:,} of {signals['examples']:,} examples "
               f"({signals['price_mismatches']:,} closes differ from the price source)")
    for h in signals["horizons"]:
        base = signals["base"][str(h)]
        parts = []
        for d in ("BUY", "SELL"):
            rates = "/".join(_pct(signals["groups"][str(h)][d][s]["hit_rate"]) for s in STRENGTHS)
            parts.append(f"{d} S/M/W {rates} vs base {_pct(base[d]['hit_rate'])}")
        out.append(f"hit rate {h:>2}    " + "; ".join(parts))
    return out
