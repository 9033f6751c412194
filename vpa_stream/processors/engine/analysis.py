"""Measurements (DOMAIN §2) and context (§3) of the newest bar of a series, read only from bars closed by then.

Ratios, fractions of range and ATR multiples are rounded to the 2 dp the record shows before any class or
rule reads them, so every class and pattern can be re-derived from the numbers in the example's input.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from operator import attrgetter, mul, sub

from vpa_stream.processors.config import VPAConfig
from vpa_stream.processors.engine.render import ratio
from vpa_stream.processors.engine.series import Pivot, Series


@dataclass(frozen=True, slots=True)
class Level:
    """A support or resistance band: its volume-weighted price, pivots in it, distance from the close in ATR."""

    price: float
    touches: int
    distance_atr: float


@dataclass(slots=True)
class Analysis:
    index: int
    volume_ratio: float
    volume_class: str
    spread_ratio: float
    spread_class: str
    body_ratio: float
    close_position: float
    close_class: str
    upper_wick: float
    lower_wick: float
    candle_shape: str
    bar_direction: str
    candle_color: str
    atr: float
    volume_vs_prior: bool
    sma_fast: float
    sma_slow: float
    slope_atr: float
    trend_status: str
    trend_strength: str
    volume_trend: str
    validation: str
    swing_structure: str
    supports: list[Level]
    resistances: list[Level]
    range_state: str  # the held state (§3 hysteresis): NONE (not a range), NEUTRAL, ACCUMULATION, DISTRIBUTION
    range_width_atr: float
    range_drift: float
    range_prior_move_atr: float
    range_position: float  # where the close sits in the high-low of the last range_bars bars (0 low .. 1 high)
    recent_move_atr: float  # net move of the decline_lookback bars before t (C_{t-1} - C_{t-1-N}) in ATR
    #: detected patterns -> their details (the numbers that fired them); filled by patterns.detect
    patterns: dict[str, dict[str, float | str | None]] = field(default_factory=dict)


_pivot_index = attrgetter("index")
_pivot_price = attrgetter("price")


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _ratio_to(value: float, base: float) -> float:
    if base > 0:
        return ratio(value / base)
    return 1.0 if value == 0 else 99.99  # no history to compare with: neutral, or a capped "more than ever"


def volume_class(r: float, cfg: VPAConfig) -> str:
    if r <= cfg.volume_very_low:
        return "VERY_LOW"
    if r <= cfg.volume_low:
        return "LOW"
    if r >= cfg.volume_very_high:
        return "VERY_HIGH"
    if r >= cfg.volume_high:
        return "HIGH"
    return "AVERAGE"


def spread_class(r: float, cfg: VPAConfig) -> str:
    if r <= cfg.spread_narrow:
        return "NARROW"
    if r >= cfg.spread_wide:
        return "WIDE"
    return "AVERAGE"


def close_class(cp: float, cfg: VPAConfig) -> str:
    if cp < cfg.close_low:
        return "LOW"
    if cp > cfg.close_high:
        return "HIGH"
    return "MID"


def candle_shape(body: float, upper: float, lower: float, cfg: VPAConfig) -> str:
    if lower >= cfg.hammer_wick_min and body <= cfg.hammer_body_max and upper <= cfg.hammer_other_wick_max:
        return "HAMMER"
    if upper >= cfg.hammer_wick_min and body <= cfg.hammer_body_max and lower <= cfg.hammer_other_wick_max:
        return "SHOOTING_STAR"
    if body <= cfg.long_legged_body_max and upper >= cfg.long_legged_wick_min and lower >= cfg.long_legged_wick_min:
        return "LONG_LEGGED_DOJI"
    if body <= cfg.doji_body_max:
        return "DOJI"
    if body >= cfg.marubozu_body_min:
        return "MARUBOZU"
    return "NORMAL"


def analyse(s: Series, cfg: VPAConfig, decimals: int) -> Analysis:
    """Measure and put in context the newest bar of ``s``; reads at most ``cfg.max_lookback`` bars."""
    hs, ls, cs, vs = s.h, s.l, s.c, s.v
    n = len(cs)
    t = n - 1
    o, h, lo, c, v = s.o[t], hs[t], ls[t], cs[t], vs[t]
    rng = h - lo

    # §2 measurements: averages over the bars before t, t excluded
    vr = _ratio_to(v, _mean(vs[max(0, t - cfg.volume_lookback) : t]))
    sr = _ratio_to(rng, _mean(s.rng[max(0, t - cfg.spread_lookback) : t]))
    if rng > 0:
        body = ratio(abs(c - o) / rng)
        cp = ratio((c - lo) / rng)
        upper = ratio((h - max(o, c)) / rng)
        lower = ratio((min(o, c) - lo) / rng)
    else:
        body, cp, upper, lower = 0.0, 0.5, 0.0, 0.0
    if t > 0:
        pc = cs[t - 1]
        direction = "UP" if c > pc else "DOWN" if c < pc else "FLAT"
    else:
        direction = "FLAT"
    color = "BULLISH" if c > o else "BEARISH" if c < o else "DOJI"
    atr = _mean(s.tr[max(0, n - cfg.atr_period) :])
    vs_prior = t >= 2 and v < vs[t - 1] and v < vs[t - 2]

    # §3 trend
    sma_f = _mean(cs[max(0, n - cfg.sma_fast) :])
    sma_s = _mean(cs[max(0, n - cfg.sma_slow) :])
    back = n - cfg.slope_lookback
    sma_f_prev = _mean(cs[max(0, back - cfg.sma_fast) : back]) if back > 0 else sma_f
    slope = ratio((sma_f - sma_f_prev) / atr) if atr > 0 else 0.0
    if slope >= cfg.slope_trend and c > sma_f:
        status = "UP"
    elif slope <= -cfg.slope_trend and c < sma_f:
        status = "DOWN"
    else:
        status = "SIDEWAYS"
    ordered = (status == "UP" and c > sma_f > sma_s) or (status == "DOWN" and c < sma_f < sma_s)
    if abs(slope) >= cfg.slope_strong and ordered:
        strength = "STRONG"
    elif abs(slope) >= cfg.slope_moderate:
        strength = "MODERATE"
    else:
        strength = "WEAK"
    vt_ratio = _ratio_to(_mean(vs[max(0, n - cfg.volume_trend_short) :]),
                         _mean(vs[max(0, n - cfg.volume_trend_long) :]))
    if vt_ratio >= cfg.volume_trend_rising:
        vtrend = "RISING"
    elif vt_ratio <= cfg.volume_trend_falling:
        vtrend = "FALLING"
    else:
        vtrend = "FLAT"
    if status != "SIDEWAYS" and vtrend == "RISING":
        validation = "VALIDATED"
    elif status != "SIDEWAYS" and vtrend == "FALLING":
        validation = "ANOMALY"
    else:
        validation = "NONE"

    # §3 pivots, support and resistance: confirmed pivots of bars within the last sr_lookback bars
    # (s.pivots is in ascending bar index, so the recent ones are a suffix)
    pivots = s.pivots
    first = bisect_left(pivots, s.count - cfg.sr_lookback, key=_pivot_index)
    memo = s.pivot_memo
    if memo is None or memo.version != s.pivot_version or memo.first != first:
        memo = s.pivot_memo = PivotMemo(s.pivot_version, first, pivots[first:])
    supports, resistances = _levels(memo, c, atr, cfg, decimals)
    swing = memo.swing

    # §3 trading range: this bar's own reading, then the state held by the hysteresis
    raw_state, width_atr, drift, prior_move = _trading_range(s, atr, cfg)
    s.range_raw[-1] = raw_state
    s.range_numbers[-1] = (width_atr, drift, prior_move)
    range_state, set_at = _held_range_state(s.range_raw, cfg)
    if set_at >= 0 and range_state in ("ACCUMULATION", "DISTRIBUTION"):
        width_atr, drift, prior_move = s.range_numbers[set_at]  # the reading that set the held state
    first_rb = max(0, n - cfg.range_bars)
    lowest, highest = min(ls[first_rb:]), max(hs[first_rb:])
    position = ratio((c - lowest) / (highest - lowest)) if highest > lowest else 0.5
    dl = cfg.decline_lookback
    recent_move = ratio((cs[t - 1] - cs[t - 1 - dl]) / atr) if t - 1 - dl >= 0 and atr > 0 else 0.0

    return Analysis(
        index=s.count - 1,
        volume_ratio=vr, volume_class=volume_class(vr, cfg),
        spread_ratio=sr, spread_class=spread_class(sr, cfg),
        body_ratio=body, close_position=cp, close_class=close_class(cp, cfg),
        upper_wick=upper, lower_wick=lower, candle_shape=candle_shape(body, upper, lower, cfg),
        bar_direction=direction, candle_color=color, atr=atr, volume_vs_prior=vs_prior,
        sma_fast=sma_f, sma_slow=sma_s, slope_atr=slope, trend_status=status, trend_strength=strength,
        volume_trend=vtrend, validation=validation, swing_structure=swing,
        supports=supports, resistances=resistances,
        range_state=range_state, range_width_atr=width_atr, range_drift=drift, range_prior_move_atr=prior_move,
        range_position=position, recent_move_atr=recent_move,
    )


class PivotMemo:
    """What the levels and the swing structure need from one set of recent pivots, kept while the set holds.

    Everything here is a function of the pivots ``s.pivots[first:]`` of pivot version ``version`` (the series
    bumps the version whenever a pivot is added, trimmed or rescaled), so reusing it gives the same floats
    as recomputing it (DOMAIN §1, purity).
    """

    __slots__ = ("bands", "ceiling", "first", "floor", "gaps", "prices", "sorted_gaps", "swing", "version", "volumes")

    def __init__(self, version: int, first: int, pivots: list[Pivot]) -> None:
        self.version = version
        self.first = first
        pts = sorted(pivots, key=_pivot_price)  # stable: equal prices keep bar order
        self.prices = [p.price for p in pts]
        self.volumes = [p.volume for p in pts]
        self.gaps = list(map(sub, self.prices[1:], self.prices[:-1]))  # gaps[i - 1] = prices[i] - prices[i - 1]
        self.sorted_gaps = sorted(gap for gap in self.gaps if gap == gap)  # a NaN gap always ends a band
        self.swing = _swing_structure(pivots)
        # the bands of the last band gap hold for every band gap in [floor, ceiling): no gap lies in between
        self.floor, self.ceiling = math.inf, -math.inf
        self.bands: list[tuple[float, int]] = []

    def bands_for(self, band_gap: float) -> list[tuple[float, int]]:
        """(price, touches) of each band, ascending: a band ends where the gap to the next price > band_gap."""
        if not self.floor <= band_gap < self.ceiling:
            ends = [i for i, gap in enumerate(self.gaps, start=1) if not gap <= band_gap]
            ends.append(len(self.prices))
            self.bands = _bands(self.prices, self.volumes, ends)
            k = bisect_right(self.sorted_gaps, band_gap)
            self.floor = self.sorted_gaps[k - 1] if k > 0 else -math.inf
            self.ceiling = self.sorted_gaps[k] if k < len(self.sorted_gaps) else math.inf
            if band_gap != band_gap:  # a NaN band gap (NaN prices) makes bands no other gap shares
                self.floor, self.ceiling = math.inf, -math.inf
        return self.bands


def _bands(prices: list[float], volumes: list[float], ends: list[int]) -> list[tuple[float, int]]:
    """Volume-weighted price (plain mean without volume) and pivot count of each band ``[start, end)``."""
    out = []
    start = 0
    for end in ends:
        band_prices, band_volumes = prices[start:end], volumes[start:end]
        vol = sum(band_volumes)
        if vol > 0:
            price = sum(map(mul, band_prices, band_volumes)) / vol
        else:
            price = sum(band_prices) / (end - start)
        out.append((price, end - start))
        start = end
    return out


def _levels(memo: PivotMemo, close: float, atr: float, cfg: VPAConfig, decimals: int
            ) -> tuple[list[Level], list[Level]]:
    """Cluster pivot prices: neighbours closer than sr_band_atr × ATR share a band (single linkage).

    Single linkage depends only on the gaps between sorted prices, so it clusters reflected prices into the
    reflected bands: the levels stay mirror-symmetric (DOMAIN §5). Sides are decided at the precision the
    record shows, so a support is below the close as printed too (a level that prints as the close is neither).
    """
    if not memo.prices or atr <= 0:
        return [], []
    below = []
    above = []
    shown_close = round(close, decimals)
    for band in memo.bands_for(cfg.sr_band_atr * atr):
        shown = round(band[0], decimals)
        if shown < shown_close:
            below.append(band)
        elif shown > shown_close:
            above.append(band)
    below.sort(key=lambda lv: close - lv[0])
    above.sort(key=lambda lv: lv[0] - close)
    keep = cfg.sr_max_levels
    return ([Level(price, touches, ratio((close - price) / atr)) for price, touches in below[:keep]],
            [Level(price, touches, ratio((price - close) / atr)) for price, touches in above[:keep]])


def _swing_structure(pivots: list[Pivot]) -> str:
    """HH/HL style label from the last two confirmed swing highs and lows, INSUFFICIENT without two of each."""
    highs: list[float] = []  # newest first
    lows: list[float] = []
    for p in reversed(pivots):
        if p.is_high:
            if len(highs) < 2:
                highs.append(p.price)
        elif len(lows) < 2:
            lows.append(p.price)
        if len(highs) == 2 and len(lows) == 2:
            break
    if len(highs) < 2 or len(lows) < 2:
        return "INSUFFICIENT"
    hi = "HH" if highs[0] > highs[1] else "LH" if highs[0] < highs[1] else "EH"
    lw = "HL" if lows[0] > lows[1] else "LL" if lows[0] < lows[1] else "EL"
    return f"{hi}_{lw}"


def _trading_range(s: Series, atr: float, cfg: VPAConfig) -> tuple[str, float, float, float]:
    """The newest bar's own range reading: (state, width in ATR, drift, net move of the leg before, in ATR).

    A range when the close moved at most ``range_drift`` of the range's width over ``range_bars`` bars and the
    width is at most ``range_max_width_atr``; ACCUMULATION when the ``range_bars`` bars before it fell by at least
    max(``range_prior_move_atr`` ATR, ``range_prior_move_width`` x width), DISTRIBUTION when they rose as much.
    """
    rb = cfg.range_bars
    n = len(s.c)
    if n < rb or atr <= 0:
        return "NONE", 0.0, 0.0, 0.0
    width = max(s.h[n - rb :]) - min(s.l[n - rb :])
    drift_abs = abs(s.c[-1] - s.c[n - rb])
    drift = ratio(drift_abs / width) if width > 0 else 0.0
    width_atr = ratio(width / atr)
    if not (drift <= cfg.range_drift and width_atr <= cfg.range_max_width_atr):
        return "NONE", width_atr, drift, 0.0
    if n < 2 * rb:
        return "NEUTRAL", width_atr, drift, 0.0
    # net move of the rb bars before the range: close of its last bar minus close of its first bar
    prior = ratio((s.c[n - rb - 1] - s.c[n - 2 * rb]) / atr)
    need = max(cfg.range_prior_move_atr, ratio(cfg.range_prior_move_width * width_atr))
    if prior <= -need:
        return "ACCUMULATION", width_atr, drift, prior
    if prior >= need:
        return "DISTRIBUTION", width_atr, drift, prior
    return "NEUTRAL", width_atr, drift, prior


def _held_range_state(raw: list[str], cfg: VPAConfig) -> tuple[str, int]:
    """The state of the newest run of ``range_hold_bars`` bars that agree, searched ``range_hold_lookback`` bars
    back, while it is still read on one of the last ``range_hold_bars`` bars (else NONE), and the position of the
    newest bar of that run (-1 when none): a state changes only once that many consecutive bars agree, ends once
    that many bars no longer read it, and stays a function of the window (DOMAIN §1, purity)."""
    hold = cfg.range_hold_bars
    n = len(raw)
    for j in range(n - 1, max(n - cfg.range_hold_lookback, hold - 1) - 1, -1):
        state = raw[j]
        k = 1
        while k < hold and raw[j - k] == state:
            k += 1
        if k == hold:
            return (state, j) if state in raw[max(0, n - hold) :] else ("NONE", -1)
    return "NONE", -1
