"""CSV and Parquet sources: time-sorted single-symbol files stream in chunks and give the same bars as a whole load."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.realdata import package_file
from vpa_stream.producers.replay import bars_of
from vpa_stream.producers.sources.base import SourceOptions
from vpa_stream.producers.sources.files import PROBE_ROWS, FileSource
from vpa_stream.producers.sources.sample import SampleSource


def per_symbol_files(directory: Path, fmt: str, reverse: bool) -> None:
    stocks = pd.read_csv(package_file("bokeh_sampledata", "_data", "stocks.csv.gz"))
    for symbol in ("AAPL", "MSFT", "IBM"):
        part = stocks[stocks["Ticker"] == symbol].drop(columns=["Ticker"])
        if reverse:
            part = part.iloc[::-1]
        if fmt == "csv":
            part.to_csv(directory / f"{symbol}.csv", index=False)
        else:
            part.to_parquet(directory / f"{symbol}.parquet", index=False)


def bars(source: object, dead: object = None) -> list[tuple]:
    return [(b.symbol, b.close_time, b.open, b.high, b.low, b.close, b.volume, b.split_ratio)
            for b in bars_of([source], dead or (lambda d: None))]  # type: ignore[list-item]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("reverse", [False, True])
def test_files_give_the_same_bars_as_the_sample_whether_streamed_or_loaded_whole(
        tmp_path: Path, fmt: str, reverse: bool) -> None:
    per_symbol_files(tmp_path, fmt, reverse)
    source = FileSource(tmp_path, fmt, SourceOptions())
    if not reverse:  # sorted single-symbol files are the streamed kind
        assert source._sorted_single_symbol_time_column(tmp_path / f"IBM.{fmt}") is not None
    assert bars(source) == bars(SampleSource())


def test_start_and_end_bound_a_streamed_file(tmp_path: Path) -> None:
    per_symbol_files(tmp_path, "parquet", reverse=False)
    got = bars(FileSource(tmp_path, "parquet", SourceOptions(symbols=("IBM",), start="2005-01-01", end="2005-12-31")))
    assert len(got) == 252 and {g[0] for g in got} == {"IBM"}


def test_a_parquet_file_sorted_within_each_batch_but_not_across_them_is_loaded_whole(tmp_path: Path) -> None:
    """The sortedness probe reads batch by batch; a file whose second batch starts before the first ended must
    not stream (it would emit out-of-order bars), and still gives every bar in order."""
    per_symbol_files(tmp_path, "parquet", reverse=False)
    ibm = pd.read_parquet(tmp_path / "IBM.parquet")
    half = PROBE_ROWS + 100
    shuffled = pd.concat([ibm.iloc[half:], ibm.iloc[:half]])  # each part ascending, the whole not
    (tmp_path / "IBM.parquet").unlink()
    shuffled.to_parquet(tmp_path / "IBM.parquet", index=False, row_group_size=PROBE_ROWS)
    source = FileSource(tmp_path, "parquet", SourceOptions(symbols=("IBM",)))
    assert source._sorted_single_symbol_time_column(tmp_path / "IBM.parquet") is None
    got = bars(source)
    assert [g[1] for g in got] == sorted(g[1] for g in got) and len(got) == len(ibm)


def test_a_streamed_file_and_the_same_rows_loaded_whole_give_the_same_bars_and_dead_letters(tmp_path: Path) -> None:
    """Faults on both sides of chunk boundaries: the streamed (sorted) file and its reversed copy, which is
    loaded whole, reject the same rows for the same reasons (the reasons name the file's own line numbers)."""
    per_symbol_files(tmp_path, "csv", reverse=False)
    lines = (tmp_path / "IBM.csv").read_text().splitlines()
    for n in (3, 255, 256, 257, 700, 1500):
        cells = lines[n].split(",")
        cells[1 + n % 5] = ["abc", "", "n/a", "-1", "1e999"][n % 5]
        lines[n] = ",".join(cells)
    header, rows = lines[0], lines[1:]
    (tmp_path / "IBM.csv").write_text("\n".join(lines) + "\n")
    reverse = tmp_path / "rev"
    reverse.mkdir()
    (reverse / "IBM.csv").write_text("\n".join([header, *rows[::-1]]) + "\n")
    streamed = FileSource(tmp_path / "IBM.csv", "csv", SourceOptions())
    assert streamed._sorted_single_symbol_time_column(tmp_path / "IBM.csv") is not None
    assert FileSource(reverse / "IBM.csv", "csv", SourceOptions())._sorted_single_symbol_time_column(
        reverse / "IBM.csv") is None
    dead: dict[str, list] = {"streamed": [], "whole": []}
    got = bars(FileSource(tmp_path / "IBM.csv", "csv", SourceOptions()), dead["streamed"].append)
    want = bars(FileSource(reverse / "IBM.csv", "csv", SourceOptions()), dead["whole"].append)
    assert got == want and len(got) == len(rows) - 6

    def reasons(letters: list, path: Path) -> list[str]:
        return sorted(d.reason.split(": ", 1)[1] for d in letters if d.reason.startswith(str(path)))

    assert reasons(dead["streamed"], tmp_path / "IBM.csv") == reasons(dead["whole"], reverse / "IBM.csv")
    assert len(dead["streamed"]) == 6


def test_a_tick_volume_column_stands_in_for_volume(tmp_path: Path) -> None:
    stocks = pd.read_csv(package_file("bokeh_sampledata", "_data", "stocks.csv.gz"))
    part = stocks[stocks["Ticker"] == "IBM"].drop(columns=["Ticker", "Adj Close"]).rename(columns={"Volume": "TickVol"})
    part.to_csv(tmp_path / "IBM.tsv", sep="\t", index=False)
    got = list(bars_of([FileSource(tmp_path / "IBM.tsv", "csv", SourceOptions())], lambda d: None))
    assert len(got) == len(part) and {b.volume_kind for b in got} == {"tick"}
