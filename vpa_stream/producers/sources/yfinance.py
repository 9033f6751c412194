"""Bars from Yahoo Finance through yfinance, normalised to closed, unadjusted, tz-aware bars (DOMAIN §1).

yfinance 1.x ``download`` returns a frame whose columns are a (Price, Ticker) MultiIndex for one or many
tickers; intraday indexes are tz-aware and labelled by bar start, daily ones are session dates. We ask for
``auto_adjust=False`` (no dividend back-adjustment) and ``actions=True``: Yahoo's prices and volumes are still
split-adjusted to the day of the fetch, so each series is restated as traded by its "Stock Splits" column
(``table.restate_as_traded``, as for yfinance files), which then drives the engine's point-in-time split
handling (DOMAIN §1) without adjusting twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pandas as pd

from vpa_stream.producers.sources.base import (
    Item,
    RawSeries,
    Source,
    SourceError,
    SourceOptions,
    standard_columns,
)
from vpa_stream.producers.sources.table import restate_as_traded
from vpa_stream.schemas.models import Bar

log = logging.getLogger(__name__)

#: yfinance interval names for our timeframes
YF_INTERVALS = {"1m": "1m", "2m": "2m", "5m": "5m", "15m": "15m", "30m": "30m", "1h": "60m", "90m": "90m",
                "1d": "1d", "1wk": "1wk", "1mo": "1mo"}
#: how far back yfinance serves each intraday interval (days); a warm-up span is capped to it
PROVIDER_HISTORY_DAYS = {"1m": 7, "2m": 59, "5m": 59, "15m": 59, "30m": 59, "90m": 59, "1h": 729}
FX_SUFFIXES = ("=X",)
CRYPTO_SUFFIXES = ("-USD", "-EUR", "-BTC")


def volume_kind_of(symbol: str) -> str:
    """FX and crypto volume from Yahoo is tick or exchange-aggregated volume, not shares."""
    return "tick" if symbol.endswith(FX_SUFFIXES + CRYPTO_SUFFIXES) else "shares"


def normalise_download(frame: pd.DataFrame, symbols: list[str], timeframe: str) -> Iterator[RawSeries]:
    """Split a yfinance ``download`` frame into per-symbol series with standard columns."""
    if frame is None or frame.empty:
        return
    if isinstance(frame.columns, pd.MultiIndex):
        level = _ticker_level(frame.columns, symbols)
        tickers = list(dict.fromkeys(frame.columns.get_level_values(level)))
        for ticker in tickers:
            part = frame.xs(ticker, axis=1, level=level)
            yield _series(str(ticker), part, timeframe)
    else:
        if len(symbols) != 1:
            raise SourceError("yfinance returned single-level columns for several symbols")
        yield _series(symbols[0], frame, timeframe)


def _ticker_level(columns: pd.MultiIndex, symbols: list[str]) -> int:
    wanted = {s.upper() for s in symbols}
    for level in range(columns.nlevels):
        values = {str(v).upper() for v in columns.get_level_values(level)}
        if values & wanted:
            return level
    return columns.nlevels - 1


def _series(symbol: str, part: pd.DataFrame, timeframe: str) -> RawSeries:
    part = standard_columns(part.copy(), f"yfinance {symbol}")
    part = part.dropna(how="all", subset=["open", "high", "low", "close"])  # rows of other tickers' sessions
    keep = [c for c in ("open", "high", "low", "close", "volume", "adj_close", "split") if c in part.columns]
    part = part[keep]
    if "split" in part.columns:
        part = restate_as_traded(part)
    return RawSeries(symbol, timeframe, part, volume_kind_of(symbol))


class YFinanceSource(Source):
    """``--source yfinance``: symbols with start/end or period, at the given interval.

    FX and crypto symbols (``EURUSD=X``, ``BTC-USD``) trade around the clock: their intraday bars are never
    capped at the session close, whatever session the options name.
    """

    name = "yfinance"

    def __init__(self, options: SourceOptions, period: str | None = None,
                 download: Callable[..., pd.DataFrame] | None = None, timeout: float = 30.0,
                 now_ms: Callable[[], int] | None = None) -> None:
        super().__init__(options)
        if not options.symbols:
            raise SourceError("the yfinance source needs --symbols")
        if options.timeframe is None or options.timeframe not in YF_INTERVALS:
            raise SourceError(f"yfinance has no {options.timeframe} interval")
        self.timeframe: str = options.timeframe
        self.period = period
        self.timeout = timeout
        self._download = download
        self._now_ms = now_ms or (lambda: time.time_ns() // 1_000_000)

    def session_options(self, raw: RawSeries) -> SourceOptions:
        if raw.volume_kind == "tick" and self.options.session.hours != "24h":
            return replace(self.options, session=replace(self.options.session, hours="24h"))
        return self.options

    def streams(self) -> list[Iterator[Item]]:
        """As the base, minus the bar still forming: Yahoo returns today's partial bar, which has not closed."""
        now = self._now_ms()
        return [(i for i in s if not (isinstance(i, Bar) and i.close_time > now)) for s in super().streams()]

    def fetch(self, start: str | None = None, end: str | None = None) -> pd.DataFrame:
        download = self._download
        if download is None:
            import yfinance  # imported late: the package is heavy and only this source needs it

            download = yfinance.download
        kwargs: dict[str, Any] = {
            "tickers": list(self.options.symbols), "interval": YF_INTERVALS[self.timeframe],
            "auto_adjust": False, "actions": True, "group_by": "column", "progress": False,
            "threads": False, "timeout": self.timeout, "multi_level_index": True,
        }
        if start or end or not self.period:
            kwargs.update(start=start or self.options.start, end=end or self.options.end)
        else:
            kwargs["period"] = self.period
        try:
            return download(**kwargs)
        except Exception as exc:  # network, rate limit, yfinance parsing: the caller decides to retry
            raise SourceError(f"yfinance download failed: {type(exc).__name__}: {exc}") from exc

    def poll(self, symbol: str, timeframe: str, start_ms: int, now_ms: int) -> list[Item]:
        """Live mode: the symbol's rows from ``start_ms``'s session date to the day after now (session time)."""
        tz = self.options.session.tz
        start = pd.Timestamp(start_ms, unit="ms", tz="UTC").tz_convert(tz).strftime("%Y-%m-%d")
        end = (pd.Timestamp(now_ms, unit="ms", tz="UTC").tz_convert(tz) + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
        frame = self.fetch(start=start, end=end)
        if frame is None or frame.empty:
            raise SourceError(f"yfinance returned no rows for {symbol} {timeframe} {start}..{end}")
        items = self.series_of(normalise_download(frame, [symbol], timeframe), symbol, timeframe)
        if not items:
            raise SourceError(f"no rows of {symbol} in yfinance's frame")
        return items

    def read(self) -> Iterator[RawSeries]:
        frame = self.fetch()
        if frame is None or frame.empty:
            days = PROVIDER_HISTORY_DAYS.get(self.timeframe)
            limit = f" (Yahoo serves {self.timeframe} bars of the last {days} days only)" if days else ""
            raise SourceError(f"yfinance returned no {self.timeframe} rows for {', '.join(self.options.symbols)}"
                              f"{limit}")
        yield from normalise_download(frame, list(self.options.symbols), self.timeframe)
