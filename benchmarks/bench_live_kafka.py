"""Live mode latency, Kafka: bar close seen by the poller -> its example durable in the sink's files (p50/p99/max).

Method, all on this machine (broker, poller, worker and sink share its cores):
- The tests' simulated market (real AAPL/MSFT/IBM daily bars from bokeh-sampledata) is revealed by a paced
  simulated clock: each time the poller sleeps, simulated time jumps to its next due poll and the wall
  clock waits ``--cycle-ms`` (default 100 ms, so one trading day per ~0.1 s: 3 bars, a steady stream).
- The poller (``LivePoller`` + ``KafkaLiveOutput``: the wiring of ``run_kafka``) publishes to the bars topic
  and flushes (acks=all) at the end of each cycle; one ``vpa-stream process`` worker and one
  ``vpa-stream sink`` (defaults: ``max_file_age_s`` 1.0 s, idle commit 1.0 s) run as processes.
- "Seen" is the wall time the provider call that returned the bar came back. "Durable" is the wall time a
  watcher (polling the output directory every 5 ms) first finds the example's id in a committed file: the
  sink renames a file only after write + fsync, so a visible ``examples-*.jsonl`` is durable; the watcher
  adds at most its poll interval plus a read.
- The first cycle (a fresh start's warm-up history: a small backfill, not live latency) is published and
  waited for before the measured part, so worker start-up and group joins are not counted.

    python benchmarks/bench_live_kafka.py [--days 400] [--cycle-ms 100] [--bootstrap-servers HOST:PORT]
(without --bootstrap-servers or KAFKA_BOOTSTRAP_SERVERS it starts scripts/kafka-local and stops it after)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.producers.test_live import OPTIONS, SimulatedMarket, after
from tests.realdata import symbol_bars
from vpa_stream.processors.config import VPAConfig
from vpa_stream.producers.clock import SimulatedClock
from vpa_stream.producers.live import KafkaLiveOutput, LivePoller, kafka_resume_state
from vpa_stream.producers.replay import replay
from vpa_stream.producers.validate import DeadLetter
from vpa_stream.schemas.models import Bar, iso_utc

ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = 3


class PacedClock(SimulatedClock):
    """Simulated market time that jumps to each wake-up, while the wall clock waits ``cycle_s`` per sleep."""

    def __init__(self, start_ms: int, cycle_s: float) -> None:
        super().__init__(start_ms)
        self.cycle_s = cycle_s

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        time.sleep(self.cycle_s)


class RecordingOutput:
    """``KafkaLiveOutput`` that notes, per example id, when the poller saw the bar (its provider call's return)."""

    def __init__(self, inner: KafkaLiveOutput, seen_by_symbol: dict[str, float]) -> None:
        self.inner = inner
        self.seen_by_symbol = seen_by_symbol
        self.seen: dict[str, float] = {}

    def warm(self, bar: Bar) -> None:
        self.inner.warm(bar)

    def bar(self, bar: Bar) -> None:
        self.seen[f"{bar.symbol}|{bar.timeframe}|{iso_utc(bar.close_time)}"] = self.seen_by_symbol[bar.symbol]
        self.inner.bar(bar)

    def dead_letter(self, letter: DeadLetter) -> None:
        self.inner.dead_letter(letter)

    def commit(self) -> None:
        self.inner.commit()


class DurableWatcher(threading.Thread):
    """Records the wall time each example id first appears in a committed (renamed) file of ``out``."""

    def __init__(self, out: Path, interval_s: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.out = out
        self.interval_s = interval_s
        self.durable: dict[str, float] = {}
        self.read: set[str] = set()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.scan()
            time.sleep(self.interval_s)

    def scan(self) -> None:
        if not self.out.exists():
            return
        for path in self.out.glob("examples-*.jsonl"):  # committed files are immutable: read each once
            if path.name in self.read:
                continue
            now = time.time()
            self.read.add(path.name)
            for line in path.read_bytes().splitlines():
                end = line.index(b'"', 7)  # records start with {"id":"...
                self.durable.setdefault(line[7:end].decode(), now)

    def wait_for(self, ids: set[str], timeout_s: float) -> None:
        deadline = time.time() + timeout_s
        while not ids <= self.durable.keys():
            if time.time() > deadline:
                raise TimeoutError(f"{len(ids - self.durable.keys())} of {len(ids)} examples never became durable")
            time.sleep(0.05)


def measure(bootstrap: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from vpa_stream.producers.kafka_replay import BarPublisher, make_producer
    from vpa_stream.schemas.topics import Topics, create_topics

    symbols = [s.strip() for s in args.symbols.split(",")]
    bars = list(replay([iter(symbol_bars(s)[: args.days]) for s in symbols], lambda d: None))
    prefix = f"bench-live-{uuid.uuid4().hex[:6]}."
    topics = Topics(prefix)
    create_topics(bootstrap, topics, PARTITIONS)
    out = workdir / "out"
    common = ["--bootstrap-servers", bootstrap, "--topic-prefix", prefix]
    procs = [
        subprocess.Popen([sys.executable, "-m", "vpa_stream.cli", "process", *common, "--partitions", str(PARTITIONS),
                          "--no-restart"],  # the process is the worker (its CPU, its log)
                         stdout=subprocess.DEVNULL, stderr=open(workdir / "process.log", "wb")),  # noqa: SIM115
        subprocess.Popen([sys.executable, "-m", "vpa_stream.cli", "sink", *common, "--out", str(out)],
                         stdout=subprocess.DEVNULL, stderr=open(workdir / "sink.log", "wb")),  # noqa: SIM115
    ]
    watcher = DurableWatcher(out)
    watcher.start()
    producer = make_producer(bootstrap, client_id="vpa-stream-live", linger_ms=5)  # as run_kafka
    try:
        market_clock = PacedClock(after(bars[args.start_at * len(symbols)], 2), args.cycle_ms / 1000)
        market = SimulatedMarket(bars, market_clock)
        seen_by_symbol: dict[str, float] = {}

        def download(**kwargs: Any) -> Any:
            frame = market.download(**kwargs)
            for t in kwargs["tickers"]:
                seen_by_symbol[str(t)] = time.time()
            return frame

        output = RecordingOutput(KafkaLiveOutput(BarPublisher(producer, topics)), seen_by_symbol)
        poller = LivePoller(symbols, "1d", output, market_clock, download, options=OPTIONS,
                            resume=kafka_resume_state(bootstrap, topics.bars))
        poller.run_once()  # the warm-up history: waited for, not measured
        warmup = set(output.seen)
        # a series' first warmup_bars - 1 bars fill the engine's window and make no example
        per_symbol: dict[str, list[str]] = {}
        for example_id in sorted(warmup):
            per_symbol.setdefault(example_id.split("|", 1)[0], []).append(example_id)
        watcher.wait_for({i for ids in per_symbol.values() for i in ids[VPAConfig().warmup_bars - 1:]}, 180)
        started = time.time()
        stats = poller.run(until_ms=after(bars[-1]))
        live = set(output.seen) - warmup
        watcher.wait_for(live, timeout_s=120)
        wall = time.time() - started
    finally:
        watcher.done.set()
        producer.close()
        for p in procs:
            p.terminate()
            p.wait(60)
    latencies = sorted(watcher.durable[i] - output.seen[i] for i in live)
    return {"symbols": len(symbols), "warmup": len(warmup), "live": len(live), "polls": stats.polls,
            "cycles": stats.cycles, "wall": wall, "latencies": latencies,
            "files": len(list(out.glob("examples-*.jsonl")))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=400, help="session days per symbol (default: %(default)s)")
    ap.add_argument("--symbols", default="AAPL,MSFT,IBM")
    ap.add_argument("--start-at", type=int, default=100, help="sessions of history before the live part")
    ap.add_argument("--cycle-ms", type=float, default=100.0, help="wall time per poller sleep (default: %(default)s)")
    ap.add_argument("--bootstrap-servers", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
    args = ap.parse_args()
    bootstrap = args.bootstrap_servers
    run_dir = None
    env = dict(os.environ)
    if not bootstrap:
        run_dir = tempfile.mkdtemp(prefix="vpa-bench-kafka-")
        env["VPA_KAFKA_RUN_DIR"] = str(Path(run_dir) / "run")
        env["VPA_KAFKA_WATCH_PID"] = str(os.getpid())
        bootstrap = subprocess.run([str(ROOT / "scripts" / "kafka-local"), "start"], capture_output=True,
                                   text=True, check=True, env=env).stdout.strip()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            r = measure(bootstrap, args, Path(tmp))
    finally:
        if run_dir is not None:
            subprocess.run([str(ROOT / "scripts" / "kafka-local"), "stop"], capture_output=True, check=False, env=env)
    lat = r["latencies"]
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
    print("method: simulated market paced at one poller sleep per "
          f"{args.cycle_ms:.0f} ms; poller -> bars topic -> 1 `vpa-stream process` -> 1 `vpa-stream sink` "
          "(max_file_age_s 1.0); latency = provider call returned -> example id visible in a committed file")
    print(f"symbols {r['symbols']}, warm-up bars {r['warmup']:,} (not measured), live bars {r['live']:,}, "
          f"polls {r['polls']:,}, cycles {r['cycles']:,}, files {r['files']}, wall {r['wall']:.1f} s")
    print(f"latency seen -> durable: p50 {p(0.50) * 1000:.0f} ms, p99 {p(0.99) * 1000:.0f} ms, "
          f"max {lat[-1] * 1000:.0f} ms (target p99 <= 2000 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
