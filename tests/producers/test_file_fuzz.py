"""Property test: mutated real files and bad flags never give a traceback.

Each case mutates a real CSV (IBM daily, 160 rows) with seeded random damage: cells replaced by junk, rows
truncated or lengthened, rows shuffled and duplicated, other encodings, BOM and CRLF, binary junk, and
compression (whole or cut short); or passes random bad values to the flags. Every run goes through ``main`` as
the command line does. The properties: the exit code is 0, 1 or 2; stderr never holds a traceback, and a
non-zero exit is exactly one ``vpa-stream: error:`` line; on success every data line of the file is counted as
read, and every rejected row is a dead letter with a reason and its payload.
"""

from __future__ import annotations

import bz2
import gzip
import json
import random
from pathlib import Path

import pandas as pd
import pytest

from tests.realdata import package_file
from vpa_stream.cli import main

CASES = 48
JUNK_CELLS = ["abc", "", "n/a", "NaN", "inf", "-1", "0", "1e999", "1,5", "$", "\x00", "é", "2020-02-30", "99999999999",
              "-", "None", "null", "#N/A", "  ", '"', '"quoted, cell"', "٣", "1.2.3", "0x10", "1_000"]


@pytest.fixture(scope="module")
def ibm_csv() -> str:
    stocks = pd.read_csv(package_file("bokeh_sampledata", "_data", "stocks.csv.gz"))
    part = stocks[stocks["Ticker"] == "IBM"].drop(columns=["Ticker"]).iloc[1000:1160]
    return part.to_csv(index=False)


