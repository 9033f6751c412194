"""The embedded backfill over several engine processes: the same bytes as one process, whatever the wiring."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.partitioner import DefaultPartitioner as AiokafkaPartitioner
from kafka.partitioner.default import DefaultPartitioner as KafkaPythonPartitioner

from tests.mtfdata import ny_session_pair
from tests.test_backfill import read_lines, tree_digest
from vpa_stream.cli import main
from vpa_stream.engine_processes import partition_of
from vpa_stream.pipeline import available_cores, run_backfill
from vpa_stream.processes import EngineProcessError
from vpa_stream.processors.config import VPAConfig
from vpa_stream.producers.sources.base import Item, Source, SourceOptions
from vpa_stream.producers.sources.files import FileSource
from vpa_stream.producers.sources.sample import SampleSource
from vpa_stream.producers.sources.specs import Timeframes, build_sources
from vpa_stream.schemas.models import Bar
from vpa_stream.sinks.dataset import SinkOptions

OPTIONS = SinkOptions(max_records=2500)  # several files, so rotation is compared too
WIRINGS = {"single process": {"parallel": False}, "1 worker": {"workers": 1}, "2 workers": {"workers": 2},
           "3 workers": {"workers": 3}}


@pytest.fixture(scope="module")
def single_process_sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], object]:
    out = tmp_path_factory.mktemp("single")
    summary = run_backfill([SampleSource()], out, sink_options=OPTIONS, parallel=False)
    return tree_digest(out), summary


@pytest.mark.parametrize("wiring", [w for w in WIRINGS if w != "single process"])
def test_every_wiring_writes_the_bytes_of_one_process(wiring: str, tmp_path: Path,
                                                      single_process_sample: tuple[dict[str, str], object]) -> None:
    expected, one = single_process_sample
    summary = run_backfill([SampleSource()], tmp_path, sink_options=OPTIONS, **WIRINGS[wiring])
    assert tree_digest(tmp_path) == expected
    assert len(expected) == 5  # 9,663 examples in four files, and the manifest
    for name in ("bars", "examples", "warmup", "rejected", "files"):
        assert getattr(summary, name) == getattr(one, name), name
    assert summary.workers == WIRINGS[wiring].get("workers", 1)


def test_the_engines_get_the_runs_config(tmp_path: Path) -> None:
    cfg = VPAConfig(warmup_bars=30, buy_threshold=1.5)
    msft = SourceOptions(symbols=("MSFT", "IBM"))
    one = run_backfill([SampleSource(msft)], tmp_path / "one", cfg, parallel=False)
    two = run_backfill([SampleSource(msft)], tmp_path / "two", cfg, workers=2)
    assert tree_digest(tmp_path / "two") == tree_digest(tmp_path / "one")
    assert two.warmup == one.warmup == 2 * 29
    assert {r["meta"]["config_hash"] for r in read_lines(tmp_path / "two")} == {cfg.config_hash}


def test_fewer_symbols_than_workers(tmp_path: Path) -> None:
    ibm = SourceOptions(symbols=("IBM",))
    one = run_backfill([SampleSource(ibm)], tmp_path / "one", sink_options=OPTIONS, parallel=False)
    summary = run_backfill([SampleSource(ibm)], tmp_path / "three", sink_options=OPTIONS, workers=3)
    assert summary.workers == 3 and summary.examples == one.examples > 3000
    assert tree_digest(tmp_path / "three") == tree_digest(tmp_path / "one")


def test_several_timeframes_and_symbols_over_two_workers(tmp_path: Path) -> None:
    pair = ny_session_pair(tmp_path)
    timeframes = Timeframes("1d", ("1h",))

    def sources() -> list[Source]:
        return [*build_sources([f"csv:{pair.daily}", f"csv:{pair.hourly}"], SourceOptions(), timeframes),
                SampleSource()]

    one = run_backfill(sources(), tmp_path / "one", sink_options=OPTIONS, parallel=False, timeframes=timeframes)
    two = run_backfill(sources(), tmp_path / "two", sink_options=OPTIONS, workers=2, timeframes=timeframes)
    assert tree_digest(tmp_path / "two") == tree_digest(tmp_path / "one")
    assert two.context == one.context > 4000 and two.examples == one.examples
    records = read_lines(tmp_path / "two")
    assert {r["input"]["ticker"] for r in records} == {"AAPL", "MSFT", "IBM", "EURUSD"}
    assert any("1h" in r["input"]["multi_timeframe_context"] for r in records if r["input"]["ticker"] == "EURUSD")


def test_symbols_are_partitioned_as_kafka_partitions_keys() -> None:
    symbols = ["AAPL", "MSFT", "IBM", "GOOG", "", "A", "BR", "BRK", "BRK.B", "EURUSD=X", "BTC-USD", "ÄÖÜ", "株式",
               "X" * 37, *(f"SYM{i:04d}" for i in range(300))]
    kafka_python = KafkaPythonPartitioner()
    for partitions in (1, 2, 3, 6, 7, 64):
        ids = list(range(partitions))
        for symbol in symbols:
            key = symbol.encode()
            expected = AiokafkaPartitioner()(key, ids, ids)
            assert partition_of(symbol, partitions) == expected, (symbol, partitions)
            assert kafka_python.partition("t", key, key, None, None, _Cluster(partitions)) == expected


class _Cluster:
    """The cluster metadata kafka-python's partitioner asks for: one topic ``t`` of ``n`` partitions."""

    def __init__(self, n: int) -> None:
        self.n = n

    def topics(self) -> set[str]:
        return {"t"}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(self.n))

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(self.n))


