"""Timeframes of sources (a #TF suffix, a timeframe column, the stamps), the session cap of intraday bars, and
the multi-source CLI options."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.mtfdata import ny_session_pair
from tests.realdata import package_file
from vpa_stream.cli import main
from vpa_stream.producers.replay import bars_of
from vpa_stream.producers.sources.base import Session, SourceOptions, bar_times
from vpa_stream.producers.sources.files import FileSource
from vpa_stream.producers.sources.sample import sample_path
from vpa_stream.producers.sources.specs import SourceSpecError, Timeframes, build_sources, split_spec
from vpa_stream.producers.sources.timeframes import TimeframeError, detect_timeframe
from vpa_stream.producers.sources.yfinance import YFinanceSource
from vpa_stream.schemas.models import Bar, iso_utc


def eurusd() -> pd.DataFrame:
    frame = pd.read_csv(package_file("backtesting", "test", "EURUSD.csv"), index_col=0, parse_dates=True)
    return frame[["Open", "High", "Low", "Close", "Volume"]]


def aapl_daily() -> pd.DataFrame:
    frame = pd.read_csv(sample_path())
    frame = frame[frame["Ticker"] == "AAPL"]
    return frame.set_index(pd.DatetimeIndex(pd.to_datetime(frame["Date"])))[["Open", "High", "Low", "Close",
                                                                              "Volume"]]


def _resampled(frame: pd.DataFrame, rule: str) -> pd.DataFrame:
    return frame.resample(rule).agg({"Open": "first", "High": "max", "Low": "min", "Close": "last",
                                     "Volume": "sum"}).dropna()


@pytest.mark.parametrize(("series", "expected"), [
    (lambda: aapl_daily(), "1d"),
    (lambda: eurusd(), "1h"),
    (lambda: _resampled(eurusd(), "4h"), "4h"),
    (lambda: _resampled(eurusd(), "15min").iloc[:0], None),  # no rows: cannot tell
    (lambda: _resampled(aapl_daily(), "W-FRI"), "1wk"),
    (lambda: _resampled(aapl_daily(), "ME"), "1mo"),
])
def test_the_timeframe_of_real_series_is_detected_from_their_stamps(series, expected: str | None) -> None:
    frame = series()
    if expected is None:
        with pytest.raises(TimeframeError, match="too few rows"):
            detect_timeframe(frame.index, "empty")
    else:
        assert detect_timeframe(frame.index) == expected


def test_a_step_that_is_no_timeframe_is_an_error_naming_it() -> None:
    with pytest.raises(TimeframeError, match="3:00:00 apart, which is no known timeframe"):
        detect_timeframe(_resampled(eurusd(), "3h").index, "csv:x.csv")


def test_a_spec_suffix_names_the_timeframe() -> None:
    assert split_spec("csv:aapl_1h.csv#1h") == ("csv", "aapl_1h.csv", "1h")
    assert split_spec("parquet:bars/#60m") == ("parquet", "bars/", "1h")
    assert split_spec("csv:data#2/x.csv") == ("csv", "data#2/x.csv", None)  # a # inside the path
    assert split_spec("yfinance") == ("yfinance", "", None)
    with pytest.raises(SourceSpecError, match="unknown timeframe '7q'"):
        split_spec("csv:x.csv#7q")
    with pytest.raises(SourceSpecError, match="unknown source"):
        split_spec("ftp:x.csv")


def test_yfinance_downloads_the_primary_and_each_context_timeframe() -> None:
    sources = build_sources(["yfinance"], SourceOptions(symbols=("AAPL",)), Timeframes.of("1d", ["1h", "15m"]))
    assert [s.timeframe for s in sources if isinstance(s, YFinanceSource)] == ["1d", "1h", "15m"]


def test_a_file_with_a_timeframe_column_gives_one_series_per_symbol_and_timeframe(tmp_path: Path) -> None:
    pair = ny_session_pair(tmp_path)
    daily = pd.read_csv(pair.daily).rename(columns={"Date": "Datetime"}).assign(Timeframe="1d")
    hourly = pd.read_csv(pair.hourly).assign(Timeframe="60m")
    mixed = tmp_path / "mixed.csv"
    pd.concat([hourly, daily]).assign(Symbol="EURUSD").to_csv(mixed, index=False)
    source = FileSource(mixed, "csv", SourceOptions(timeframe=None))
    bars = list(bars_of([source], pytest.fail))
    assert {(r.symbol, r.timeframe, r.origin) for r in source.resolved} == {("EURUSD", "1d", "column"),
                                                                          ("EURUSD", "1h", "column")}
    assert sum(b.timeframe == "1h" for b in bars) == len(hourly)
    assert sum(b.timeframe == "1d" for b in bars) == len(daily)


@pytest.mark.parametrize("rows", [257, 513])  # a last chunk of one row: too few to detect on, had it been asked
def test_a_streamed_file_is_detected_once_from_its_first_rows(tmp_path: Path, rows: int) -> None:
    path = tmp_path / "EURUSD.csv"
    eurusd().iloc[:rows].to_csv(path, index_label="Datetime")
    source = FileSource(path, "csv", SourceOptions(timeframe=None))
    bars = list(bars_of([source], pytest.fail))
    assert len(bars) == rows and {b.timeframe for b in bars} == {"1h"}
    assert [(r.timeframe, r.origin) for r in source.resolved] == [("1h", "detected")]


def test_a_files_name_gives_its_symbol_without_a_timeframe_label(tmp_path: Path) -> None:
    for name, symbol in [("EURUSD_1h.csv", "EURUSD"), ("AAPL-1d.csv", "AAPL"), ("BRK-B.csv", "BRK-B"),
                         ("x_1.csv", "x_1")]:
        aapl_daily().iloc[:30].to_csv(tmp_path / name, index_label="Date")
        source = FileSource(tmp_path / name, "csv", SourceOptions(timeframe=None))
        bars = list(bars_of([source], pytest.fail))
        assert {b.symbol for b in bars} == {symbol}, name
        (tmp_path / name).unlink()


def _closes(labels: list[str], session: Session) -> list[str]:
    _, closes = bar_times(pd.DatetimeIndex(labels), "1h", session)
    return [iso_utc(int(c)) for c in closes]


def test_an_hourly_bar_that_straddles_the_session_close_ends_at_it_in_summer_and_winter() -> None:
    labels = ["2017-11-03 14:30", "2017-11-03 15:30", "2017-11-06 15:30", "2017-11-06 16:00"]
    assert _closes(labels, Session()) == [
        "2017-11-03T19:30:00Z", "2017-11-03T20:00:00Z",  # 16:00 EDT
        "2017-11-06T21:00:00Z",  # 16:00 EST
        "2017-11-06T22:00:00Z",  # an after-hours bar starting at the close is not capped
    ]


def test_a_24h_session_never_caps_an_intraday_bar() -> None:
    assert _closes(["2017-11-03 15:30", "2017-11-06 15:30"], Session(hours="24h")) == [
        "2017-11-03T20:30:00Z", "2017-11-06T21:30:00Z"]


def test_yfinance_fx_and_crypto_bars_are_never_capped_and_equities_are() -> None:
    starts = pd.DatetimeIndex(["2017-11-06 14:30", "2017-11-06 15:30"]).tz_localize("America/New_York")
    rows = eurusd().iloc[:2].to_numpy()
    prices = ["Adj Close", "Close", "High", "Low", "Open", "Volume"]
    tickers = ["AAPL", "EURUSD=X"]
    columns = pd.MultiIndex.from_product([prices, tickers], names=["Price", "Ticker"])
    values = {("Adj Close", t): rows[:, 3] for t in tickers}
    values.update({(p, t): rows[:, i] for t in tickers for i, p in enumerate(["Open", "High", "Low", "Close",
                                                                               "Volume"])})
    frame = pd.DataFrame({c: values[c] for c in columns}, index=starts)
    source = YFinanceSource(SourceOptions(timeframe="1h", symbols=tuple(tickers)), download=lambda **_: frame,
                            now_ms=lambda: 2**62)
    bars = [b for b in bars_of([source], pytest.fail) if isinstance(b, Bar)]
    last = {b.symbol: iso_utc(b.close_time) for b in bars}
    assert last == {"AAPL": "2017-11-06T21:00:00Z", "EURUSD=X": "2017-11-06T21:30:00Z"}


@pytest.fixture(scope="module")
def three_timeframes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """EURUSD daily, hourly and 4-hourly files in one directory."""
    directory = tmp_path_factory.mktemp("three")
    pair = ny_session_pair(directory)
    hourly = pd.read_csv(pair.hourly, index_col=0, parse_dates=True)
    _resampled(hourly, "4h").to_csv(directory / "EURUSD_4h.csv")
    return directory


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["backfill", "--no-progress", "--single-process", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_other_timeframes_keeps_only_the_context_asked_for_and_the_summary_says_so(
        three_timeframes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "--source", f"csv:{three_timeframes}", "--other-timeframes", "1h",
                          "--out", str(tmp_path))
    assert code == 0, err
    assert "1h context: csv:EURUSD_1h.csv EURUSD (detected from its stamps)" in out
    assert "4h not used: csv:EURUSD_4h.csv EURUSD (detected from its stamps)" in out
    contexts = {tuple(json.loads(line)["input"]["multi_timeframe_context"]) for line in
                (tmp_path / "examples-00000.jsonl").read_text().splitlines()}
    assert contexts == {("1h",), ("1h", "1wk")}  # the weekly one once 25 closed weeks are there; never 4h


def test_without_other_timeframes_every_supplied_timeframe_is_context(
        three_timeframes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "--source", f"csv:{three_timeframes}", "--out", str(tmp_path))
    assert code == 0, err
    last = json.loads((tmp_path / "examples-00000.jsonl").read_text().splitlines()[-1])
    assert list(last["input"]["multi_timeframe_context"]) == ["1h", "4h", "1wk"]


def test_a_suffix_overrides_detection_and_a_missing_timeframe_is_one_clear_error(
        three_timeframes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    daily, hourly = three_timeframes / "EURUSD_1d.csv", three_timeframes / "EURUSD_1h.csv"
    code, out, _ = _run(capsys, "--source", f"csv:{daily}#1d", "--source", f"csv:{hourly}", "--out", str(tmp_path))
    assert code == 0 and "1d primary: csv:EURUSD_1d.csv EURUSD (the #TF suffix of its source)" in out
    code, _, err = _run(capsys, "--source", f"csv:{daily}", "--source", f"csv:{hourly}", "--other-timeframes",
                        "1h,15m", "--out", str(tmp_path / "missing"))
    assert code == 1
    assert err.startswith("vpa-stream: error: no source supplies 15m bars; found: csv:EURUSD_1d.csv EURUSD 1d")
    assert not list((tmp_path / "missing").glob("*"))  # nothing written
    code, _, err = _run(capsys, "--source", f"csv:{hourly}", "--out", str(tmp_path / "hourly-only"))
    assert code == 1 and "no source supplies 1d bars" in err


def test_after_an_hourly_bar_capped_at_the_close_live_polling_keeps_the_vendors_grid() -> None:
    """The 15:30 bar ends at 16:00; the next bar (09:30) ends at 10:30, and that is when the poller looks."""
    from vpa_stream.producers.clock import SimulatedClock
    from vpa_stream.producers.live import LivePoller

    session = Session()
    opens, closes = bar_times(pd.DatetimeIndex(["2017-11-06 15:30"]), "1h", session)
    capped = Bar("AAPL", "1h", int(opens[0]), int(closes[0]), 1.0, 1.0, 1.0, 1.0, 1.0)
    poller = LivePoller(["AAPL"], "1h", None, SimulatedClock(capped.close_time), session=session,  # type: ignore[arg-type]
                        resume={("AAPL", "1h"): capped.close_time})
    feed = poller.feeds[0]
    feed.recent[capped.close_time] = capped
    evening = int(pd.Timestamp("2017-11-06 16:30", tz="America/New_York").value // 1_000_000)
    poller._schedule(feed, evening)
    grid = {iso_utc(feed.next_due - poller.grace_ms)[11:16]}
    morning = int(pd.Timestamp("2017-11-07 10:05", tz="America/New_York").value // 1_000_000)
    poller._schedule(feed, morning)
    grid.add(iso_utc(feed.next_due - poller.grace_ms)[11:16])
    assert grid == {"21:30", "15:30"}  # on the half hours: 16:30 and 10:30 New York, not 17:00 and 11:00
