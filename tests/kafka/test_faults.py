"""Kafka mode under real faults, at full size: kill -9 of a working processor, kill -9 of the broker, a full disk.

Slow (about 4-6 minutes together on the 2-core machine; CI runs them). Size: the bundled sample, AAPL, MSFT and
IBM daily 2000-2013, 3,270 bars a symbol (9,810 bars, 9,663 examples), so every symbol's ring of daily bars
(1,764 slots) is full well before the faults: from about 5,300 bars on. Every stage is its own OS process. The
test restarts a stage only as a supervisor would (systemd, a container restart policy): right after it died,
or, for the sink on a full disk, once space is freed, as an operator would. Each test ends with the dataset
equal, record for record, to the embedded backfill's, within the bound it states.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kafka.test_pipeline import Stage, Supervisor, dataset, embedded_sample, pipeline, wait_for_lines  # noqa: F401
from tests.kafka_fixtures import KAFKA_LOCAL
from vpa_stream.schemas.topics import Topics, create_topics

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

PROCESSOR_KILL_BOUND_S = 240.0  # the old redelivery path needed minutes per kill at this size
BROKER_OUTAGE_BOUND_S = 240.0
FULL_DISK_BOUND_S = 240.0


class ExamplesProduced:
    """Examples in the examples topic so far (the sum of its end offsets): how far the processor got."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="fault-test-watch")
        self.partitions = [TopicPartition(topic, p) for p in sorted(self.consumer.partitions_for_topic(topic))]

    def count(self) -> int:
        return sum(self.consumer.end_offsets(self.partitions).values())

    def wait_for(self, target: int, timeout: float, supervisor: Supervisor) -> int:
        deadline = time.monotonic() + timeout
        while (n := self.count()) < target:
            assert time.monotonic() < deadline, (f"only {n} of {target} examples produced after {timeout:.0f} s; "
                                                 f"the worker's log ends: {supervisor.stage.log.read_text()[-1500:]!r}")
            supervisor.ensure()
            time.sleep(0.02)
        return n

    def close(self) -> None:
        self.consumer.close()


def assert_consistent_manifest(out: Path) -> None:
    listed = {f["name"] for f in json.loads((out / "manifest.json").read_text())["files"]}
    on_disk = {p.name for p in out.iterdir() if p.name.startswith(("examples-", "dead-letters-"))}
    assert listed == on_disk, "every file is listed in the manifest, every listed file exists"


def test_kill_9_of_a_working_processor_at_random_moments_recovers_in_bounded_time(
        pipeline: dict, embedded_sample: list[str], kafka_bootstrap: str) -> None:  # noqa: F811
    """Three kills while the worker works through full rings, a fourth at a random moment of the restart;
    the test is the supervisor that starts a new worker right after each kill (or exit)."""
    seed = int(os.environ.get("VPA_FAULT_SEED", time.time_ns() % 100_000))
    rng = random.Random(seed)
    print(f"seed {seed}")  # shown with a failure
    topics: Topics = pipeline["topics"]
    pipeline["replay"]()  # the whole backfill waits on the topic: the worker takes full 1,000-bar batches
    started = time.monotonic()
    pipeline["start"]("sink")
    processor = Supervisor(lambda: pipeline["start"]("process"))
    produced = ExamplesProduced(kafka_bootstrap, topics.examples)
    recoveries = []
    try:
        for target in sorted(rng.sample(range(5_500, 9_000), 3)):
            produced.wait_for(target, PROCESSOR_KILL_BOUND_S, processor)
            before = produced.count()
            killed_at = time.monotonic()
            processor.kill9()
            produced.wait_for(before + 1, PROCESSOR_KILL_BOUND_S, processor)
            recoveries.append(time.monotonic() - killed_at)
        time.sleep(rng.uniform(1.0, 8.0))  # during its group join, its changelog recovery, or its rebuild
        processor.kill9()
        processor.wait_for_lines(pipeline["out"], len(embedded_sample), PROCESSOR_KILL_BOUND_S)
    finally:
        produced.close()
    elapsed = time.monotonic() - started
    time.sleep(3)  # anything beyond the expected count would be a duplicate
    assert dataset(pipeline["out"]) == embedded_sample, f"seed {seed}"
    assert elapsed < PROCESSOR_KILL_BOUND_S, f"seed {seed}: {elapsed:.0f} s"
    print(f"seed {seed}: first new example {', '.join(f'{r:.1f}' for r in recoveries)} s after each kill; "
          f"{elapsed:.0f} s in all; {processor.restarts_on_exit} restart(s) after the worker stopped itself")


