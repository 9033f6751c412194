"""Every file shape of README "Your own data", built from real bundled bars: every bar read, none rejected, and
the examples identical to those of the same bars given as a plain CSV (the same symbol, so the same ids)."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from tests.producers import shapes
from vpa_stream.processors.engine import Example
from vpa_stream.processors.stage import ExampleStage
from vpa_stream.producers.replay import bars_of
from vpa_stream.producers.sources.base import Session, SourceError, SourceOptions
from vpa_stream.producers.sources.files import FileSource
from vpa_stream.producers.validate import DeadLetter
from vpa_stream.schemas.models import Bar

YEARS = (2004, 2005)  # AAPL's 2-for-1 of 2005-02-28 inside


def run(path: Path, fmt: str = "csv", **options: object) -> tuple[list[Bar], list[dict], list[DeadLetter]]:
    """(bars, example records without meta.source, dead letters) of one file through the pipeline's stages."""
    dead: list[DeadLetter] = []
    stage = ExampleStage()
    bars, records = [], []
    for bar in bars_of([FileSource(path, fmt, SourceOptions(**options))], dead.append):  # type: ignore[arg-type]
        bars.append(bar)
        result = stage.process_example(bar)
        if isinstance(result, Example):
            record = dict(result.record)
            record["meta"] = {k: v for k, v in record["meta"].items() if k != "source"}
            records.append(record)
    return bars, records, dead


def key(bars: list[Bar]) -> list[tuple]:
    return [(b.symbol, b.open_time, b.close_time, b.open, b.high, b.low, b.close, b.volume, b.split_ratio)
            for b in bars]


def plain_run(tmp_path: Path, traded: pd.DataFrame, stamps: list[str] | None = None, **options: object) -> tuple:
    """The run of the plain twin of ``traded``, written as plain/AAPL.csv (the symbol of the shaped files)."""
    (tmp_path / "plain").mkdir(exist_ok=True)
    return run(shapes.plain_csv(tmp_path / "plain" / "AAPL.csv", traded, stamps), **options)


def same_as_plain(got: tuple, want: tuple, count: int) -> None:
    bars, records, dead = got
    assert dead == []
    assert len(bars) == count
    assert key(bars) == key(want[0])
    assert records == want[1] and records


@pytest.fixture(scope="module")
def aapl(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, pd.DataFrame, tuple]:
    """(directory, yfinance history frame, as-traded frame, the plain CSV's run)."""
    d = tmp_path_factory.mktemp("aapl")
    history, traded = shapes.daily_history("AAPL", years=YEARS)
    assert (traded["Split"] == 2.0).sum() == 1
    plain = shapes.plain_csv(d / "AAPL.csv", traded)
    return d, history, traded, run(plain)


def test_yfinance_history_csv_with_dst_offsets_and_splits(aapl: tuple, tmp_path: Path) -> None:
    """``Ticker.history(auto_adjust=False).to_csv()``: -05:00 in winter, -04:00 in summer, split-adjusted prices and
    a Stock Splits column: the same bars as traded, the split effective on its day."""
    _, history, traded, plain = aapl
    path = tmp_path / "AAPL.csv"
    history.to_csv(path)
    text = path.read_text()
    assert "00:00:00-05:00" in text and "00:00:00-04:00" in text and "Stock Splits" in text
    same_as_plain(run(path), plain, len(traded))


@pytest.mark.parametrize("group_by", ["column", "ticker"])
def test_yfinance_download_csv_one_ticker_three_header_rows(aapl: tuple, tmp_path: Path, group_by: str) -> None:
    _, history, traded, plain = aapl
    path = tmp_path / "download.csv"
    shapes.download({"AAPL": history}, group_by=group_by).to_csv(path)
    top = path.read_text().splitlines()[:3]
    assert [line.split(",")[0] for line in top] == (["Price", "Ticker", "Date"] if group_by == "column"
                                                    else ["Ticker", "Price", "Date"])
    same_as_plain(run(path), plain, len(traded))


