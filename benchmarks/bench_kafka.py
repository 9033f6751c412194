"""End-to-end Kafka benchmark: replay -> processor (faust workers) -> sink -> JSONL, beside the raw rate.

Method, all on this machine (broker and every stage share its cores):
1. raw: the same Avro bar payloads are produced (kafka-python, acks=all, idempotent) to a fresh topic and
   consumed back by one consumer; the rate is messages / (first send .. last receive).
2. pipeline: ``--workers`` ``vpa-stream process`` workers (one consumer group; each of 1 and 2 by default) and
   one ``vpa-stream sink`` run as processes; once the group is stable with every worker in it, the bars are
   replayed (as fast as possible) and the clock stops when the sink's files hold every expected example.
   Rate = bars / (replay start .. last example durable on disk). Beside it, the CPU time the workers and the
   sink used per bar (from /proc), which says where the cores went, and the pipeline / raw ratio: both share
   the machine's state of the moment, so the ratio compares across runs where the rates do not.
Each run measures raw, then the pipeline with each worker count, in turn (interleaved).
Data: bokeh-sampledata AAPL/MSFT/IBM daily tiled into more symbols (AAPL_0, AAPL_1, ...) over the same dates.

    python benchmarks/bench_kafka.py [--bars 50000] [--runs 3] [--workers 1 2] [--bootstrap-servers HOST:PORT]
(without --bootstrap-servers or KAFKA_BOOTSTRAP_SERVERS it starts scripts/kafka-local and stops it after)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tiled_bars(n: int) -> list:
    from vpa_stream.producers.replay import replay
    from vpa_stream.producers.sources.sample import SampleSource

    base = list(replay(SampleSource().streams(), lambda d: None))
    out = []
    copy = 0
    while len(out) < n:
        out.extend(replace(b, symbol=f"{b.symbol}_{copy}") for b in base)
        copy += 1
    out = out[:n]
    out.sort(key=lambda b: b.replay_key())
    return out


def raw_rate(bootstrap: str, payloads: list[bytes]) -> float:
    from kafka import KafkaConsumer

    from vpa_stream.producers.kafka_replay import make_producer
    from vpa_stream.schemas.topics import Topics, create_topics

    topics = Topics(f"raw-{uuid.uuid4().hex[:6]}.")
    create_topics(bootstrap, topics, 1)
    producer = make_producer(bootstrap)
    consumer = KafkaConsumer(topics.bars, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False)
    consumer.poll(timeout_ms=1000)
    started = time.perf_counter()
    for p in payloads:
        producer.send(topics.bars, key=b"k", value=p)
    producer.flush()
    got = 0
    while got < len(payloads):
        for records in consumer.poll(timeout_ms=1000, max_records=10_000).values():
            got += len(records)
    seconds = time.perf_counter() - started
    producer.close()
    consumer.close()
    return len(payloads) / seconds


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for_group(bootstrap: str, group: str, members: int, timeout_s: float = 120.0) -> None:
    """Until the consumer group is stable with ``members`` members (every worker has its partitions)."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            info = admin.describe_groups([group]).get(group, {})
            if info.get("group_state") == "Stable" and len(info.get("members") or []) == members:
                return
            time.sleep(0.5)
    finally:
        admin.close()
    raise SystemExit(f"consumer group {group} not stable with {members} members after {timeout_s:.0f} s")