def mutate(text: str, rng: random.Random) -> tuple[bytes, bool]:
    """(file bytes, whether its lines are still one data row each: then every row must be counted as read)."""
    header, *rows = text.splitlines()
    rows_kept = True
    for _ in range(rng.randint(1, 4)):
        kind = rng.choices(["cell", "truncate", "lengthen", "shuffle", "duplicate", "drop-cells", "blank", "binary",
                            "header-cell"], weights=[4, 2, 2, 1, 2, 2, 1, 2, 0.5])[0]
        i = rng.randrange(len(rows))
        if kind == "cell":
            cells = rows[i].split(",")
            cells[rng.randrange(len(cells))] = rng.choice(JUNK_CELLS)
            rows[i] = ",".join(cells)
            rows_kept &= "\x00" not in rows[i] and '"' not in rows[i]
        elif kind == "truncate":
            rows[i] = rows[i][: rng.randrange(len(rows[i]))]
        elif kind == "lengthen":
            rows[i] += "," + rng.choice(JUNK_CELLS)
        elif kind == "shuffle":
            rng.shuffle(rows)
        elif kind == "duplicate":
            rows.insert(rng.randrange(len(rows)), rows[i])
        elif kind == "drop-cells":
            cells = rows[i].split(",")
            rows[i] = ",".join(cells[: rng.randint(1, len(cells))])
        elif kind == "blank":
            rows.insert(i, "")
        elif kind == "binary":
            junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64))).decode("latin-1")
            rows[i] = rows[i][: len(rows[i]) // 2] + junk + rows[i][len(rows[i]) // 2:]
            rows_kept = False
        elif kind == "header-cell":
            cells = header.split(",")
            cells[rng.randrange(len(cells))] = rng.choice(["", "Foo", "Open", "time", "Ticker"])
            header = ",".join(cells)
            rows_kept = False
    newline = rng.choice(["\n", "\r\n", "\r"])
    data = newline.join([header, *rows]) + newline
    encoding = rng.choice(["utf-8", "utf-8", "utf-8-sig", "utf-16", "cp1252"])
    raw = data.encode(encoding, errors="replace")
    wrap = rng.choice(["none", "none", "none", "gzip", "bz2", "gzip-cut"])
    if wrap == "gzip":
        raw = gzip.compress(raw)
    elif wrap == "bz2":
        raw = bz2.compress(raw)
    elif wrap == "gzip-cut":
        raw = gzip.compress(raw)[: rng.randrange(10, 200)]
        rows_kept = False
    rows_kept &= not any(kind in data for kind in ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028"))
    return raw, rows_kept


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_clean_exit(code: int, err: str) -> None:
    assert code in (0, 1, 2), err
    assert "Traceback" not in err, err
    if code != 0:
        errors = [line for line in err.splitlines() if line.startswith("vpa-stream: error:")]
        assert len(errors) == 1, err


def summary_number(out: str, label: str) -> int:
    line = next(x for x in out.splitlines() if x.strip().startswith(label))
    return int(line.split()[len(label.split())].replace(",", ""))


@pytest.mark.parametrize("seed", range(CASES))
def test_mutated_real_files_never_give_a_traceback(ibm_csv: str, tmp_path: Path, seed: int,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(seed)
    raw, rows_kept = mutate(ibm_csv, rng)
    path = tmp_path / "IBM.csv"
    path.write_bytes(raw)
    out_dir = tmp_path / "out"
    code, out, err = run_cli(["backfill", "--source", f"csv:{path}", "--out", str(out_dir), "--no-progress",
                              "--single-process"], capsys)
    assert_clean_exit(code, err)
    if code != 0:
        return
    letters = [json.loads(line) for f in sorted(out_dir.glob("dead-letters-*.jsonl"))
               for line in f.read_text().splitlines()]
    assert summary_number(out, "rejected") == len(letters)
    assert all(d["reason"] and d["payload"] for d in letters)
    assert summary_number(out, "bars read") == (summary_number(out, "examples") + summary_number(out, "warm-up bars")
                                                + len(letters))
    if rows_kept:
        lines = [x for x in raw.decode("utf-8-sig" if raw[:3] == b"\xef\xbb\xbf" else "utf-8", errors="ignore")
                 .replace("\r\n", "\n").replace("\r", "\n").split("\n")[1:] if x.strip()]
        if not raw.startswith((b"\xff\xfe", b"\xfe\xff", b"\x1f\x8b", b"BZh")) and lines:
            assert summary_number(out, "bars read") == len(lines)


BAD_VALUES = {
    "--start": ["2020-13-01", "yesterday", "01/02/2020", "", "2020-02-30", "99999-01-01", "now"],
    "--end": ["1999-99-99", "tomorrow", "2e5"],
    "--max-records": ["-1", "0", "abc", "1e3", "nan"],
    "--max-bytes": ["-5", "0", "x"],
    "--tz": ["Mars/Olympus", "", "../etc/passwd", "EST5EDT,M3"],
    "--session-close": ["25:00", "16", "4pm", "16:60", ""],
    "--time-unit": ["hours", "S", "1s", ""],
    "--delimiter": ["ab", "x", "\"", "tab"],
    "--timeframe": ["7x", "", "1d1d"],
    "--source": ["ftp:x", "csv:", "csv:/no/such/file.csv", "parquet:/dev/null", "csv:/dev/null", "yfinance:"],
    "--out": ["/dev/null/x", "/proc/version", ""],
    "--symbols": ["", ",,,", "NOPE"],
}


@pytest.mark.parametrize("seed", range(24))
def test_bad_flags_are_one_line_and_exit_2_or_1(tmp_path: Path, seed: int, capsys: pytest.CaptureFixture[str],
                                                ibm_csv: str) -> None:
    rng = random.Random(1000 + seed)
    (tmp_path / "IBM.csv").write_text(ibm_csv)
    argv = ["backfill", "--no-progress", "--single-process", "--source", f"csv:{tmp_path / 'IBM.csv'}",
            "--out", str(tmp_path / "out")]
    for flag in rng.sample(sorted(BAD_VALUES), rng.randint(1, 3)):
        argv += [flag, rng.choice(BAD_VALUES[flag])]
    code, _, err = run_cli(argv, capsys)
    assert_clean_exit(code, err)
