"""Recovery benchmark (issue 15): what a kill -9 of the Kafka processor costs, and what a broker outage costs.

(a) redelivered-bar cost, no broker: IBM's first 3,000 real daily bars go through a processor (its ring is full:
    1,764 slots); a second processor on the same table (a restarted worker) is rebuilt, gets the ring's last
    ``--tail`` bars again (an uncommitted tail after a kill -9), then new bars. "before" is the processor of
    ``--before-rev`` (loaded from git), "after" this tree's; the two alternate in every round of one run.
(b) recovery after kill -9, on a broker: S symbols x N bars (real AAPL/MSFT/IBM rows repeated forward by whole
    weeks) wait on the bars topic; one ``vpa-stream process`` worker; killed once 60% of the examples are
    produced, restarted at once (as a supervisor would). Time to the first *new* example (an id beyond what the
    topic held at the kill), from the kill and from the restart. The worker runs this tree, and with ``--before``
    also ``--before-rev`` (``git archive`` into a temporary directory), alternating, capped at ``--cap`` s.
(c) broker outage: the sample (9,810 bars) replayed as fast as possible through a worker and a sink; the clock
    runs from the replay's start to the last example durable in the sink's files; runs without an outage
    alternate with runs where the broker is killed (-9) once 30% of the examples are durable and started again
    on its data (``scripts/kafka-local start --keep``) 5 s later.

    python benchmarks/bench_recovery.py [--part a,b,c] [--sizes 1000,10000] [--before] [--runs 2]
It starts its own broker with scripts/kafka-local (run dir under the temp directory) and stops it after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
BEFORE_REV = "317556c"  # the last commit with the per-bar re-run of the engine on redelivery


def before_module(rev: str) -> types.ModuleType:
    """``vpa_stream.processors.stream`` as it was at ``rev`` (the ring format is unchanged)."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:vpa_stream/processors/stream.py"],
                            capture_output=True, text=True, check=True).stdout
    module = types.ModuleType("stream_before")
    module.__file__ = f"{rev}:vpa_stream/processors/stream.py"
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


def redelivery_cost(rev: str, rounds: int, tail: int, new_bars: int) -> dict[str, object]:
    from tests.realdata import symbol_bars
    from vpa_stream.processors import stream as after
    from vpa_stream.processors.engine import engine as engine_module
    from vpa_stream.schemas.codec import default_codec

    codec = default_codec()
    payloads = [codec.encode("bar", b.to_record()) for b in symbol_bars("IBM")[:3000 + new_bars]]
    table: dict = {}
    first = after.StreamProcessor(table)
    for p in payloads[:3000]:
        first.process(p)
    kinds = {"before": before_module(rev).StreamProcessor, "after": after.StreamProcessor}
    timings: dict[str, dict[str, list[float]]] = {
        k: {"restore_s": [], "first_redelivered_ms": [], "redelivered_ms": [], "new_ms": []} for k in kinds}
    for r in range(rounds):
        for name in (("before", "after") if r % 2 == 0 else ("after", "before")):
            proc = kinds[name](dict(table))
            t0 = time.perf_counter()
            if name == "after":
                for _ in proc.restore_steps("IBM"):
                    pass
            else:
                proc._restore("IBM")
            t1 = time.perf_counter()
            proc.process(payloads[3000 - tail])  # the first one also builds the ring's close-time index
            t_first = time.perf_counter()
            for p in payloads[3000 - tail + 1:3000]:
                proc.process(p)
            t2 = time.perf_counter()
            for p in payloads[3000:]:
                proc.process(p)
            t3 = time.perf_counter()
            timings[name]["restore_s"].append(t1 - t0)
            timings[name]["first_redelivered_ms"].append((t_first - t1) * 1000)
            timings[name]["redelivered_ms"].append((t2 - t_first) / (tail - 1) * 1000)
            timings[name]["new_ms"].append((t3 - t2) / new_bars * 1000)
    out: dict[str, object] = {"rounds": rounds, "redelivered_bars_per_round": tail, "new_bars_per_round": new_bars}
    for name, t in timings.items():
        out[name] = {k: round(statistics.median(v), 4) for k, v in t.items()}
    out["redelivered_ratio_before_after"] = round(statistics.median(timings["before"]["redelivered_ms"])
                                                  / statistics.median(timings["after"]["redelivered_ms"]))
    out["engine_build"] = "mypyc" if engine_module.__file__.endswith(".so") else "pure Python"
    return out


