"""The value objects every stage shares: a closed bar, an example, the known timeframes, and time rendering."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

#: Known timeframes and their duration in seconds (DOMAIN §1). Ordering at equal close time uses the duration.
TIMEFRAME_SECONDS: dict[str, int] = {
    "1m": 60,
    "2m": 120,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "90m": 5400,
    "4h": 14400,
    "1d": 86400,
    "1wk": 7 * 86400,
    "1mo": 31 * 86400,
}

#: Aliases accepted on input, normalised to the keys of TIMEFRAME_SECONDS.
TIMEFRAME_ALIASES: dict[str, str] = {
    "60m": "1h",
    "1hr": "1h",
    "d": "1d",
    "day": "1d",
    "daily": "1d",
    "1w": "1wk",
    "w": "1wk",
    "week": "1wk",
    "weekly": "1wk",
    "1mon": "1mo",
    "monthly": "1mo",
}

VOLUME_KINDS = ("shares", "tick")


class UnknownTimeframeError(ValueError):
    """A timeframe label that is not one of TIMEFRAME_SECONDS (or an alias of one)."""

    def __init__(self, label: str) -> None:
        super().__init__(f"unknown timeframe {label!r}; known: {', '.join(TIMEFRAME_SECONDS)}")
        self.label = label


def normalise_timeframe(label: str) -> str:
    key = label.strip().lower()
    key = TIMEFRAME_ALIASES.get(key, key)
    if key not in TIMEFRAME_SECONDS:
        raise UnknownTimeframeError(label)
    return key


def timeframe_seconds(label: str) -> int:
    return TIMEFRAME_SECONDS[label]


def is_intraday(label: str) -> bool:
    return TIMEFRAME_SECONDS[label] < 86400


@dataclass(frozen=True, slots=True)
class Bar:
    """One closed OHLCV bar of one symbol and timeframe.

    Times are UTC epoch milliseconds; ``close_time`` is the event time (DOMAIN §1), ``open_time`` is for display.
    ``split_ratio`` is the share split that took effect at this bar's open (2.0 for a 2-for-1), 1.0 when none:
    the engine uses it to rescale the bars before it, so a split never looks like a crash.
    """

    symbol: str
    timeframe: str
    open_time: int
    close_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    volume_kind: str = "shares"
    split_ratio: float = 1.0
    source: str = ""

    @property
    def close_dt(self) -> datetime:
        return ms_to_datetime(self.close_time)

    @property
    def open_dt(self) -> datetime:
        return ms_to_datetime(self.open_time)

    def replay_key(self) -> tuple[int, int, str]:
        """The replay ordering key of DOMAIN §1: (close time, timeframe duration, symbol)."""
        return (self.close_time, TIMEFRAME_SECONDS.get(self.timeframe, 0), self.symbol)

    def to_record(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "open_time": self.open_time,
            "close_time": self.close_time,
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "volume": self.volume,
            "volume_kind": self.volume_kind,
            "split_ratio": self.split_ratio,
            "source": self.source,
        }

    @classmethod
    def from_record(cls, record: dict[str, object]) -> Bar:
        return cls(
            symbol=str(record["symbol"]),
            timeframe=str(record["timeframe"]),
            open_time=int(record["open_time"]),  # type: ignore[call-overload]
            close_time=int(record["close_time"]),  # type: ignore[call-overload]
            open=float(record["open"]),  # type: ignore[arg-type]
            high=float(record["high"]),  # type: ignore[arg-type]
            low=float(record["low"]),  # type: ignore[arg-type]
            close=float(record["close"]),  # type: ignore[arg-type]
            volume=float(record["volume"]),  # type: ignore[arg-type]
            volume_kind=str(record.get("volume_kind", "shares")),
            split_ratio=float(record.get("split_ratio", 1.0)),  # type: ignore[arg-type]
            source=str(record.get("source", "")),
        )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms_to_datetime(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def datetime_to_ms(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt.isoformat()}: event times must be tz-aware")
    delta = dt - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


_YEAR_10000_MS = 253_402_300_800_000  # gmtime would render 10000-01-01, which sorts before 9999 as a string


def iso_utc(ms: int) -> str:
    """Render an epoch-ms instant as ``2013-03-01T21:00:00Z`` (seconds precision unless sub-second).

    Whole seconds go through ``time.gmtime``, a third of the cost of building a datetime (the engine renders
    every bar's times). ``gmtime`` covers 1970 to 9999 here; other instants take the datetime path, which
    raises past 9999.
    """
    if ms % 1000 == 0 and 0 <= ms < _YEAR_10000_MS:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))
    dt = _EPOCH + timedelta(milliseconds=ms)
    if ms % 1000:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Example:
    """One training example, as the engine makes it: its idempotency key (``SYMBOL|TIMEFRAME|CLOSE``), symbol,
    timeframe, event time (close, epoch ms) and the DOMAIN §6 record (``schemas/example.v2.avsc``)."""

    id: str
    symbol: str
    timeframe: str
    close_time: int
    record: dict[str, Any]