class LocalBroker:
    """A private ``scripts/kafka-local`` broker this test may kill -9 and restart on its data."""

    def __init__(self, run_dir: Path) -> None:
        self.env = dict(os.environ, VPA_KAFKA_RUN_DIR=str(run_dir), VPA_KAFKA_WATCH_PID=str(os.getpid()),
                        PYTHON=sys.executable)

    def __call__(self, *args: str) -> str:
        done = subprocess.run([str(KAFKA_LOCAL), *args], env=self.env, capture_output=True, text=True,
                              timeout=300, check=False, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    if shutil.which("java") is None:
        if os.environ.get("VPA_REQUIRE_KAFKA") == "1":
            pytest.fail("java is needed for a private scripts/kafka-local broker")
        pytest.skip("java is needed for a private scripts/kafka-local broker")
    broker = LocalBroker(tmp_path / "broker")
    try:
        yield broker
    finally:
        broker("stop")


def test_kill_9_and_restart_of_the_broker_mid_run_is_ridden_out_by_every_stage(
        private_broker: LocalBroker, embedded_sample: list[str], tmp_path: Path) -> None:  # noqa: F811
    """Replay, processor and sink keep running through a ~20 s outage (kill -9, then ``start --keep`` as the
    broker's supervisor would); none is restarted, none prints a traceback."""
    bootstrap = private_broker("start")
    prefix = "outage."
    create_topics(bootstrap, Topics(prefix), 3)
    common = ["--bootstrap-servers", bootstrap, "--topic-prefix", prefix, "--broker-timeout", "120"]
    out = tmp_path / "out"
    stages = [Stage("process", *common, "--partitions", "3", "--datadir", str(tmp_path / "pdata"),
                    log=tmp_path / "process.log"),
              Stage("sink", *common, "--out", str(out), "--idle-commit", "0.5", "--max-records", "300",
                    log=tmp_path / "sink.log")]
    try:
        time.sleep(8)  # both consumers in their groups before the first bar
        started = time.monotonic()
        replay = Stage("replay", *common, "--speed", "1e7", "--no-progress", log=tmp_path / "replay.log")  # ~40 s
        stages.append(replay)
        wait_for_lines(out, 2500, timeout=120)
        private_broker("kill")
        time.sleep(5)
        assert private_broker("start", "--keep") == bootstrap  # the broker's supervisor
        wait_for_lines(out, len(embedded_sample), timeout=BROKER_OUTAGE_BOUND_S)
        elapsed = time.monotonic() - started
        time.sleep(3)
        assert replay.proc.wait(60) == 0
        assert all(s.proc.poll() is None for s in stages[:2]), "processor and sink rode the outage out"
    finally:
        for stage in stages:
            stage.stop()
    assert dataset(out) == embedded_sample
    assert_consistent_manifest(out)
    for stage in stages:
        assert "Traceback" not in stage.log.read_text(), stage.log
    assert elapsed < BROKER_OUTAGE_BOUND_S


def mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None or os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                          check=False)
    return done.returncode == 0


def test_a_full_disk_under_the_sink_is_one_line_and_a_restart_finishes_the_dataset(
        pipeline: dict, embedded_sample: list[str], tmp_path: Path) -> None:  # noqa: F811
    """A 16 MB tmpfs under the sink (the dataset needs ~53 MB; a simulated ENOSPC where the machine cannot mount
    one): the sink stops with one line and exit 1, leaves the directory consistent; after space is freed, the
    operator restarts it and it finishes the dataset from its files."""
    disk = tmp_path / "disk"
    mounted = mount_tmpfs(disk, "16m")
    out = disk / "out"
    sinks: list[Stage] = []
    try:
        started = time.monotonic()
        pipeline["start"]("process")
        full = pipeline["start"]("sink", "--out", str(out),
                                 module="vpa_stream.cli" if mounted else "tests.kafka.full_disk_sink")
        sinks.append(full)
        pipeline["replay"]()
        assert full.proc.wait(FULL_DISK_BOUND_S) == 1
        lines = full.log.read_text().strip().splitlines()
        assert "Traceback" not in full.log.read_text()
        assert lines[-1].startswith("vpa-stream: error: cannot write ") and "No space left on device" in lines[-1]
        assert "free space on that file system" in lines[-1]
        assert_consistent_manifest(out)
        assert not list(out.glob(".tmp-*")), "the open files were deleted"
        if mounted:
            subprocess.run(["mount", "-o", "remount,size=256m", str(disk)], check=True)
        sinks.append(pipeline["start"]("sink", "--out", str(out)))  # the operator's restart, once there is space
        wait_for_lines(out, len(embedded_sample), timeout=FULL_DISK_BOUND_S)
        elapsed = time.monotonic() - started
        time.sleep(3)
        assert dataset(out) == embedded_sample
        assert_consistent_manifest(out)
        assert elapsed < FULL_DISK_BOUND_S
    finally:
        for sink in sinks:
            sink.stop()
        if mounted:
            subprocess.run(["umount", "-l", str(disk)], check=False)
