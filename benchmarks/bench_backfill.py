"""End-to-end embedded backfill benchmark: Parquet files on disk -> JSONL on disk, Avro round trip included.

Method: real daily bars (bokeh-sampledata AAPL/MSFT/IBM with adjusted close, backtesting GOOG; read from the
installed packages) are tiled into ``--symbols`` symbols (AAPL_000, MSFT_000, ..., AAPL_001, ...); each symbol's
history is its real series repeated forward in time (each repetition shifted past the previous one), as long as
the size needs, so a larger run has the same symbols and longer histories. One Parquet file per symbol, in
row groups of 1,024 rows: the reader holds one row group per file, so memory depends on the symbols and the
row-group size, not on the history length. Each size runs ``vpa-stream backfill --source parquet:DIR`` in a
fresh process; we report wall seconds, bars/s and the run's peak RSS (the largest process's VmHWM, as the
run's summary prints it).

    python benchmarks/bench_backfill.py                # 100k bars
    python benchmarks/bench_backfill.py --sizes 100000 1000000 --symbols 40
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{package} is not installed (pip install -e '.[test]')")
    return Path(next(iter(spec.submodule_search_locations)), *parts)


def real_frames() -> dict[str, pd.DataFrame]:
    stocks = pd.read_csv(_package_file("bokeh_sampledata", "_data", "stocks.csv.gz"))
    frames = {sym: part.drop(columns=["Ticker"]) for sym, part in stocks.groupby("Ticker") if sym != "GOOG"}
    goog = pd.read_csv(_package_file("backtesting", "test", "GOOG.csv")).rename(columns={"Unnamed: 0": "Date"})
    frames["GOOG"] = goog
    return frames


def write_tiles(directory: Path, bars: int, symbols: int) -> int:
    frames = real_frames()
    names = sorted(frames)
    per_symbol = bars // symbols
    written = 0
    for k in range(symbols):
        base = frames[names[k % len(names)]].copy()
        base["Date"] = pd.to_datetime(base["Date"])
        span = base["Date"].iloc[-1] - base["Date"].iloc[0] + pd.Timedelta(days=7)
        parts = []
        rep = 0
        while sum(len(p) for p in parts) < per_symbol:
            part = base.copy()
            part["Date"] = part["Date"] + rep * span
            parts.append(part)
            rep += 1
        series = pd.concat(parts).iloc[:per_symbol]
        series.to_parquet(directory / f"{names[k % len(names)]}_{k // len(names):03d}.parquet", index=False,
                          row_group_size=1024)
        written += len(series)
    return written


def run(bars: int, symbols: int, extra: list[str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="vpa-bench-") as tmp:
        src = Path(tmp, "in")
        src.mkdir()
        total = write_tiles(src, bars, symbols)
        out = Path(tmp, "out")
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "vpa_stream.cli", "backfill", "--source", f"parquet:{src}",
                               "--out", str(out), "--no-progress", *extra], capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - started
        # the run's own figure: VmHWM of its largest process (ru_maxrss of a child would include this
        # harness's high-water mark, inherited at exec)
        peak = next(float(line.split()[2].replace(",", "")) for line in proc.stdout.splitlines()
                    if line.strip().startswith("peak memory"))
        examples = 0
        for f in out.glob("examples-*.jsonl"):
            with f.open("rb") as fh:
                examples += sum(1 for _ in fh)
        size = sum(f.stat().st_size for f in out.glob("examples-*.jsonl"))
        return {"bars": total, "examples": examples, "seconds": round(seconds, 2),
                "bars_per_s": round(total / seconds), "peak_rss_mb": round(peak, 1),
                "output_mb": round(size / 2**20, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--symbols", type=int, default=40, help="symbols (files); histories grow with size")
    parser.add_argument("--single-process", action="store_true", help="run the sink in the main process too")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = [run(n, args.symbols, ["--single-process"] if args.single_process else []) for n in args.sizes]
    if args.json:
        print(json.dumps(results, indent=1))
        return
    print(f"{'bars':>10} {'examples':>10} {'seconds':>8} {'bars/s':>8} {'peak RSS MB':>12} {'output MB':>10}")
    for r in results:
        print(f"{r['bars']:>10,} {r['examples']:>10,} {r['seconds']:>8} {r['bars_per_s']:>8,} "
              f"{r['peak_rss_mb']:>12} {r['output_mb']:>10}")


if __name__ == "__main__":
    main()
