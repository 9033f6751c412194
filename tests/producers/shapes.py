"""Files shaped exactly as common tools write them, built at test time from real bundled bars.

yfinance frames are built the way yfinance 1.x builds them (``scrapers/history.py``, ``multi.py``): Yahoo's
prices and volumes are split-adjusted up to the fetch, ``history`` indexes are tz-aware (daily: midnight in the
exchange zone, so the offset changes with daylight saving; intraday: bar starts) and carry Dividends and Stock
Splits columns; ``download`` concatenates per-ticker histories under (Ticker, Price) keys, drops the zone of
daily indexes, swaps the levels to (Price, Ticker) and sorts the columns. ``.to_csv()`` of those frames is what
users have on disk. The "plain" twin of each file holds the same bars as traded, one row per bar, with a split
column: what the pipeline must read the shaped file as.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tests.realdata import eurusd_bars, symbol_bars
from vpa_stream.schemas.models import Bar

NY = "America/New_York"


def traded_frame(bars: Sequence[Bar]) -> pd.DataFrame:
    """Bars as traded, indexed by their session date (daily) with their split ratio (1.0 = none)."""
    days = pd.to_datetime([b.close_time for b in bars], unit="ms", utc=True).tz_convert(NY).normalize()
    return pd.DataFrame({"Open": [b.open for b in bars], "High": [b.high for b in bars],
                         "Low": [b.low for b in bars], "Close": [b.close for b in bars],
                         "Volume": [b.volume for b in bars], "Split": [b.split_ratio for b in bars]},
                        index=days.tz_localize(None))


def yahoo_history(traded: pd.DataFrame, index: pd.DatetimeIndex, intraday: bool = False,
                  auto_adjust: bool = False, dividend_factor: float = 0.9999) -> pd.DataFrame:
    """``Ticker.history(actions=True, auto_adjust=...)``: split-adjusted prices and volume, tz-aware index.

    The Adj Close is the split-adjusted close times a small dividend factor that shrinks going back in time
    (its exact value does not matter to us: only its presence says the prices are not back-adjusted)."""
    split = traded["Split"].to_numpy()
    later = np.concatenate([np.cumprod(split[::-1])[::-1][1:], [1.0]])  # splits after each row
    df = pd.DataFrame(index=index)
    for col in ("Open", "High", "Low", "Close"):
        df[col] = traded[col].to_numpy() / later
    df["Adj Close"] = df["Close"] * dividend_factor ** np.arange(len(df))[::-1]
    df["Volume"] = np.round(traded["Volume"].to_numpy() * later).astype(np.int64)
    df["Dividends"] = 0.0
    df["Stock Splits"] = np.where(split != 1.0, split, 0.0)
    if auto_adjust:  # yfinance utils.auto_adjust: OHLC times Adj Close / Close, Adj Close becomes Close
        ratio = (df["Adj Close"] / df["Close"]).to_numpy()
        for col in ("Open", "High", "Low"):
            df[col] = df[col] * ratio
        df["Close"] = df["Adj Close"]
        df = df.drop(columns=["Adj Close"])
    df.index.name = "Datetime" if intraday else "Date"
    return df


def daily_history(symbol: str, auto_adjust: bool = False, years: tuple[int, int] = (2000, 2013)
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(yfinance history frame, as-traded frame) of a real daily series of the bundled sample, in ``years``."""
    traded = traded_frame(symbol_bars(symbol))
    traded = traded[(traded.index.year >= years[0]) & (traded.index.year <= years[1])]
    index = pd.DatetimeIndex(pd.to_datetime(traded.index.date)).tz_localize(NY, ambiguous=True,
                                                                            nonexistent="shift_forward")
    return yahoo_history(traded, index, auto_adjust=auto_adjust), traded


def download(histories: dict[str, pd.DataFrame], actions: bool = True, group_by: str = "column") -> pd.DataFrame:
    """``yf.download(tickers, auto_adjust=False, actions=actions, group_by=group_by)`` from per-ticker histories."""
    dfs = {}
    for ticker, df in histories.items():
        df = df.copy()
        if not actions:
            df = df.drop(columns=["Dividends", "Stock Splits", "Capital Gains"], errors="ignore")
        if df.index.name == "Date":  # ignore_tz: daily indexes lose their zone
            df.index = df.index.tz_localize(None)
        dfs[ticker] = df
    idx = None
    for df in dfs.values():
        idx = df.index if idx is None else idx.union(df.index)
    dfs = {k: v.reindex(idx) for k, v in dfs.items()}
    data = pd.concat(dfs.values(), axis=1, sort=True, keys=dfs.keys(), names=["Ticker", "Price"])
    if group_by == "column":
        data.columns = data.columns.swaplevel(0, 1)
        data = data.sort_index(level=0, axis=1)
    return data


def hourly_session_bars(days: int = 60, start: str = "2012-02-21") -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """Real hourly bars (EURUSD's OHLC and tick volume) relabelled as a US equity's session hours: seven bars a
    day starting 09:30, 10:30 ... 15:30 New York time, weekdays from ``start`` (the 2012 DST change on March 11
    falls inside the default span). Returns the as-traded frame (no splits) and its tz-aware start stamps."""
    bars = eurusd_bars()
    sessions = pd.bdate_range(start, periods=days)
    starts = [pd.Timestamp(f"{d.date()} {h:02d}:30", tz=NY) for d in sessions for h in range(9, 16)]
    picked = bars[: len(starts)]
    traded = pd.DataFrame({"Open": [b.open for b in picked], "High": [b.high for b in picked],
                           "Low": [b.low for b in picked], "Close": [b.close for b in picked],
                           "Volume": [b.volume for b in picked], "Split": 1.0}, index=range(len(picked)))
    return traded, pd.DatetimeIndex(starts)


def plain_csv(path: Path, traded: pd.DataFrame, stamps: Sequence[str] | None = None) -> Path:
    """The plain twin: date,open,high,low,close,volume,split with the stamps given (default: the dates)."""
    out = pd.DataFrame({"date": stamps if stamps is not None else [d.strftime("%Y-%m-%d") for d in traded.index],
                        "open": traded["Open"].to_numpy(), "high": traded["High"].to_numpy(),
                        "low": traded["Low"].to_numpy(), "close": traded["Close"].to_numpy(),
                        "volume": traded["Volume"].to_numpy(), "split": traded["Split"].to_numpy()})
    out.to_csv(path, index=False)
    return path
