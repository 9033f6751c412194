"""Real market data for tests, read from installed packages (never copied into the repo).

- bokeh-sampledata: AAPL, MSFT, IBM daily 2000-2013, unadjusted with an adjusted close (our sample source);
- backtesting: GOOG daily 2004-2013 and EURUSD hourly (tick volume). AGPL: read in place only.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import pandas as pd

from vpa_stream.producers.sources.base import Session, SourceOptions, series_items
from vpa_stream.producers.sources.files import frame_series
from vpa_stream.producers.sources.sample import SampleSource
from vpa_stream.schemas.models import Bar

FX_SESSION = Session(tz="UTC", open="00:00", close="21:00")


def package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, f"{package} is not installed"
    return Path(next(iter(spec.submodule_search_locations)), *parts)


def _bars(frame: pd.DataFrame, options: SourceOptions, symbol: str, volume_kind: str = "shares") -> list[Bar]:
    out: list[Bar] = []
    for raw in frame_series(frame, symbol, options, default_symbol=symbol, volume_kind=volume_kind):
        out.extend(b for b in series_items(raw, options, f"test:{symbol}") if isinstance(b, Bar))
    return out


@cache
def sample_bars() -> tuple[Bar, ...]:
    """AAPL, MSFT, IBM daily, in replay order."""
    from vpa_stream.producers.replay import replay

    return tuple(replay(SampleSource().streams(), lambda d: None))


@cache
def symbol_bars(symbol: str) -> tuple[Bar, ...]:
    return tuple(b for b in sample_bars() if b.symbol == symbol)


@cache
def goog_bars() -> tuple[Bar, ...]:
    frame = pd.read_csv(package_file("backtesting", "test", "GOOG.csv"))
    return tuple(_bars(frame, SourceOptions(timeframe="1d"), "GOOG"))


@cache
def eurusd_bars() -> tuple[Bar, ...]:
    frame = pd.read_csv(package_file("backtesting", "test", "EURUSD.csv"))
    options = SourceOptions(timeframe="1h", session=FX_SESSION)
    return tuple(_bars(frame, options, "EURUSD", volume_kind="tick"))