def test_the_sample_spreads_over_two_workers() -> None:
    assert {partition_of(s, 2) for s in ("AAPL", "MSFT", "IBM")} == {0, 1}


def test_the_default_is_one_worker_per_available_core(tmp_path: Path) -> None:
    summary = run_backfill([SampleSource(SourceOptions(symbols=("IBM",)))], tmp_path)
    assert summary.workers == available_cores()


BAD_ROWS = ["2020-01-10,AAA,nan,11,9,10,100", "2020-01-14,BBB,0,11,9,10,100", "2020-01-09,AAA,10,11,9,10,100",
            "not-a-date,CCC,10,11,9,10,100", "2020-02-03,BBB,10,9.5,9,10,100"]


class _UncheckedBars(Source):
    """Bars the replay passes on but the engine's stage rejects (a source that skipped validation)."""

    name = "unchecked"

    def read(self) -> Iterator:  # pragma: no cover - streams() is the whole source
        return iter(())

    def streams(self) -> list[Iterator[Item]]:
        day = 86_400_000

        def series(symbol: str, bad: set[int]) -> Iterator[Item]:
            for i in range(1, 80):
                close = 10.0 + (i % 7) * (-1 if symbol == "ZZZ" else 1)
                yield Bar(symbol, "1d", i * day, i * day + 3_600_000, close, close + 1, close - 1,
                          math.nan if i in bad else close, 100.0 + i)

        return [series("YYY", {30, 61}), series("ZZZ", {45})]


def _bad_input_sources(csv: Path) -> list[Source]:
    return [FileSource(csv, "csv", SourceOptions()), _UncheckedBars()]


def test_dead_letters_of_every_stage_keep_their_order_over_workers(tmp_path: Path) -> None:
    rows = [f"2020-01-{d:02d},{s},10,13,9,{10 + d % 3},{100 + d}" for d in range(1, 32) for s in ("AAA", "BBB", "CCC")]
    csv = tmp_path / "bars.csv"
    csv.write_text("Date,Symbol,Open,High,Low,Close,Volume\n" + "\n".join(rows + BAD_ROWS) + "\n")
    one = run_backfill(_bad_input_sources(csv), tmp_path / "one", parallel=False)
    letters = read_lines(tmp_path / "one", "dead-letters-*.jsonl")
    assert [d["stage"] for d in letters].count("processor") == 3 and len(letters) == one.rejected == 8
    for workers in (2, 3):
        out = tmp_path / f"w{workers}"
        summary = run_backfill(_bad_input_sources(csv), out, workers=workers)
        assert tree_digest(out) == tree_digest(tmp_path / "one")
        assert summary.rejected == one.rejected and summary.bars == one.bars


