"""The whole embedded backfill against the engine alone (issue 14): their bars/s ratio, interleaved in one run.

Method
------
- Engine alone, one process: ``bench_engine.py --throughput-only --repeat 1`` (this tree's script) in a fresh
  process (23,916 real daily bars tiled, built before the clock, replayed through one ``Engine``): bars/s, and
  CPU µs per bar. Each tree's backfill is compared with its own engine (its PYTHONPATH).
- Whole backfill: ``vpa-stream backfill --source parquet:DIR --out OUT`` in a fresh process, every stage from
  Parquet files to JSONL on disk (fsync, manifest), on bench_backfill.py's workload: ``--symbols`` symbols tiled
  from the real daily series, histories growing with the size, one file per symbol. Default workers (the cores
  available) unless ``--workers``. Measured: wall bars/s; the CPU of all its processes (the children's rusage);
  the CPU of each process (its ``-v`` log line); peak RSS from its summary (largest process, all processes).
- Interleaved: every round runs, for each size, tree and CPU set, the backfill and then that tree's
  engine-alone (each tree's engine runs once more before the round's first backfill). A backfill's ratio is
  its bars/s over the mean of its tree's engine-alone runs just before and just after it, so both saw the same
  machine. Rounds repeat; the table shows
  the median and the range.
- CPU ratio: ``cores x engine CPU per bar / backfill CPU per bar``, the ratio the backfill would reach with
  those cores to itself (it does not depend on the machine's other load; an upper bound of the wall ratio).
- ``--tree NAME=PATH`` adds the backfill of another checkout (its own PYTHONPATH, e.g. the code before this
  change); ``--cpus 0 --cpus 0,1`` runs the backfill under ``taskset -c`` (1 core, then 2) to show how the
  ratio grows with cores. Run from a tree compiled in place (``python setup.py build_ext --inplace``) for the
  compiled engine; the script says which it ran.

    python benchmarks/bench_workers.py --sizes 100000 1000000 --rounds 3 [--tree before=/tmp/before] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_backfill import write_tiles  # noqa: E402 - the benchmarks directory is not a package


def compiled(tree: Path) -> bool:
    return any((tree / "vpa_stream" / "processors" / "engine").glob("engine.*.so"))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def engine_alone(tree: Path, workdir: Path) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_engine.py"), "--throughput-only",
                           "--repeat", "1"], capture_output=True, text=True, check=True, env=env, cwd=workdir)
    tp = json.loads(proc.stdout)["throughput"]
    return {"bars_per_s": tp["bars_per_s"], "cpu_us_per_bar": tp["cpu_us_per_bar"]}


def backfill(tree: Path, source: Path, out: Path, bars: int, cpus: str | None, workers: int | None,
             workdir: Path) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    cmd = [sys.executable, "-m", "vpa_stream.cli", "-v", "backfill", "--source", f"parquet:{source}",
           "--out", str(out), "--no-progress"]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    if cpus is not None:
        cmd = ["taskset", "-c", cpus, *cmd]
    cpu_before = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir)
    seconds = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    if proc.returncode != 0:
        raise SystemExit(f"backfill failed ({proc.returncode}): {proc.stderr[-2000:]}")
    shutil.rmtree(out, ignore_errors=True)
    peak = re.search(r"peak memory\s+([\d,.]+) MB \(largest process(?:; ([\d,.]+) MB all processes)?", proc.stdout)
    split = re.search(r"cpu seconds: (.*)", proc.stderr)
    workers_line = re.search(r"workers\s+(\d+)", proc.stdout)
    return {"bars_per_s": bars / seconds, "seconds": seconds, "cpu_us_per_bar": cpu / bars * 1e6,
            "peak_rss_mb": float(peak.group(1).replace(",", "")) if peak else None,
            "all_rss_mb": float(peak.group(2).replace(",", "")) if peak and peak.group(2) else None,
            "cpu_split_s": split.group(1) if split else None,
            "workers": int(workers_line.group(1)) if workers_line else None}


def summarise(runs: list[dict[str, object]]) -> dict[str, object]:
    def stat(key: str) -> tuple[float, float, float]:
        values = [float(r[key]) for r in runs if r.get(key) is not None]  # type: ignore[arg-type]
        return (statistics.median(values), min(values), max(values)) if values else (0.0, 0.0, 0.0)

    return {k: stat(k) for k in ("ratio", "cpu_ratio", "bars_per_s", "engine_bars_per_s", "cpu_us_per_bar",
                                 "engine_cpu_us_per_bar", "peak_rss_mb", "all_rss_mb")} | {
        "workers": runs[0].get("workers"), "cpu_split_s": [r.get("cpu_split_s") for r in runs]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--symbols", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tree", action="append", default=[], help="NAME=PATH of another checkout to run too")
    parser.add_argument("--cpus", action="append", default=None, help="taskset -c LIST for the backfill (repeat)")
    parser.add_argument("--workers", type=int, default=None, help="--workers of the backfill (default: its own)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    trees = {"after": ROOT, **{k: Path(v).resolve() for k, v in (t.split("=", 1) for t in args.tree)}}
    cpu_sets: list[str | None] = args.cpus or [None]
    header = {"load_avg_1min_before": os.getloadavg()[0], "cores": os.cpu_count(),
              "compiled": {name: compiled(tree) for name, tree in trees.items()}}
    if not args.json:
        kinds = {k: "compiled" if header["compiled"][k] else "pure Python" for k in trees}  # type: ignore[index]
        print("trees " + ", ".join(f"{k}={v} ({kinds[k]})" for k, v in trees.items())
              + f"; load {header['load_avg_1min_before']:.1f}", flush=True)
    runs: dict[str, list[dict[str, object]]] = {}
    with tempfile.TemporaryDirectory(prefix="vpa-bench-workers-") as tmp:
        work = Path(tmp)
        inputs: dict[int, tuple[Path, int]] = {}
        for size in args.sizes:
            directory = work / f"in-{size}"
            directory.mkdir()
            inputs[size] = directory, write_tiles(directory, size, args.symbols)
        last = {name: engine_alone(tree, work) for name, tree in trees.items()}
        for r in range(args.rounds):
            for size in args.sizes:
                source, bars = inputs[size]
                for name, tree in (list(trees.items()) if r % 2 == 0 else list(trees.items())[::-1]):
                    for cpus in cpu_sets:
                        workers = args.workers if name == "after" else None  # another tree may lack the flag
                        result = backfill(tree, source, work / "out", bars, cpus, workers, work)
                        before, after = last[name], engine_alone(tree, work)
                        engine_rate = (before["bars_per_s"] + after["bars_per_s"]) / 2
                        engine_cpu = (before["cpu_us_per_bar"] + after["cpu_us_per_bar"]) / 2
                        cores = len(cpus.split(",")) if cpus else (os.cpu_count() or 1)
                        result |= {"round": r, "size": size, "tree": name, "cpus": cpus,
                                   "engine_bars_per_s": engine_rate, "engine_cpu_us_per_bar": engine_cpu,
                                   "ratio": float(result["bars_per_s"]) / engine_rate,  # type: ignore[arg-type]
                                   "cpu_ratio": cores * engine_cpu / float(result["cpu_us_per_bar"]),  # type: ignore[arg-type]
                                   "load_avg_1min": os.getloadavg()[0]}
                        runs.setdefault(f"{size} {name} cpus={cpus or 'all'}", []).append(result)
                        if not args.json:
                            print(f"  round {r} {size:>9,} {name:>7} cpus={cpus or 'all':<5} "
                                  f"{result['bars_per_s']:>8,.0f} bars/s vs engine {engine_rate:>7,.0f}: "
                                  f"ratio {result['ratio']:.2f}, cpu ratio {result['cpu_ratio']:.2f}, "
                                  f"{result['cpu_us_per_bar']:.0f} µs CPU/bar, peak {result['peak_rss_mb']} MB "
                                  f"(all {result['all_rss_mb']}), load {result['load_avg_1min']:.1f}; "
                                  f"{result['cpu_split_s']}", flush=True)
                        last[name] = after
    table = {key: summarise(value) for key, value in runs.items()}
    if args.json:
        print(json.dumps({"header": header, "summary": table, "runs": runs}, indent=1))
        return
    print(f"\n{'run':<36}{'ratio (range)':>20}{'cpu ratio':>16}{'bars/s':>10}{'engine':>9}{'peak MB':>9}"
          f"{'all MB':>8}")
    for key, s in table.items():
        ratio, cpu_ratio, rate, engine = s["ratio"], s["cpu_ratio"], s["bars_per_s"], s["engine_bars_per_s"]
        print(f"{key:<36}{ratio[0]:>8.2f} ({ratio[1]:.2f}-{ratio[2]:.2f}){cpu_ratio[0]:>8.2f} ({cpu_ratio[1]:.2f}-"
              f"{cpu_ratio[2]:.2f}){rate[0]:>10,.0f}{engine[0]:>9,.0f}{s['peak_rss_mb'][2]:>9.0f}"
              f"{s['all_rss_mb'][2]:>8.0f}")


if __name__ == "__main__":
    main()
