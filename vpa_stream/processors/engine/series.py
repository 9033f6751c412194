"""A bounded window of one symbol's bars in one timeframe, with the per-bar values later bars read.

The window keeps at most ``2 * capacity`` bars and trims to ``capacity`` in one slice, so appending is O(1)
amortised and every statistic is recomputed from plain list slices: the same bars always give the same
floats, whatever came before them (DOMAIN §1, purity). Swing pivots are evaluated once, when bar i + N arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vpa_stream.schemas.models import Bar, iso_utc

if TYPE_CHECKING:
    from vpa_stream.processors.engine.analysis import Analysis, PivotMemo


@dataclass(slots=True)
class Pivot:
    """A confirmed swing point: bar index, price (high for a swing high, low for a swing low), the bar's volume."""

    index: int
    price: float
    volume: float
    is_high: bool


@dataclass(frozen=True, slots=True)
class Split:
    close_time: int
    ratio: float


class Series:
    """Bars of one (symbol, timeframe), oldest first, with absolute indices ``first_index .. count - 1``."""

    __slots__ = (
        "analyses",
        "c",
        "candles",
        "capacity",
        "count",
        "ct",
        "decimals",
        "h",
        "iso",
        "keep_analyses",
        "keep_candles",
        "l",
        "o",
        "ot",
        "pivot_bars",
        "pivot_memo",
        "pivot_version",
        "pivots",
        "range_numbers",
        "range_raw",
        "rng",
        "source",
        "splits",
        "symbol",
        "timeframe",
        "tr",
        "v",
        "volume_kind",
    )

    def __init__(self, symbol: str, timeframe: str, capacity: int, pivot_bars: int, keep_analyses: int = 3,
                 keep_candles: int = 11) -> None:
        """``keep_analyses`` / ``keep_candles``: how many of the newest bars keep their analysis and rendered
        candle (what later bars read); older ones are released, so a series costs memory for its prices only."""
        self.keep_analyses = keep_analyses
        self.keep_candles = keep_candles
        self.symbol = symbol
        self.timeframe = timeframe
        self.capacity = capacity
        self.pivot_bars = pivot_bars
        self.count = 0
        self.o: list[float] = []
        self.h: list[float] = []
        self.l: list[float] = []
        self.c: list[float] = []
        self.v: list[float] = []
        self.ot: list[int] = []
        self.ct: list[int] = []
        self.tr: list[float] = []
        self.rng: list[float] = []  # high - low, the VSA spread
        self.iso: list[str] = []  # close times rendered once (iso_utc), read by every later example and context
        self.candles: list[dict[str, object] | None] = []  # rendered on first use, reused by later examples
        self.analyses: list[Analysis | None] = []
        self.range_raw: list[str] = []  # each bar's own trading-range reading, which the hysteresis reads back
        self.range_numbers: list[tuple[float, float, float]] = []  # ... and its (width ATR, drift, prior move ATR)
        self.pivots: list[Pivot] = []
        #: bumped whenever the pivots change (a new one, a trim, a split): analysis memoises per version
        self.pivot_version = 0
        self.pivot_memo: PivotMemo | None = None  # owned by analysis
        self.splits: list[Split] = []
        self.volume_kind = "shares"
        self.source = ""
        self.decimals: int | None = None

    def __len__(self) -> int:
        return len(self.c)

    @property
    def first_index(self) -> int:
        return self.count - len(self.c)

    @property
    def last_close_time(self) -> int | None:
        return self.ct[-1] if self.ct else None

    def append(self, bar: Bar) -> None:
        if bar.split_ratio != 1.0 and self.c:
            self._apply_split(bar.split_ratio, bar.close_time)
        prev_close = self.c[-1] if self.c else None
        self.o.append(bar.open)
        self.h.append(bar.high)
        self.l.append(bar.low)
        self.c.append(bar.close)
        self.v.append(bar.volume)
        self.ot.append(bar.open_time)
        self.ct.append(bar.close_time)
        self.tr.append(_true_range(bar.high, bar.low, prev_close))
        self.rng.append(bar.high - bar.low)
        self.iso.append(iso_utc(bar.close_time))
        self.candles.append(None)
        self.analyses.append(None)
        self.range_raw.append("NONE")
        self.range_numbers.append((0.0, 0.0, 0.0))
        n = len(self.analyses)
        if n > self.keep_analyses:
            self.analyses[n - 1 - self.keep_analyses] = None
        if n > self.keep_candles:
            self.candles[n - 1 - self.keep_candles] = None
        self.volume_kind = bar.volume_kind
        self.source = bar.source
        self.count += 1
        if len(self.c) > 2 * self.capacity:
            self._trim()
        self._confirm_pivot()

    def _trim(self) -> None:
        cut = len(self.c) - self.capacity
        for seq in (self.o, self.h, self.l, self.c, self.v, self.ot, self.ct, self.tr, self.rng, self.iso, self.candles,
                    self.analyses, self.range_raw, self.range_numbers):
            del seq[:cut]
        first = self.first_index
        self.pivots = [p for p in self.pivots if p.index >= first]
        self.pivot_version += 1
        self.splits = [s for s in self.splits if s.close_time >= self.ct[0]]

    def _confirm_pivot(self) -> None:
        """Bar i = t - N becomes a pivot now, at its confirmation time, never earlier (DOMAIN §1)."""
        n = self.pivot_bars
        pos = len(self.c) - 1 - n
        if pos < n:
            return
        h, lo = self.h, self.l
        hi = h[pos]
        if hi > max(h[pos - n : pos]) and hi > max(h[pos + 1 : pos + n + 1]):
            self.pivots.append(Pivot(self.first_index + pos, hi, self.v[pos], True))
            self.pivot_version += 1
        low = lo[pos]
        if low < min(lo[pos - n : pos]) and low < min(lo[pos + 1 : pos + n + 1]):
            self.pivots.append(Pivot(self.first_index + pos, low, self.v[pos], False))
            self.pivot_version += 1

    def _apply_split(self, ratio: float, close_time: int) -> None:
        """Rescale the bars before a split by it, so the window is in today's share terms (DOMAIN §1)."""
        self.o = [x / ratio for x in self.o]
        self.h = [x / ratio for x in self.h]
        self.l = [x / ratio for x in self.l]
        self.c = [x / ratio for x in self.c]
        self.v = [x * ratio for x in self.v]
        self.tr = [x / ratio for x in self.tr]
        self.rng = [hh - ll for hh, ll in zip(self.h, self.l, strict=True)]
        self.candles = [None] * len(self.c)
        for p in self.pivots:
            p.price /= ratio
            p.volume *= ratio
        self.pivot_version += 1
        self.splits.append(Split(close_time, ratio))

    def candle(self, pos: int) -> dict[str, object]:
        """The rendered candle of the bar at list position ``pos`` (prices at the instrument's precision)."""
        cached = self.candles[pos]
        if cached is not None:
            return cached
        d = self.decimals if self.decimals is not None else 2
        rendered: dict[str, object] = {
            "open_time": iso_utc(self.ot[pos]),
            "close_time": self.iso[pos],
            "open": round(self.o[pos], d),
            "high": round(self.h[pos], d),
            "low": round(self.l[pos], d),
            "close": round(self.c[pos], d),
            "volume": float(self.v[pos]),
        }
        self.candles[pos] = rendered
        return rendered

    def recent_candles(self, start: int, stop: int) -> list[dict[str, object]]:
        """The rendered candles of list positions ``start .. stop - 1``."""
        candles = self.candles[start:stop]
        if None in candles:
            return [self.candle(i) for i in range(start, stop)]
        return candles  # type: ignore[return-value]  # no None left

    def set_decimals(self, decimals: int) -> None:
        if decimals != self.decimals:
            self.decimals = decimals
            self.candles = [None] * len(self.c)


def _true_range(high: float, low: float, prev_close: float | None) -> float:
    if prev_close is None:
        return high - low
    return max(high, prev_close) - min(low, prev_close)
