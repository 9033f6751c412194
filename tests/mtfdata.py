"""Consistent daily + hourly file pairs built at test time from the real EURUSD hourly bars (backtesting's
EURUSD.csv, AGPL: read in place, written only into tmp directories), so the daily bars and the hourly bars
describe the same market.

- ``ny_session_pair``: the hourly bars restamped into New York session hours, seven a weekday labelled
  09:30 ... 15:30 local (the last one capped at the 16:00 close), and the daily bars aggregated from them.
  About 714 sessions from 2017-04-19, across five daylight-saving changes.
- ``fx_pair``: the hourly bars as they are, a 24h instrument stamped in UTC (with offsets), and FX days
  ending 17:00 New York aggregated from them (across the 2017-11-05 change).

Each ``Pair`` also gives every hourly bar's close as the rule says it (computed here, not by the code under
test), to check ``as_of`` against.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tests.realdata import package_file

NY = "America/New_York"
SYMBOL = "EURUSD"
PRICE_COLUMNS = ["Open", "High", "Low", "Close", "Volume"]


@dataclass(frozen=True)
class Pair:
    daily: Path
    hourly: Path
    hourly_closes_ms: list[int]  # ascending: each hourly bar's close time

    def last_hourly_close(self, t_ms: int) -> int:
        """The close of the last hourly bar closed at or before t."""
        i = bisect.bisect_right(self.hourly_closes_ms, t_ms)
        assert i > 0, "no hourly bar before t"
        return self.hourly_closes_ms[i - 1]


def _eurusd() -> pd.DataFrame:
    frame = pd.read_csv(package_file("backtesting", "test", "EURUSD.csv"), index_col=0)
    return frame[PRICE_COLUMNS]


def _ms(index: pd.DatetimeIndex) -> list[int]:
    return [int(x) for x in index.as_unit("ms").asi8]


def _daily(hourly: pd.DataFrame, day: pd.Index) -> pd.DataFrame:
    grouped = hourly.groupby(day, sort=True)
    daily = pd.DataFrame({"Open": grouped["Open"].first(), "High": grouped["High"].max(),
                          "Low": grouped["Low"].min(), "Close": grouped["Close"].last(),
                          "Volume": grouped["Volume"].sum()})
    daily.index.name = "Date"
    return daily


def ny_session_pair(directory: Path) -> Pair:
    frame = _eurusd()
    sessions = len(frame) // 7
    frame = frame.iloc[: sessions * 7].copy()
    days = pd.bdate_range("2017-04-19", periods=sessions)
    starts = pd.DatetimeIndex([d + pd.Timedelta(hours=9 + i, minutes=30) for d in days for i in range(7)])
    frame.index = starts
    frame.index.name = "Datetime"
    hourly_path = directory / f"{SYMBOL}_1h.csv"
    frame.to_csv(hourly_path, date_format="%Y-%m-%d %H:%M:%S")  # naive local New York times
    daily = _daily(frame, starts.normalize())
    daily_path = directory / f"{SYMBOL}_1d.csv"
    daily.to_csv(daily_path, date_format="%Y-%m-%d")
    local_starts = starts.tz_localize(NY)
    session_close = (starts.normalize() + pd.Timedelta(hours=16)).tz_localize(NY)
    closes = (local_starts + pd.Timedelta(hours=1)).where(local_starts + pd.Timedelta(hours=1) <= session_close,
                                                          session_close)
    return Pair(daily_path, hourly_path, _ms(closes.tz_convert("UTC")))


def fx_pair(directory: Path) -> Pair:
    frame = _eurusd()
    starts = pd.DatetimeIndex(pd.to_datetime(frame.index)).tz_localize("UTC")
    frame.index = starts
    frame.index.name = "Datetime"
    hourly_path = directory / f"{SYMBOL}_1h.csv"
    frame.to_csv(hourly_path, date_format="%Y-%m-%dT%H:%M:%S+00:00")
    closes = starts + pd.Timedelta(hours=1)
    local = closes.tz_convert(NY).tz_localize(None)
    # the FX day a bar belongs to ends at the first 17:00 New York at or after its close; a day is kept when its
    # bars reach that close (a weekday, not the partial last day of the file)
    day = (local - pd.Timedelta(hours=17) - pd.Timedelta(microseconds=1)).normalize() + pd.Timedelta(days=1)
    ends = pd.Series(local, index=day).groupby(level=0).max()
    complete = set(ends.index[(ends == ends.index + pd.Timedelta(hours=17)) & (ends.index.day_of_week < 5)])
    keep = pd.Index(day.isin(complete))
    daily = _daily(frame[keep], pd.Index(day[keep]))
    daily_path = directory / f"{SYMBOL}_1d.csv"
    daily.to_csv(daily_path, date_format="%Y-%m-%d")
    return Pair(daily_path, hourly_path, _ms(closes))
