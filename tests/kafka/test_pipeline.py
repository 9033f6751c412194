"""The streaming pipeline on a real Apache Kafka broker: parity with embedded mode, scale-out, crashes, bad input.

Every stage runs as its own OS process (``vpa-stream process``, ``vpa-stream sink``), so a kill -9 is real.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vpa_stream.pipeline import run_backfill
from vpa_stream.producers.kafka_replay import BarPublisher, make_producer, replay_to_kafka
from vpa_stream.producers.sources.base import SourceOptions
from vpa_stream.producers.sources.sample import SampleSource
from vpa_stream.schemas.codec import default_codec
from vpa_stream.schemas.topics import Topics, create_topics

pytestmark = pytest.mark.kafka

PARTITIONS = 3


def dataset(out: Path, pattern: str = "examples-*.jsonl") -> list[str]:
    """The records of a dataset directory as sorted JSON lines (file layout aside)."""
    return sorted(line for f in out.glob(pattern) for line in f.read_text().splitlines())


@pytest.fixture(scope="module")
def embedded_sample(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = tmp_path_factory.mktemp("embedded")
    run_backfill([SampleSource()], out)
    return dataset(out)


class Stage:
    """A ``vpa-stream`` subcommand in its own process.

    ``supervised``: restarted in place when it stops itself (exit code 1), as a process manager would restart a
    processor (it stops rather than ack a batch it must not: a Faust rebalance race that skipped records, a
    produce past its deadline); ``wait_for_lines`` does it for every supervised stage while it waits.
    """

    def __init__(self, *args: str, log: Path, module: str = "vpa_stream.cli", supervised: bool = False) -> None:
        self.log = log
        self.argv = [sys.executable, "-m", module, *args]
        self.supervised = supervised
        self.restarts = 0
        self.proc = self._launch()
        if supervised:
            SUPERVISED.append(self)

    def _launch(self) -> subprocess.Popen:
        return subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=open(self.log, "ab"),
                                stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"))

    def restart(self) -> None:
        self.restarts += 1
        self.proc = self._launch()

    def ensure(self) -> None:
        """Restart a supervised stage that stopped itself (a test's kill -9 is the test's to handle)."""
        if self.supervised and self.proc.poll() == 1:
            self.restart()

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self in SUPERVISED:
            SUPERVISED.remove(self)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill9()


SUPERVISED: list[Stage] = []


@pytest.fixture
def pipeline(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> Iterator[dict]:
    topics = Topics(topic_prefix)
    create_topics(kafka_bootstrap, topics, PARTITIONS)
    stages: list[Stage] = []

    def start(kind: str, *extra: str, module: str = "vpa_stream.cli") -> Stage:
        common = ["--bootstrap-servers", kafka_bootstrap, "--topic-prefix", topic_prefix]
        if kind == "process":
            args = ["process", *common, "--partitions", str(PARTITIONS),
                    "--datadir", str(tmp_path / f"process-{len(stages)}-data"), *extra]
        else:
            args = ["sink", *common, "--out", str(tmp_path / "out"), "--idle-commit", "0.5", "--max-records", "300",
                    *extra]
        stage = Stage(*args, log=tmp_path / f"{kind}-{len(stages)}.log", module=module,
                      supervised=kind == "process" and module == "vpa_stream.cli")
        stages.append(stage)
        return stage

    def replay(symbols: tuple[str, ...] = ()) -> None:
        publisher = BarPublisher(make_producer(kafka_bootstrap), topics)
        try:
            replay_to_kafka([SampleSource(SourceOptions(symbols=symbols))], publisher)
        finally:
            publisher.producer.close()

    yield {"start": start, "replay": replay, "out": tmp_path / "out", "topics": topics, "tmp": tmp_path}
    for stage in stages:
        stage.stop()


class Supervisor:
    """What a process manager does for the processor: start it again whenever it has exited (the worker stops
    itself, exit code 1, when it must not ack a batch: a produce past its deadline, records the consumer
    skipped). The test's own kills go through ``kill9``, which restarts at once too."""

    def __init__(self, start: Callable[[], Stage]) -> None:
        self.start = start
        self.stage = start()
        self.restarts_on_exit = 0

    def ensure(self) -> None:
        if self.stage.proc.poll() is not None:
            self.restarts_on_exit += 1
            self.stage.restart()

    def kill9(self) -> None:
        self.stage.kill9()
        self.stage = self.start()

    def wait_for_lines(self, out: Path, expected: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while (count := len(dataset(out)) if out.exists() else 0) < expected:
            assert time.monotonic() < deadline, (
                f"only {count} of {expected} records after {timeout:.0f} s ({self.restarts_on_exit} restarts on "
                f"exit); the worker's log ends: {self.stage.log.read_text()[-600:]!r}")
            self.ensure()
            time.sleep(0.5)


def wait_for_lines(out: Path, expected: int, timeout: float = 300.0, pattern: str = "examples-*.jsonl") -> None:
    deadline = time.time() + timeout
    count = 0
    while time.time() < deadline:
        count = len(dataset(out, pattern)) if out.exists() else 0
        if count >= expected:
            return
        for stage in list(SUPERVISED):
            stage.ensure()
        time.sleep(0.5)
    restarts = sum(stage.restarts for stage in SUPERVISED)
    raise AssertionError(f"only {count} of {expected} records after {timeout}s in {out} ({restarts} restarts of "
                         f"workers that stopped themselves)")


def test_kafka_dataset_equals_the_embedded_backfill(pipeline: dict, embedded_sample: list[str]) -> None:
    pipeline["start"]("process")
    sink = pipeline["start"]("sink")
    pipeline["replay"]()
    wait_for_lines(pipeline["out"], len(embedded_sample))
    time.sleep(2)  # anything beyond the expected count would be a duplicate
    sink.stop()
    assert dataset(pipeline["out"]) == embedded_sample


def test_two_workers_in_one_group_produce_the_same_dataset(pipeline: dict, embedded_sample: list[str]) -> None:
    pipeline["start"]("process")
    pipeline["start"]("process")
    sink = pipeline["start"]("sink")
    time.sleep(8)  # let both workers join before the bars arrive
    pipeline["replay"]()
    wait_for_lines(pipeline["out"], len(embedded_sample))
    time.sleep(2)
    sink.stop()
    assert dataset(pipeline["out"]) == embedded_sample


def test_kill_9_of_the_processor_mid_backfill_loses_and_duplicates_nothing(
        pipeline: dict, embedded_sample: list[str]) -> None:
    processor = Supervisor(lambda: pipeline["start"]("process"))  # as a process manager runs it
    sink = pipeline["start"]("sink")
    pipeline["replay"]()
    processor.wait_for_lines(pipeline["out"], 1500, 300.0)
    processor.kill9()
    assert len(dataset(pipeline["out"])) < len(embedded_sample), "the processor finished before the kill"
    processor.wait_for_lines(pipeline["out"], len(embedded_sample), 300.0)
    time.sleep(3)
    sink.stop()
    assert dataset(pipeline["out"]) == embedded_sample


def test_a_failed_produce_stops_the_worker_before_its_batch_is_committed(pipeline: dict) -> None:
    """Faust acks a batch however the agent's body ends; a produce error must end the worker instead, so the
    restarted worker is given the failed batch again (nothing lost, and the state rebuilt from the changelog)."""
    embedded = pipeline["tmp"] / "embedded-ibm"
    run_backfill([SampleSource(SourceOptions(symbols=("IBM",)))], embedded)
    expected = dataset(embedded)
    flaky = pipeline["start"]("process", "--no-restart", module="tests.kafka.flaky_worker")
    sink = pipeline["start"]("sink")
    pipeline["replay"](("IBM",))
    assert flaky.proc.wait(120) == 1
    assert "processor batch failed" in flaky.log.read_text()
    pipeline["start"]("process")
    wait_for_lines(pipeline["out"], len(expected))
    time.sleep(3)
    sink.stop()
    assert dataset(pipeline["out"]) == expected


def test_the_process_command_starts_a_new_worker_when_its_worker_dies(
        pipeline: dict, embedded_sample: list[str]) -> None:
    processor = pipeline["start"]("process")
    sink = pipeline["start"]("sink")
    pipeline["replay"]()
    wait_for_lines(pipeline["out"], 1500)
    children = Path(f"/proc/{processor.proc.pid}/task/{processor.proc.pid}/children").read_text().split()
    os.kill(int(children[0]), signal.SIGKILL)  # the worker, not the command that runs it
    wait_for_lines(pipeline["out"], len(embedded_sample))
    time.sleep(3)
    sink.stop()
    assert dataset(pipeline["out"]) == embedded_sample
    assert processor.proc.poll() is None and processor.restarts == 0, (
        f"the command itself kept running; its log ends: {processor.log.read_text()[-1500:]!r}")
    assert re.search(r"the worker ended \(exit -9\) after \d+ s; starting a new one", processor.log.read_text())


def test_kill_9_of_the_sink_mid_backfill_loses_and_duplicates_nothing(
        pipeline: dict, embedded_sample: list[str]) -> None:
    pipeline["start"]("process")
    sink = pipeline["start"]("sink")
    pipeline["replay"]()
    wait_for_lines(pipeline["out"], 1500)
    sink.kill9()
    sink = pipeline["start"]("sink")
    wait_for_lines(pipeline["out"], len(embedded_sample))
    time.sleep(3)
    sink.stop()
    assert dataset(pipeline["out"]) == embedded_sample
    manifest = json.loads((pipeline["out"] / "manifest.json").read_text())["files"]
    assert sorted(f["name"] for f in manifest) == sorted(p.name for p in pipeline["out"].glob("examples-*"))


def test_garbage_and_invalid_bars_go_to_the_dead_letter_topic_and_processing_continues(
        pipeline: dict, kafka_bootstrap: str) -> None:
    codec = default_codec()
    topics: Topics = pipeline["topics"]
    pipeline["start"]("process")
    pipeline["start"]("sink")
    producer = make_producer(kafka_bootstrap)
    bad_bar = {"symbol": "IBM", "timeframe": "1d", "open_time": 0, "close_time": 1, "open": 10.0, "high": 5.0,
               "low": 9.0, "close": 10.0, "volume": 1.0, "volume_kind": "shares", "split_ratio": 1.0, "source": "t"}
    producer.send(topics.bars, key=b"IBM", value=b"\x00not avro at all")
    producer.send(topics.bars, key=b"IBM", value=codec.encode("bar", bad_bar))
    producer.send(topics.bars, key=b"IBM", value=codec.encode("bar", bad_bar | {"timeframe": "7x", "high": 11.0}))
    producer.flush()
    producer.close()
    pipeline["replay"](("IBM",))
    wait_for_lines(pipeline["out"], 3, pattern="dead-letters-*.jsonl")
    letters = [json.loads(line) for line in dataset(pipeline["out"], "dead-letters-*.jsonl")]
    reasons = " | ".join(d["reason"] for d in letters)
    assert "undecodable bar" in reasons and "high 5.0 below" in reasons and "unknown timeframe" in reasons
    wait_for_lines(pipeline["out"], 3270 - 49)  # IBM's examples still all arrive (50 warm-up bars)
