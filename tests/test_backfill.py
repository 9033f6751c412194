"""The embedded backfill end to end: sample data -> JSONL dataset, idempotence, crashes, bad input, CLI."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastavro import parse_schema
from fastavro.validation import validate

from vpa_stream.cli import main
from vpa_stream.pipeline import run_backfill
from vpa_stream.processors.stage import ExampleStage
from vpa_stream.producers.sources.base import SourceOptions
from vpa_stream.producers.sources.files import FileSource
from vpa_stream.producers.sources.sample import SampleSource
from vpa_stream.producers.validate import DeadLetter
from vpa_stream.schemas.codec import SCHEMA_DIR
from vpa_stream.schemas.models import Bar
from vpa_stream.sinks.dataset import EXAMPLE, SinkOptions, example_line
from vpa_stream.sinks.worker import SinkProcessError, SinkWorker


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def read_lines(root: Path, pattern: str = "examples-*.jsonl") -> list[dict]:
    return [json.loads(line) for f in sorted(root.glob(pattern)) for line in f.read_text().splitlines()]


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("sample")
    summary = run_backfill([SampleSource()], out, sink_options=SinkOptions(max_records=4000))
    return out, summary


def test_sample_backfill_writes_valid_unique_examples(sample_run: tuple[Path, object]) -> None:
    out, summary = sample_run
    schema = parse_schema(json.loads((SCHEMA_DIR / "example.v2.avsc").read_text()))
    records = read_lines(out)
    assert len(records) == summary.examples == summary.bars - summary.warmup - summary.rejected
    assert summary.bars == 9810 and summary.rejected == 0
    assert len({r["id"] for r in records}) == len(records)
    for r in records[::97]:
        assert validate(r, schema, raise_errors=True)


def test_files_and_manifest_agree(sample_run: tuple[Path, object]) -> None:
    out, summary = sample_run
    manifest = json.loads((out / "manifest.json").read_text())["files"]
    on_disk = sorted(p.name for p in out.glob("examples-*"))
    assert sorted(f["name"] for f in manifest) == on_disk == sorted(summary.files)
    assert len(on_disk) == 3  # 9,663 examples at 4,000 per file
    for f in manifest:
        data = (out / f["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"]
        assert data.count(b"\n") == f["records"]


def test_rerun_into_the_same_directory_is_byte_identical(sample_run: tuple[Path, object]) -> None:
    out, _ = sample_run
    before = tree_digest(out)
    run_backfill([SampleSource()], out, sink_options=SinkOptions(max_records=4000))
    assert tree_digest(out) == before


def test_sink_in_a_child_process_writes_the_same_bytes_as_in_process(tmp_path: Path) -> None:
    options = SinkOptions(max_records=3000)
    run_backfill([SampleSource()], tmp_path / "child", sink_options=options, parallel=True)
    run_backfill([SampleSource()], tmp_path / "local", sink_options=options, parallel=False)
    assert tree_digest(tmp_path / "child") == tree_digest(tmp_path / "local")


def test_a_failure_in_the_sink_process_is_reported_with_its_cause_and_leaves_no_file(tmp_path: Path) -> None:
    sink = SinkWorker(tmp_path / "out")
    sink.write(example_line("X|1d|2000-01-03T21:00:00Z", {"id": "X|1d|2000-01-03T21:00:00Z"}))
    sink.write((EXAMPLE, "not an id", b"{}"))  # the sink cannot tell its series
    with pytest.raises(SinkProcessError, match=r"the sink process failed: ValueError: "):
        sink.finish()
    sink.abort()
    assert not sink.process.is_alive()
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name != "manifest.json"] == []


def test_a_smaller_rerun_removes_the_earlier_runs_extra_files(tmp_path: Path) -> None:
    run_backfill([SampleSource()], tmp_path, sink_options=SinkOptions(max_records=2000))
    run_backfill([SampleSource(SourceOptions(symbols=("IBM",)))], tmp_path, sink_options=SinkOptions(max_records=2000))
    records = read_lines(tmp_path)
    assert {r["input"]["ticker"] for r in records} == {"IBM"}
    manifest = json.loads((tmp_path / "manifest.json").read_text())["files"]
    assert sorted(f["name"] for f in manifest) == sorted(p.name for p in tmp_path.glob("examples-*"))


def test_kill_9_leaves_no_partial_file_under_a_final_name(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "vpa_stream.cli", "backfill", "--out", str(out),
                             "--max-records", "500", "--no-progress"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and len(list(out.glob("examples-*.jsonl"))) < 2 and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finals = sorted(out.glob("examples-*.jsonl"))
    assert finals, "the run was killed before any file completed"
    for f in finals:
        data = f.read_bytes()
        assert data.endswith(b"\n")
        assert data.count(b"\n") == 500 or (proc.returncode == 0 and f == finals[-1])
        for line in data.splitlines():
            json.loads(line)
    # the next run cleans the crash's temporary file and completes
    assert main(["backfill", "--out", str(out), "--max-records", "500", "--no-progress"]) == 0
    assert not list(out.glob(".tmp-*"))


BAD_ROWS = {
    "nan price": "2020-01-10,AAA,nan,11,9,10,100",
    "inf price": "2020-01-13,AAA,10,inf,9,10,100",
    "non-positive price": "2020-01-14,AAA,0,11,9,10,100",
    "negative volume": "2020-01-15,AAA,10,11,9,10,-5",
    "high below": "2020-01-16,AAA,10,9.5,9,10,100",
    "low above": "2020-01-17,AAA,10,11,10.5,10.8,100",
    "duplicate": "2020-01-09,AAA,10,11,9,10,100",
    "bad date": "not-a-date,AAA,10,11,9,10,100",
}


def test_each_malformed_bar_class_lands_in_the_dead_letter_file(tmp_path: Path) -> None:
    good = [f"2020-01-{d:02d},AAA,10,11,9,10,100" for d in range(1, 10)]
    csv = tmp_path / "bars.csv"
    csv.write_text("Date,Symbol,Open,High,Low,Close,Volume\n" + "\n".join(good + list(BAD_ROWS.values())) + "\n")
    out = tmp_path / "out"
    summary = run_backfill([FileSource(csv, "csv", SourceOptions())], out)
    letters = read_lines(out, "dead-letters-*.jsonl")
    reasons = " | ".join(d["reason"] for d in letters)
    assert summary.rejected == len(BAD_ROWS) == len(letters)
    for needle in ("not a finite number (nan)", "not a finite number (inf)", "non-positive price",
                   "negative volume", "high 9.5 below", "low 10.5 above", "duplicate close time",
                   "time 'not-a-date' is not a valid date or time"):
        assert needle in reasons
    assert all(d["payload"] for d in letters)


def test_processor_dead_letters_out_of_order_unknown_timeframe_and_garbage() -> None:
    stage = ExampleStage()
    bar = Bar("X", "1d", 1_000, 86_400_000, 10, 11, 9, 10, 100)
    assert stage.process(bar) is None
    late = stage.process(Bar("X", "1d", 1_000, 86_000_000, 10, 11, 9, 10, 100))
    same = stage.process(bar)
    unknown = stage.process(Bar("X", "7x", 1_000, 96_400_000, 10, 11, 9, 10, 100))
    garbage = stage.process_bytes(b"\x00garbage")
    for result, needle in ((late, "out of order"), (same, "duplicate"), (unknown, "unknown timeframe"),
                           (garbage, "undecodable bar")):
        assert isinstance(result, DeadLetter) and needle in result.reason


@pytest.mark.parametrize("symbol", ["../../x", "a/b", "/etc/passwd", "..", "x\\..\\y", "CON", "A B"])
def test_hostile_symbols_stay_inside_the_output_directory(tmp_path: Path, symbol: str) -> None:
    rows = [f"2020-{m:02d}-{d:02d},{symbol},10,11,9,{10 + d % 3},{100 + d}" for m in (1, 2, 3, 4) for d in range(1, 29)]
    csv = tmp_path / "in.csv"
    csv.write_text("date,symbol,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    out = tmp_path / "deep" / "out"
    summary = run_backfill([FileSource(csv, "csv", SourceOptions())], out)
    assert summary.examples > 0
    written = {p.resolve() for p in tmp_path.rglob("*") if p.is_file()} - {csv.resolve()}
    assert written and all(out.resolve() in p.parents for p in written)
    assert {r["input"]["ticker"] for r in read_lines(out)} == {symbol}


def test_cli_usage_error_is_one_line_and_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backfill", "--nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vpa-stream: error:")
    assert main(["backfill", "--source", "ftp:x"]) == 2
    assert main(["backfill", "--timeframe", "7x"]) == 2


def test_cli_reads_defaults_from_toml_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "vpa.toml"
    config.write_text(f'[defaults]\nout = "{tmp_path / "from-toml"}"\nsymbols = "IBM"\n')
    assert main(["--config", str(config), "backfill", "--no-progress"]) == 0
    assert {r["input"]["ticker"] for r in read_lines(tmp_path / "from-toml")} == {"IBM"}
    monkeypatch.setenv("VPA_OUT", str(tmp_path / "from-env"))
    monkeypatch.setenv("VPA_SYMBOLS", "MSFT")
    assert main(["backfill", "--no-progress"]) == 0
    assert {r["input"]["ticker"] for r in read_lines(tmp_path / "from-env")} == {"MSFT"}
    assert "examples" in capsys.readouterr().out


def test_backfill_command_prints_a_summary(tmp_path: Path) -> None:
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-m", "vpa_stream.cli", "backfill", "--out", str(tmp_path),
                           "--symbols", "IBM"], capture_output=True, text=True, env=env, check=True,
                          stdin=subprocess.DEVNULL)
    for label in ("bars read", "examples", "warm-up bars", "rejected", "files", "seconds", "bars/s", "peak memory"):
        assert label in proc.stdout