@pytest.mark.parametrize("variant", ["unnamed-levels", "multi_level_index=False"])
def test_yfinance_download_csv_older_and_flat_headers(aapl: tuple, tmp_path: Path, variant: str) -> None:
    """Before 0.2.48 the two header rows had no level names (",Close,..."); ``multi_level_index=False`` writes one
    flat header row (its Stock Splits column still says the prices are Yahoo's)."""
    _, history, traded, plain = aapl
    frame = shapes.download({"AAPL": history})
    if variant == "unnamed-levels":
        frame.columns.names = [None, None]
    else:
        frame = frame.droplevel(1, axis=1).rename_axis(None, axis=1)
    path = tmp_path / "AAPL.csv"
    frame.to_csv(path)
    first = path.read_text().splitlines()[0]
    assert first.startswith(",Adj Close,Close" if variant == "unnamed-levels" else "Date,Adj Close,Close")
    same_as_plain(run(path), plain, len(traded))


def test_yfinance_download_csv_many_tickers_takes_symbols_from_the_ticker_row(aapl: tuple, tmp_path: Path) -> None:
    _, history, _, plain = aapl
    msft_history, msft_traded = shapes.daily_history("MSFT", years=(2002, 2003))  # MSFT split 2003-02-18
    msft_plain = run(shapes.plain_csv(tmp_path / "MSFT.csv", msft_traded))
    path = tmp_path / "download.csv"
    shapes.download({"AAPL": history, "MSFT": msft_history}).to_csv(path)  # 2002-2005: padding rows each side
    bars, records, dead = run(path)
    assert dead == []
    for symbol, want in (("AAPL", plain), ("MSFT", msft_plain)):
        assert key([b for b in bars if b.symbol == symbol]) == key(want[0])
        assert [r for r in records if r["input"]["ticker"] == symbol] == want[1]


def test_yfinance_download_without_actions_keeps_yahoos_split_adjusted_prices(aapl: tuple, tmp_path: Path) -> None:
    """No Stock Splits column: nothing says where the splits were, so the prices stay as Yahoo adjusted them
    (continuous, no split applied) rather than being guessed."""
    _, history, _, _ = aapl
    path = tmp_path / "AAPL.csv"
    shapes.download({"AAPL": history}, actions=False).to_csv(path)
    adjusted = history.assign(Split=1.0)
    want = plain_run(tmp_path, adjusted)
    same_as_plain(run(path), want, len(history))
    assert all(b.split_ratio == 1.0 for b in want[0])


def test_back_adjusted_yfinance_file_needs_the_explicit_flag(tmp_path: Path) -> None:
    history, _ = shapes.daily_history("AAPL", auto_adjust=True, years=YEARS)
    path = tmp_path / "AAPL.csv"
    history.to_csv(path)
    with pytest.raises(SourceError, match=r"AAPL.csv: yfinance prices without an Adj Close column are back-adjusted"
                                          r".*auto_adjust=False.*back_adjusted = true"):
        run(path)
    bars, records, dead = run(path, back_adjusted=True)
    assert dead == [] and len(bars) == len(history) and records
    assert all(b.split_ratio == 1.0 for b in bars)  # the splits are already in the prices: never twice