def test_a_killed_engine_process_fails_the_run_with_one_error_and_no_partial_file(tmp_path: Path) -> None:
    killed: list[int] = []
    calls = []

    def kill_a_partition(_: int) -> None:
        calls.append(1)
        engines = [p for p in multiprocessing.active_children() if p.name.startswith("vpa-stream-engine-")]
        if not killed and engines and len(calls) == 3:
            killed.append(engines[0].pid or 0)
            os.kill(killed[0], signal.SIGKILL)

    with pytest.raises(EngineProcessError, match=r"the engine process failed: partition \d ended without a word"):
        run_backfill([SampleSource()], tmp_path, sink_options=SinkOptions(max_records=1000), workers=2,
                     progress=kill_a_partition)
    assert killed
    time.sleep(0.5)
    assert not [p for p in multiprocessing.active_children() if p.name.startswith("vpa-stream-")]
    assert not list(tmp_path.glob(".tmp-*"))
    finals = sorted(p.name for p in tmp_path.glob("examples-*"))
    assert all((tmp_path / name).read_bytes().count(b"\n") == 1000 for name in finals)
    if finals:
        manifest = json.loads((tmp_path / "manifest.json").read_text())["files"]
        assert sorted(f["name"] for f in manifest) == finals


def _children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.append(int(status.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads child processes from /proc")
def test_a_run_killed_mid_way_then_run_again_writes_the_bytes_of_a_clean_run(tmp_path: Path) -> None:
    clean, out = tmp_path / "clean", tmp_path / "out"
    args = ["backfill", "--max-records", "500", "--no-progress", "--workers", "2"]
    assert main([*args, "--out", str(clean)]) == 0
    proc = subprocess.Popen([sys.executable, "-m", "vpa_stream.cli", *args, "--out", str(out)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and len(list(out.glob("examples-*.jsonl"))) < 3 and proc.poll() is None:
        time.sleep(0.01)
    children = _children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(children) >= 3, "the run was not killed while its engines and sink ran"
    deadline = time.time() + 30
    while time.time() < deadline and any(Path(f"/proc/{pid}").exists() for pid in children):
        time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}").exists() for pid in children), "a child outlived the killed run"
    finals = sorted(out.glob("examples-*.jsonl"))
    assert finals and all(f.read_bytes().count(b"\n") == 500 for f in finals)
    assert main([*args, "--out", str(out)]) == 0
    assert tree_digest(out) == tree_digest(clean)


def test_verify_wire_round_trips_every_example_and_writes_the_same_bytes(tmp_path: Path) -> None:
    ibm = SourceOptions(symbols=("IBM", "MSFT"))
    run_backfill([SampleSource(ibm)], tmp_path / "plain", parallel=False)
    run_backfill([SampleSource(ibm)], tmp_path / "verified", workers=2, verify_wire=True)
    assert tree_digest(tmp_path / "verified") == tree_digest(tmp_path / "plain")


def test_cli_workers_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backfill", "--single-process", "--workers", "2", "--out", str(tmp_path)]) == 2
    assert "--single-process runs one engine" in capsys.readouterr().err
    assert main(["backfill", "--workers", "0", "--out", str(tmp_path)]) == 2
    assert main(["backfill", "--workers", "255", "--out", str(tmp_path)]) == 2
    assert main(["backfill", "--symbols", "IBM", "--workers", "2", "--verify-wire", "--no-progress",
                 "--out", str(tmp_path / "a")]) == 0
    assert "workers        2" in capsys.readouterr().out
    assert main(["backfill", "--symbols", "IBM", "--workers", "1", "--single-process", "--no-progress",
                 "--out", str(tmp_path / "b")]) == 0
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