class Broker:
    """A private scripts/kafka-local broker (kill -9 and start --keep for part c)."""

    def __init__(self, run_dir: Path) -> None:
        self.env = dict(os.environ, VPA_KAFKA_RUN_DIR=str(run_dir), VPA_KAFKA_WATCH_PID=str(os.getpid()),
                        PYTHON=sys.executable)

    def __call__(self, *args: str) -> str:
        done = subprocess.run([str(ROOT / "scripts" / "kafka-local"), *args], env=self.env, capture_output=True,
                              text=True, check=True, stdin=subprocess.DEVNULL)
        return done.stdout.strip()


def stage(tree: Path, log: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "vpa_stream.cli", *args], cwd=tree, env=env,
                            stdin=subprocess.DEVNULL, stdout=open(log, "ab"), stderr=subprocess.STDOUT)


class ExampleWatch:
    """Reads the examples topic: how many there are, and when the first id beyond a set of marks appears."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from kafka import KafkaConsumer, TopicPartition

        from vpa_stream.schemas.codec import default_codec

        self.codec = default_codec()
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                      client_id="bench-recovery")
        parts = None
        while not parts:
            parts = self.consumer.partitions_for_topic(topic)
            time.sleep(0.1)
        self.tps = [TopicPartition(topic, p) for p in sorted(parts)]
        self.consumer.assign(self.tps)
        self.consumer.seek_to_beginning(*self.tps)
        self.marks: dict[str, str] = {}

    def produced(self) -> int:
        return sum(self.consumer.end_offsets(self.tps).values())

    def read_until(self, offsets: dict) -> float | None:
        """Consume the topic up to ``offsets`` (what it held at the kill), keeping each key's latest close time;
        returns when a record past them was already a new example, if one was met on the way."""
        first = None
        while any(self.consumer.position(tp) < offsets[tp] for tp in self.tps):
            for tp, records in self.consumer.poll(timeout_ms=500, max_records=5000).items():
                for rec in records:
                    new = self._mark(rec.value)
                    if new and rec.offset >= offsets[tp] and first is None:
                        first = time.monotonic()
        return first

    def _mark(self, value: bytes) -> bool:
        """Record an example's id; True when it is beyond every id seen so far for its key."""
        key, close = self.codec.decode(value, expect="example")[1]["id"].rsplit("|", 1)
        if close > self.marks.get(key, ""):
            self.marks[key] = close
            return True
        return False

    def first_new(self, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for records in self.consumer.poll(timeout_ms=100, max_records=5000).values():
                for rec in records:
                    if self._mark(rec.value):
                        return time.monotonic()
        return None

    def close(self) -> None:
        self.consumer.close()


def history_bars_of(n: int) -> list:
    from bench_engine import long_series, real_series

    series = real_series()
    bars = [b for sym in ("AAPL", "MSFT", "IBM") for b in long_series(series, n, sym, f"{sym}_LONG", 3000)]
    bars.sort(key=lambda b: b.replay_key())
    return bars


def recovery_after_kill(bootstrap: str, tree: Path, bars: list, expected: int, workdir: Path, cap: float
                        ) -> dict[str, float | None]:
    from vpa_stream.producers.kafka_replay import BarPublisher, make_producer
    from vpa_stream.schemas.topics import Topics, create_topics

    prefix = f"rec-{uuid.uuid4().hex[:6]}."
    topics = Topics(prefix)
    create_topics(bootstrap, topics, 3)
    publisher = BarPublisher(make_producer(bootstrap), topics)
    for bar in bars:
        publisher.bar(bar)
    publisher.flush()
    publisher.producer.close()  # type: ignore[attr-defined]
    args = ["process", "--bootstrap-servers", bootstrap, "--topic-prefix", prefix, "--partitions", "3"]
    worker = stage(tree, workdir / "process-0.log", *args, "--datadir", str(workdir / "d0"))
    watch = ExampleWatch(bootstrap, topics.examples)
    try:
        while watch.produced() < 0.6 * expected:
            time.sleep(0.01)
        worker.kill()
        worker.wait()
        killed = time.monotonic()
        at_kill = watch.consumer.end_offsets(watch.tps)
        worker = stage(tree, workdir / "process-1.log", *args, "--datadir", str(workdir / "d1"))
        restarted = time.monotonic()
        first = watch.read_until(at_kill) or watch.first_new(cap)
    finally:
        worker.kill()
        worker.wait()
        watch.close()
    return {"from_kill_s": round(first - killed, 2) if first else None,
            "from_restart_s": round(first - restarted, 2) if first else None}


def durable(out: Path) -> int:
    from bench_kafka import examples_durable

    return examples_durable(out)


def outage_run(broker: Broker, bootstrap: str, tree: Path, workdir: Path, expected: int, outage: bool
               ) -> dict[str, float]:
    from vpa_stream.schemas.topics import Topics, create_topics

    prefix = f"out-{uuid.uuid4().hex[:6]}."
    create_topics(bootstrap, Topics(prefix), 3)
    common = ["--bootstrap-servers", bootstrap, "--topic-prefix", prefix]
    out = workdir / "out"
    procs = [stage(tree, workdir / "process.log", "process", *common, "--partitions", "3", "--datadir",
                   str(workdir / "d")),
             stage(tree, workdir / "sink.log", "sink", *common, "--out", str(out), "--max-records", "1000",
                   "--idle-commit", "0.3")]
    time.sleep(10)  # both consumers in their groups
    started = time.monotonic()
    procs.append(stage(tree, workdir / "replay.log", "replay", *common, "--no-progress"))
    down = 0.0
    try:
        if outage:
            while durable(out) < 0.3 * expected:
                time.sleep(0.05)
            broker("kill")
            t0 = time.monotonic()
            time.sleep(5)
            broker("start", "--keep")
            down = time.monotonic() - t0
        while durable(out) < expected:
            time.sleep(0.05)
        seconds = time.monotonic() - started
    finally:
        for p in procs:
            p.terminate()
            p.wait(60)
    return {"seconds": round(seconds, 1), "broker_down_s": round(down, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", default="a,b,c")
    parser.add_argument("--before-rev", default=BEFORE_REV)
    parser.add_argument("--rounds", type=int, default=3, help="(a) interleaved rounds")
    parser.add_argument("--tail", type=int, default=20, help="(a) redelivered bars per round")
    parser.add_argument("--sizes", default="1000,10000", help="(b) bars per symbol")
    parser.add_argument("--before", action="store_true", help="(b) also run the worker of --before-rev")
    parser.add_argument("--cap", type=float, default=180.0, help="(b) give up waiting for a new example")
    parser.add_argument("--runs", type=int, default=2, help="(c) pairs of runs without / with an outage")
    args = parser.parse_args()
    parts = set(args.part.split(","))
    result: dict[str, object] = {"load_avg_1min_before": round(os.getloadavg()[0], 2)}
    if "a" in parts:
        result["a_redelivered_bar"] = redelivery_cost(args.before_rev, args.rounds, args.tail, 100)
        print(json.dumps(result["a_redelivered_bar"], indent=1), flush=True)
    if parts & {"b", "c"}:
        tmp = Path(tempfile.mkdtemp(prefix="vpa-brec-"))
        broker = Broker(tmp / "broker")
        bootstrap = broker("start")
        trees = {"after": ROOT}
        if args.before:
            trees["before"] = tmp / "before-tree"
            trees["before"].mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before_rev], capture_output=True,
                                     check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(trees["before"])], input=archive, check=True)
        try:
            if "b" in parts:
                from vpa_stream.processors.stage import Encoded, ExampleStage

                rows = []
                for n in (int(x) for x in args.sizes.split(",")):
                    bars = history_bars_of(n)
                    stage_ = ExampleStage()
                    expected = sum(isinstance(stage_.process(b), Encoded) for b in bars)
                    for name, tree in trees.items():
                        work = tmp / f"b-{n}-{name}"
                        work.mkdir()
                        row = {"bars_per_symbol": n, "symbols": 3, "code": name,
                               **recovery_after_kill(bootstrap, tree, bars, expected, work, args.cap)}
                        rows.append(row)
                        print(json.dumps(row), flush=True)
                result["b_recovery_after_kill_9"] = rows
            if "c" in parts:
                runs = []
                for r in range(args.runs):
                    for outage in (False, True) if r % 2 == 0 else (True, False):
                        work = tmp / f"c-{r}-{outage}"
                        work.mkdir()
                        row = {"outage": outage, **outage_run(broker, bootstrap, ROOT, work, 9663, outage)}
                        runs.append(row)
                        print(json.dumps(row), flush=True)
                result["c_broker_outage"] = runs
        finally:
            broker("stop")
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
