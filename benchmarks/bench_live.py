"""Live mode latency, embedded: bar close seen by the poller -> its example durable on disk (p50/p99).

Method: the tests' simulated market (real AAPL/MSFT/IBM daily bars from bokeh-sampledata, revealed by a
simulated clock that jumps to each next poll) runs as fast as the pipeline allows. "Seen" is the wall time
the provider call that returned the bar came back; "durable" is the wall time the poll cycle's commit
returned (write -> fsync -> rename -> manifest, sinks/jsonl.py). The first cycle (the warm-up history of a
fresh start) is left out: it is a small backfill, not live latency.

    python benchmarks/bench_live.py [--days 1500] [--symbols AAPL,MSFT,IBM]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.producers.test_live import OPTIONS, SimulatedMarket, after
from tests.realdata import symbol_bars
from vpa_stream.live_pipeline import run_embedded
from vpa_stream.processors.config import VPAConfig
from vpa_stream.producers.clock import SimulatedClock
from vpa_stream.producers.replay import replay


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=1500, help="session days per symbol (default: %(default)s)")
    ap.add_argument("--symbols", default="AAPL,MSFT,IBM")
    ap.add_argument("--start-at", type=int, default=100, help="bars of history before the live part")
    args = ap.parse_args()
    symbols = [s.strip() for s in args.symbols.split(",")]
    series = [iter(symbol_bars(s)[: args.days]) for s in symbols]
    bars = list(replay(series, lambda d: None))
    start = bars[args.start_at * len(symbols)]
    clock = SimulatedClock(after(start, 2))
    market = SimulatedMarket(bars, clock)
    seen: dict[str, float] = {}
    latencies: list[float] = []
    cycles = {"n": 0}
    inner = market.download

    def download(**kwargs: object) -> object:
        frame = inner(**kwargs)
        for t in kwargs["tickers"]:  # type: ignore[attr-defined]
            seen[str(t)] = time.perf_counter()
        return frame

    def on_commit(ids: list[str]) -> None:
        cycles["n"] += 1
        if cycles["n"] == 1:
            return
        done = time.perf_counter()
        latencies.extend(done - seen[i.split("|", 1)[0]] for i in ids)

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        stats = run_embedded(symbols, "1d", Path(tmp), cfg=VPAConfig(), clock=clock, download=download,
                             options=OPTIONS, until_ms=after(bars[-1]), on_commit=on_commit)
        wall = time.perf_counter() - t0
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    print(f"symbols {len(symbols)}, bars emitted {stats.emitted:,}, polls {stats.polls:,}, cycles {stats.cycles:,}")
    print(f"live examples measured {len(latencies):,}; wall {wall:.1f} s")
    print(f"latency seen -> durable: p50 {p(0.50):.2f} ms, p99 {p(0.99):.2f} ms, max {latencies[-1] * 1000:.2f} ms, "
          f"mean {statistics.fmean(latencies) * 1000:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