def pipeline_rate(bootstrap: str, bars: list, expected: int, workdir: Path, workers: int = 1) -> dict[str, float]:
    from vpa_stream.producers.kafka_replay import BarPublisher, make_producer
    from vpa_stream.schemas.topics import Topics, create_topics

    prefix = f"bench-{uuid.uuid4().hex[:6]}."
    topics = Topics(prefix)
    create_topics(bootstrap, topics, 6)
    out = workdir / "out"
    common = ["--bootstrap-servers", bootstrap, "--topic-prefix", prefix]
    procs = [
        subprocess.Popen([sys.executable, "-m", "vpa_stream.cli", "process", *common, "--partitions", "6",
                          "--datadir", str(workdir / f"processor-{k}-data"), "--no-restart"],  # its CPU is the worker's
                         stdout=subprocess.DEVNULL, stderr=open(workdir / f"process-{k}.log", "wb"))  # noqa: SIM115
        for k in range(workers)
    ]
    procs.append(subprocess.Popen([sys.executable, "-m", "vpa_stream.cli", "sink", *common, "--out", str(out),
                                   "--max-records", "5000", "--idle-commit", "0.3"],
                                  stdout=subprocess.DEVNULL, stderr=open(workdir / "sink.log", "wb")))  # noqa: SIM115
    time.sleep(5)  # the sink joins its group before the first bar
    wait_for_group(bootstrap, f"{prefix}processor", workers)
    publisher = BarPublisher(make_producer(bootstrap), topics)
    cpu_before = [cpu_seconds(p.pid) for p in procs]
    started = time.perf_counter()
    for bar in bars:
        publisher.bar(bar)
    publisher.flush()
    replay_s = time.perf_counter() - started
    while examples_durable(out) < expected:  # the manifest, not the files: rereading them would steal a core
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    used = [cpu_seconds(p.pid) - before for p, before in zip(procs, cpu_before, strict=True)]
    for p in procs:
        p.terminate()
        p.wait(60)
    return {"pipeline_bars_per_s": len(bars) / seconds, "replay_send_bars_per_s": len(bars) / replay_s,
            "worker_cpu_us_per_bar": sum(used[:-1]) / len(bars) * 1e6,
            "sink_cpu_us_per_bar": used[-1] / len(bars) * 1e6}


def examples_durable(out: Path) -> int:
    """Records in the committed example files, as the sink's manifest lists them."""
    try:
        files = json.loads((out / "manifest.json").read_text())["files"]
    except (FileNotFoundError, json.JSONDecodeError):  # not written yet
        return 0
    return sum(f["records"] for f in files if f["name"].startswith("examples-"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=50_000)
    parser.add_argument("--bootstrap-servers", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
    parser.add_argument("--runs", type=int, default=1, help="repeat raw + pipeline this many times")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts, each run in turn")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    started_broker = False
    bootstrap = args.bootstrap_servers
    if not bootstrap:
        bootstrap = subprocess.run([str(ROOT / "scripts" / "kafka-local"), "start"], capture_output=True, text=True,
                                   check=True).stdout.strip().splitlines()[-1]
        started_broker = True
    try:
        from vpa_stream.processors.stage import Encoded, ExampleStage
        from vpa_stream.schemas.codec import default_codec

        bars = tiled_bars(args.bars)
        codec = default_codec()
        payloads = [codec.encode("bar", b.to_record()) for b in bars]
        stage = ExampleStage()
        expected = sum(isinstance(stage.process(b), Encoded) for b in bars)
        runs = []
        for _ in range(args.runs):
            load = os.getloadavg()[0]  # another job on the machine shows here: the stages share its cores
            raw = raw_rate(bootstrap, payloads)
            run: dict[str, float] = {"load_avg_1min_before": round(load, 2),
                                     "raw_produce_consume_msgs_per_s": round(raw)}
            for workers in args.workers:
                with tempfile.TemporaryDirectory(prefix="vpa-kbench-") as tmp:
                    pipeline = pipeline_rate(bootstrap, bars, expected, Path(tmp), workers)
                run.update({f"{k}_{workers}w": round(v) for k, v in pipeline.items()})
                run[f"pipeline_over_raw_{workers}w"] = round(pipeline["pipeline_bars_per_s"] / raw, 3)
            runs.append(run)
            if not args.json:
                print("\n".join(f"{k:32} {v:,}" for k, v in run.items()) + "\n", flush=True)
    finally:
        if started_broker:
            subprocess.run([str(ROOT / "scripts" / "kafka-local"), "stop"], capture_output=True, check=False)
    result = {"bars": len(bars), "examples": expected, "runs": runs}
    print(json.dumps(result, indent=1) if args.json else f"{len(bars):,} bars, {expected:,} examples per run")


if __name__ == "__main__":
    main()