def test_yfinance_hourly_history_across_dst_gives_the_same_utc_close_times(tmp_path: Path) -> None:
    traded, starts = shapes.hourly_session_bars()
    path = tmp_path / "SPYH.csv"
    shapes.yahoo_history(traded, starts, intraday=True).to_csv(path)
    text = path.read_text()
    assert "2012-03-09 15:30:00-05:00" in text and "2012-03-12 09:30:00-04:00" in text
    utc = [t.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ") for t in starts]
    plain = run(shapes.plain_csv(tmp_path / "plain.csv", traded, utc), timeframe="1h", symbol="SPYH")
    got = run(path, timeframe="1h")
    same_as_plain(got, plain, len(traded))
    closes = {pd.Timestamp(b.close_time, unit="ms", tz="UTC").strftime("%m-%d %H:%M") for b in got[0]}
    # 15:30 EST + 1h capped at the 16:00 close = 21:00Z; 09:30 EDT + 1h = 14:30Z
    assert {"03-09 21:00", "03-12 14:30"} <= closes and "03-09 21:30" not in closes


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("given", [False, True])
def test_epoch_time_columns_by_magnitude_or_time_unit(aapl: tuple, tmp_path: Path, unit: str, given: bool) -> None:
    _, _, traded, plain = aapl
    opens = pd.DatetimeIndex(traded.index).tz_localize(shapes.NY) + pd.Timedelta(hours=9, minutes=30)
    seconds = (opens - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(seconds=1)
    scale = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[unit]
    frame = pd.read_csv(aapl[0] / "AAPL.csv").drop(columns=["date"])
    frame.insert(0, "time", seconds.to_numpy() * scale)
    path = tmp_path / "AAPL.csv"
    frame.to_csv(path, index=False)
    same_as_plain(run(path, time_unit=unit if given else None), plain, len(traded))


def test_epoch_seconds_read_as_milliseconds_say_so(aapl: tuple, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    frame = pd.read_csv(aapl[0] / "AAPL.csv")
    frame["date"] = pd.to_datetime(frame["date"]).astype("int64") // 10**9
    path = tmp_path / "AAPL.csv"
    frame.to_csv(path, index=False)
    run(path, time_unit="ms")
    assert "epoch times read as milliseconds fall in 1970..1970; leave --time-unit out" in caplog.text


def _compressed(path: Path, data: bytes, kind: str) -> None:
    if kind == "gz":
        path.write_bytes(gzip.compress(data))
    elif kind == "bz2":
        path.write_bytes(bz2.compress(data))
    elif kind == "xz":
        path.write_bytes(lzma.compress(data))
    elif kind == "zst":
        with pa.output_stream(str(path), compression="zstd") as out:
            out.write(data)
    elif kind == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("AAPL.csv", data)


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz", "zst", "zip"])
def test_compressed_files(aapl: tuple, tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"AAPL.csv.{kind}"
    _compressed(path, (aapl[0] / "AAPL.csv").read_bytes(), kind)
    same_as_plain(run(path), aapl[3], len(aapl[2]))


@pytest.mark.parametrize("variant", ["semicolon-decimal-comma", "tab", "pipe", "bom-crlf", "utf-16", "cp1252",
                                     "excel-sep-line", "txt-openint"])
def test_text_variants(aapl: tuple, tmp_path: Path, variant: str) -> None:
    frame = pd.read_csv(aapl[0] / "AAPL.csv")
    text = (aapl[0] / "AAPL.csv").read_text()
    path = tmp_path / ("AAPL.txt" if variant == "txt-openint" else "AAPL.csv")
    if variant == "semicolon-decimal-comma":
        frame.to_csv(path, sep=";", decimal=",", index=False)
    elif variant == "tab":
        frame.to_csv(path, sep="\t", index=False)
    elif variant == "pipe":
        frame.to_csv(path, sep="|", index=False)
    elif variant == "bom-crlf":
        path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    elif variant == "utf-16":
        path.write_bytes(text.encode("utf-16"))
    elif variant == "cp1252":
        path.write_bytes(text.replace("split", "split\u00e9", 1).encode("cp1252"))  # a non-UTF-8 header byte
        frame = frame.rename(columns={"split": "split\u00e9"})
    elif variant == "excel-sep-line":
        path.write_text("sep=;\n" + frame.to_csv(sep=";", index=False))
    else:  # the Kaggle/Stooq .txt layout: Date,Open,High,Low,Close,Volume,OpenInt (no split column)
        frame.drop(columns=["split"]).rename(columns=str.title).assign(OpenInt=0).to_csv(path, index=False)
    got = run(path)
    if variant == "cp1252":  # the renamed column is not a split column any more: compare the prices only
        assert got[2] == [] and [k[:8] for k in key(got[0])] == [k[:8] for k in key(aapl[3][0])]
    elif variant == "txt-openint":
        want = plain_run(tmp_path, aapl[2].assign(Split=1.0))
        same_as_plain(got, want, len(aapl[2]))
    else:
        same_as_plain(got, aapl[3], len(aapl[2]))


def test_delimiter_given_with_the_flag(aapl: tuple, tmp_path: Path) -> None:
    path = tmp_path / "AAPL.csv"
    pd.read_csv(aapl[0] / "AAPL.csv").to_csv(path, sep=":", index=False)
    with pytest.raises(SourceError, match="give it with --delimiter"):
        run(path)
    same_as_plain(run(path, delimiter=":"), aapl[3], len(aapl[2]))


@pytest.mark.parametrize("index", ["named", "unnamed", "yfinance-tz-aware"])
def test_parquet_with_the_time_in_the_stored_pandas_index(aapl: tuple, tmp_path: Path, index: str) -> None:
    d, history, traded, plain = aapl
    path = tmp_path / "AAPL.parquet"
    if index == "yfinance-tz-aware":
        history.to_parquet(path)
    else:
        frame = pd.read_csv(d / "AAPL.csv")
        frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("date")), name="Date" if index == "named" else None)
        frame.to_parquet(path)
    assert "date" not in [c.lower() for c in pd.read_parquet(path).columns]
    same_as_plain(run(path, "parquet"), plain, len(traded))


def test_parquet_of_a_yfinance_download_frame(aapl: tuple, tmp_path: Path) -> None:
    _, history, traded, plain = aapl
    path = tmp_path / "download.parquet"
    shapes.download({"AAPL": history}).to_parquet(path)
    same_as_plain(run(path, "parquet"), plain, len(traded))


def test_csv_and_parquet_prefixes_follow_the_file_not_the_name(aapl: tuple, tmp_path: Path) -> None:
    path = tmp_path / "AAPL.parquet"
    pd.read_csv(aapl[0] / "AAPL.csv").to_parquet(path, index=False)
    same_as_plain(run(path, "csv"), aapl[3], len(aapl[2]))
    same_as_plain(run(aapl[0] / "AAPL.csv", "parquet"), aapl[3], len(aapl[2]))


def test_stooq_download_with_separate_date_and_time_columns(aapl: tuple, tmp_path: Path) -> None:
    frame = pd.read_csv(aapl[0] / "AAPL.csv")
    stooq = pd.DataFrame({"<TICKER>": "AAPL", "<PER>": "D",
                          "<DATE>": pd.to_datetime(frame["date"]).dt.strftime("%Y%m%d"), "<TIME>": "000000",
                          "<OPEN>": frame.open, "<HIGH>": frame.high, "<LOW>": frame.low, "<CLOSE>": frame.close,
                          "<VOL>": frame.volume, "<OPENINT>": 0})
    path = tmp_path / "aapl.us.txt"
    stooq.to_csv(path, index=False)
    want = plain_run(tmp_path, aapl[2].assign(Split=1.0))
    same_as_plain(run(path), want, len(aapl[2]))


def test_binance_headerless_klines_in_milliseconds_and_microseconds(tmp_path: Path) -> None:
    """data.binance.vision kline files have no header; spot files from 2025 stamp microseconds."""
    traded, starts = shapes.hourly_session_bars(days=30)
    starts = pd.DatetimeIndex(pd.date_range("2021-01-04", periods=len(traded), freq="1h", tz="UTC"))
    utc = [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in starts]
    session = Session("UTC", "00:00", "00:00")
    want = run(shapes.plain_csv(tmp_path / "BTCUSDT.csv", traded.assign(Split=1.0), utc), timeframe="1h",
               session=session)
    for scale in (1_000, 1_000_000):
        ms = (starts - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(milliseconds=1)
        rows = pd.DataFrame({"open_time": ms * scale, "o": traded.Open, "h": traded.High, "l": traded.Low,
                             "c": traded.Close, "v": traded.Volume, "close_time": (ms + 3_599_999) * scale,
                             "q": 0.0, "n": 10, "tb": 0.0, "tq": 0.0, "ignore": 0})
        path = tmp_path / "klines" / "BTCUSDT-1h.csv"
        path.parent.mkdir(exist_ok=True)
        rows.to_csv(path, index=False, header=False)
        same_as_plain(run(path, timeframe="1h", session=session, symbol="BTCUSDT"), want, len(traded))


def test_us_and_european_dates_and_dollar_prices(aapl: tuple, tmp_path: Path) -> None:
    """Nasdaq.com's export (MM/DD/YYYY, newest first, "Close/Last", $ prices) and day-first dotted dates."""
    frame = pd.read_csv(aapl[0] / "AAPL.csv")
    days = pd.to_datetime(frame["date"])
    nasdaq = pd.DataFrame({"Date": days.dt.strftime("%m/%d/%Y"), "Close/Last": "$" + frame.close.astype(str),
                           "Volume": frame.volume, "Open": "$" + frame.open.astype(str),
                           "High": "$" + frame.high.astype(str), "Low": "$" + frame.low.astype(str),
                           "Split": frame.split}).iloc[::-1]
    nasdaq.to_csv(tmp_path / "AAPL.csv", index=False)
    same_as_plain(run(tmp_path / "AAPL.csv"), aapl[3], len(aapl[2]))
    european = frame.assign(date=days.dt.strftime("%d.%m.%Y"))
    european.to_csv(tmp_path / "AAPL.csv", index=False, sep=";", decimal=",")
    same_as_plain(run(tmp_path / "AAPL.csv"), aapl[3], len(aapl[2]))


UNRECOGNISED = {
    "no time column": ("a,b,c,d,e\n1,2,3,4,5\n", r"no time column; found 'a', 'b', 'c', 'd', 'e'; name the column"),
    "no volume": ("date,open,high,low,close\n2020-01-02,1,2,1,2\n", r"missing column\(s\) volume; found 'date'"),
    "one column": ("date open high low\n2020-01-02 1 2 1\n", r"found one column .*--delimiter"),
    "html page": ("<!DOCTYPE html><html><body>Too Many Requests</body></html>\n", r"this is HTML"),
    "json": ('{"chart": {"error": "Not Found"}}\n', r"this is JSON"),
    "empty": ("", r"the file is empty"),
    "five headerless cells": ("2020-01-02,1,2,1,2\n", r"no header row, and 5 cells per row"),
    "unit on text times": ("date,open,high,low,close,volume\n2020-01-02,1,2,1,2,3\n", r"--time-unit s was given"),
}


@pytest.mark.parametrize("case", list(UNRECOGNISED))
def test_an_unrecognised_file_is_one_line_naming_the_file_what_was_found_and_the_fix(tmp_path: Path,
                                                                                      case: str) -> None:
    text, message = UNRECOGNISED[case]
    path = tmp_path / "bars.csv"
    path.write_text(text)
    with pytest.raises(SourceError, match=message) as info:
        run(path, time_unit="s" if case == "unit on text times" else None)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_row_faults_are_dead_letters_with_their_line_numbers(aapl: tuple, tmp_path: Path) -> None:
    lines = (aapl[0] / "AAPL.csv").read_text().splitlines()
    lines[10] = ",".join(c if i != 2 else "n/a" for i, c in enumerate(lines[10].split(",")))
    lines[20] = ",".join(lines[20].split(",")[:3])
    lines[30] = ",".join(c if i != 1 else "abc" for i, c in enumerate(lines[30].split(",")))
    lines[40] = "2004-02-30" + lines[40][10:]
    lines[50] += ",7,8"
    lines[60] = ",".join(c if i != 5 else "" for i, c in enumerate(lines[60].split(",")))
    path = tmp_path / "AAPL.csv"
    path.write_text("\n".join(lines) + "\n")
    bars, _, dead = run(path)
    reasons = sorted(d.reason for d in dead)
    assert len(bars) == len(aapl[2]) - 6
    assert reasons == sorted([
        f"{path} line 11: high 'n/a' is not a number",
        f"{path} line 21: short row: 3 field(s) where the header has 7",
        f"{path} line 31: open 'abc' is not a number",
        f"{path} line 41: time '2004-02-30' is not a valid date or time",
        f"{path} line 51: 9 fields where the header has 7 (a stray delimiter or a thousands separator?)",
        f"{path} line 61: volume is empty",
    ])
    assert all(d.payload for d in dead) and any(d.payload == lines[50] for d in dead)
