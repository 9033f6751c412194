"""Throughput and history-independence of the VPA engine alone (no Avro, no sink, no replay machinery).

Method
------
Data: real daily bars, read from the installed data packages' files without importing those packages:
bokeh-sampledata ``_data/stocks.csv.gz`` (AAPL, MSFT, IBM, as the sample source reads them) and
backtesting ``test/GOOG.csv`` (AGPL: read in place, never copied). Bars are built by the project's own
``frame_series`` / ``series_items``, so times, sessions and split ratios are those of a real backfill.

(a) throughput: every series is tiled under new symbol names (AAPL_0, AAPL_1, ...) until there are at
    least 20,000 bars, replayed in ``Bar.replay_key`` order into a fresh ``Engine``; examples/s and bars/s
    are the best of ``--repeat`` runs in this one process (bars are built before the clock starts).
(b) history independence: one long series is a block of ``BLOCK`` real AAPL bars repeated with its dates
    shifted forward by whole weeks (prices restart at each copy; close times strictly increase). A run
    feeds the first N bars; only the last ``BLOCK`` bars are timed, so the timed bars are the same bars
    in the same window state and differ only in how much history came before them (N = 1k vs 100k).

The input bars and the loaded tables are built first and then frozen out of the cyclic garbage collector
(``gc.freeze()``), so its full collections walk the engine's own objects, not the harness's 100k+ bars.

Usage: ``python benchmarks/bench_engine.py [--json] [--repeat 3] [--digest] [--throughput-only]``. ``--digest``
also prints the sha256 of every record produced in (a) and (b), to check an optimisation keeps the output
byte-identical; ``--throughput-only`` runs (a) alone and prints it as JSON (``bench_workers.py`` uses it).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib.util
import json
import sys
import time
from itertools import pairwise
from pathlib import Path

import pandas as pd

from vpa_stream.processors.engine import Engine
from vpa_stream.producers.sources.base import RawSeries, SourceOptions, series_items
from vpa_stream.producers.sources.files import frame_series
from vpa_stream.producers.sources.sample import SAMPLE_SYMBOLS
from vpa_stream.schemas.models import Bar

MIN_BARS = 20_000
BLOCK = 500
SHORT, LONG = 1_000, 100_000


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"bench_engine: the {name} package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def real_series() -> list[RawSeries]:
    """AAPL, MSFT, IBM (bokeh-sampledata) and GOOG (backtesting) daily series, as raw frames."""
    options = SourceOptions()
    stocks = pd.read_csv(_package_dir("bokeh_sampledata") / "_data" / "stocks.csv.gz")
    stocks = stocks[stocks["Ticker"].isin(SAMPLE_SYMBOLS)]
    out = list(frame_series(stocks, "stocks.csv.gz", options, default_symbol="SAMPLE"))
    goog = pd.read_csv(_package_dir("backtesting") / "test" / "GOOG.csv")
    out += list(frame_series(goog, "GOOG.csv", options, default_symbol="GOOG"))
    return out


def _bars(raw: RawSeries, source: str) -> list[Bar]:
    return [b for b in series_items(raw, SourceOptions(), source) if isinstance(b, Bar)]


def throughput_bars(series: list[RawSeries]) -> list[Bar]:
    """Every series tiled under new symbol names until >= MIN_BARS bars, in replay order."""
    base = {raw.symbol: _bars(raw, "bench") for raw in series}
    per_copy = sum(len(b) for b in base.values())
    copies = -(-MIN_BARS // per_copy)
    bars = [Bar(f"{sym}_{k}", b.timeframe, b.open_time, b.close_time, b.open, b.high, b.low, b.close, b.volume,
                b.volume_kind, b.split_ratio, b.source)
            for k in range(copies) for sym, seq in base.items() for b in seq]
    bars.sort(key=Bar.replay_key)
    return bars


def long_series(series: list[RawSeries], n: int, symbol: str = "AAPL", name: str = "LONG",
                block_rows: int = BLOCK) -> list[Bar]:
    """``n`` bars of one symbol (``name``): the first ``block_rows`` rows of ``symbol`` repeated, dates shifted by
    whole weeks per copy."""
    real = next(raw for raw in series if raw.symbol == symbol)
    block = real.frame.sort_index().iloc[:block_rows]
    span_weeks = (block.index[-1] - block.index[0]).days // 7 + 2
    copies = -(-n // block_rows)
    parts = []
    for k in range(copies):
        part = block.copy()
        part.index = block.index + pd.Timedelta(weeks=k * span_weeks)
        parts.append(part)
    bars = _bars(RawSeries(name, "1d", pd.concat(parts)), "bench")
    assert len(bars) >= n and all(a.close_time < b.close_time for a, b in pairwise(bars))
    return bars[:n]


def run_throughput(bars: list[Bar], repeat: int) -> dict[str, float]:
    """Best of ``repeat`` runs: wall seconds, and the CPU seconds of the run with the best wall time."""
    best = best_cpu = float("inf")
    examples = 0
    for _ in range(repeat):
        engine = Engine()
        update = engine.update
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        examples = sum(1 for bar in bars if update(bar) is not None)
        seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        if seconds < best:
            best, best_cpu = seconds, cpu
    return {"bars": len(bars), "examples": examples, "seconds": best, "cpu_seconds": best_cpu,
            "bars_per_s": len(bars) / best, "examples_per_s": examples / best,
            "cpu_us_per_bar": best_cpu / len(bars) * 1e6}


def run_tail(bars: list[Bar], n: int, repeat: int) -> float:
    """Best µs per bar of the last BLOCK of the first ``n`` bars, fed after the n - BLOCK before them."""
    best = float("inf")
    for _ in range(repeat):
        engine = Engine()
        update = engine.update
        for bar in bars[: n - BLOCK]:
            update(bar)
        tail = bars[n - BLOCK : n]
        gc.collect()
        start = time.perf_counter()
        for bar in tail:
            update(bar)
        best = min(best, time.perf_counter() - start)
    return best / BLOCK * 1e6


def digest(bar_lists: list[list[Bar]]) -> str:
    h = hashlib.sha256()
    for bars in bar_lists:
        engine = Engine()
        for bar in bars:
            example = engine.update(bar)
            if example is not None:
                h.update(json.dumps(example.record).encode())
                h.update(b"\n")
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best counts (default 3)")
    p.add_argument("--digest", action="store_true", help="also print the sha256 of every record produced")
    p.add_argument("--throughput-only", action="store_true", help="only (a), the throughput")
    args = p.parse_args(argv)

    series = real_series()
    bars = throughput_bars(series)
    if args.throughput_only:
        gc.collect()
        gc.freeze()
        print(json.dumps({"throughput": run_throughput(bars, args.repeat)}, indent=2))
        return 0
    long = long_series(series, LONG)
    gc.collect()
    gc.freeze()  # the harness's bars are not the engine's: keep them out of the full collections
    result: dict[str, object] = {"throughput": run_throughput(bars, args.repeat)}
    short_us = run_tail(long, SHORT, max(args.repeat, 5))
    long_us = run_tail(long, LONG, args.repeat)
    result["history"] = {"block": BLOCK, "short_bars": SHORT, "long_bars": LONG, "short_us_per_bar": short_us,
                         "long_us_per_bar": long_us, "ratio": long_us / short_us}
    if args.digest:
        result["digest"] = digest([bars, long])
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    tp, hist = result["throughput"], result["history"]
    assert isinstance(tp, dict) and isinstance(hist, dict)
    print("VPA engine alone, one process, best of", args.repeat)
    print(f"  (a) {tp['bars']:>7,} real daily bars tiled -> {tp['examples']:,} examples in {tp['seconds']:.3f} s")
    print(f"      {'examples/s':<28}{tp['examples_per_s']:>12,.0f}")
    print(f"      {'bars/s':<28}{tp['bars_per_s']:>12,.0f}")
    print(f"  (b) last {BLOCK} bars of one tiled series, after N bars")
    print(f"      {'N = ' + format(SHORT, ','):<28}{short_us:>10.1f} µs/bar")
    print(f"      {'N = ' + format(LONG, ','):<28}{long_us:>10.1f} µs/bar")
    print(f"      {'ratio long / short':<28}{hist['ratio']:>12.3f}")
    if args.digest:
        print(f"  records sha256 {result['digest']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
