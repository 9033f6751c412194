"""The command line as a user meets it: one line and exit 2 for a usage problem found before any work, one line
and exit 1 for a failure (``-v`` adds the traceback), the real command on files shaped as users have them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.producers import shapes
from vpa_stream import cli
from vpa_stream.cli import main


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vpa-stream: error: "), err
    return err[0]


USAGE = [
    (["backfill", "--start", "2020-13-45"], "--start '2020-13-45': not a date; use YYYY-MM-DD"),
    (["backfill", "--start", "yesterday"], "--start 'yesterday': not a date"),
    (["backfill", "--start", "2012-01-01", "--end", "2011-01-01"], "--start 2012-01-01 is after --end 2011-01-01"),
    (["backfill", "--max-records", "-5"], "--max-records -5: must be at least 1"),
    (["backfill", "--max-bytes", "0"], "--max-bytes 0: must be at least 1"),
    (["backfill", "--tz", "Mars/Base"], "--tz 'Mars/Base': not a time zone"),
    (["backfill", "--session-close", "25:00"], "--session-close '25:00': not a time of day"),
    (["backfill", "--time-unit", "hours"], "--time-unit: unknown time unit 'hours'"),
    (["backfill", "--delimiter", "ab"], "--delimiter: unusable delimiter 'ab'"),
    (["backfill", "--source", "csv:/no/such/bars.csv"], "--source csv:/no/such/bars.csv: no such file or directory"),
    (["backfill", "--out", "/dev/null/x"], "--out /dev/null/x: cannot write there: Not a directory"),
    (["backfill", "--out", "/proc/version"], "--out /proc/version: is a file, not a directory"),
    (["replay", "--speed", "-1"], "--speed -1.0: must be at least 0"),
    (["topics", "create", "--partitions", "0"], "--partitions 0: must be at least 1"),
    (["sink", "--idle-commit", "0"], "--idle-commit 0.0: must be more than 0"),
    (["audit", "--samples", "0"], "--samples 0: must be at least 1"),
    (["audit", "--end", "someday"], "--end 'someday': not a date"),
    (["export", "--in", "/no/such/dir", "--out", "x"], "--in /no/such/dir: no such directory"),
    (["report", "--in", "/", "--out", "/dev/null/r"], "--out /dev/null/r: cannot write there"),
    (["live", "--symbols", "AAPL", "--out", "/dev/null/l"], "--out /dev/null/l: cannot write there"),
]


@pytest.mark.parametrize(("argv", "message"), USAGE, ids=[" ".join(a) for a, _ in USAGE])
def test_usage_problems_are_one_line_and_exit_2_before_any_work(argv: list[str], message: str,
                                                                capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def no_work(*args: object) -> int:
        raise AssertionError("a handler ran despite a usage problem")

    monkeypatch.setattr(cli, "build_parser", _parser_with(no_work))
    assert main(argv) == 2
    assert message in one_error_line(capsys)


def _parser_with(handler: object) -> object:
    """build_parser with every command's handler replaced."""
    real = cli.build_parser

    def build(defaults: dict) -> object:
        parser = real(defaults)
        for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
            for sub in action.choices.values():
                sub.set_defaults(handler=handler)
                for nested in (sub._subparsers._group_actions if sub._subparsers else []):
                    for leaf in nested.choices.values():
                        leaf.set_defaults(handler=handler)
        return parser

    return build


def test_an_unexpected_error_is_one_line_with_exit_1_and_v_shows_the_traceback(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(*args: object) -> int:
        raise RuntimeError("the engine fell over\nsecond line")

    monkeypatch.setattr(cli, "build_parser", _parser_with(broken))
    assert main(["backfill", "--no-progress"]) == 1
    line = one_error_line(capsys)
    assert line == ("vpa-stream: error: RuntimeError: the engine fell over second line "
                    "(run with -v for the traceback)")
    assert main(["-v", "backfill", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "RuntimeError: the engine fell over" in err
    assert err.strip().splitlines()[-1] == "vpa-stream: error: RuntimeError: the engine fell over second line"


def command(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vpa_stream.cli", *args], capture_output=True, text=True,
                          cwd=cwd, stdin=subprocess.DEVNULL, timeout=300)


def test_the_real_command_on_a_yfinance_download_a_bad_cell_and_a_bad_date(tmp_path: Path) -> None:
    aapl, _ = shapes.daily_history("AAPL", years=(2005, 2005))
    msft, _ = shapes.daily_history("MSFT", years=(2005, 2005))
    shapes.download({"AAPL": aapl, "MSFT": msft}).to_csv(tmp_path / "prices.csv")
    done = command("backfill", "--source", "csv:prices.csv", "--out", "data", "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "bars read      504" in done.stdout and "rejected       0" in done.stdout
    assert done.stderr == ""
    lines = (tmp_path / "prices.csv").read_text().splitlines()
    cells = lines[10].split(",")
    cells[3] = "n/a"
    lines[10] = ",".join(cells)
    (tmp_path / "prices.csv").write_text("\n".join(lines) + "\n")
    done = command("backfill", "--source", "csv:prices.csv", "--out", "data", "--no-progress", cwd=tmp_path)
    assert done.returncode == 0 and "rejected       1 (see dead-letters-*.jsonl)" in done.stdout
    letter = json.loads((tmp_path / "data" / "dead-letters-00000.jsonl").read_text())
    assert letter["reason"] == "prices.csv line 11: close 'n/a' is not a number" and letter["symbol"] == "AAPL"
    done = command("backfill", "--source", "csv:prices.csv", "--start", "2005-31-01", cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == ("vpa-stream: error: --start '2005-31-01': not a date; use YYYY-MM-DD or an "
                                   "ISO 8601 time (2020-01-31T15:30)")


def test_a_back_adjusted_yfinance_file_is_refused_unless_the_engine_config_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    history, _ = shapes.daily_history("AAPL", auto_adjust=True, years=(2005, 2005))
    history.to_csv(tmp_path / "AAPL.csv")  # yfinance's default: auto_adjust=True, no Adj Close
    argv = ["backfill", "--source", f"csv:{tmp_path / 'AAPL.csv'}", "--out", str(tmp_path / "out"),
            "--no-progress", "--single-process"]
    assert main(argv) == 1
    assert "back-adjusted" in one_error_line(capsys)
    config = tmp_path / "vpa.toml"
    config.write_text("[engine]\nback_adjusted = true\n")
    assert main(["--config", str(config), *argv]) == 0
    record = json.loads((tmp_path / "out" / "examples-00000.jsonl").read_text().splitlines()[0])
    assert record["meta"]["price_adjustment"] == "back_adjusted"
