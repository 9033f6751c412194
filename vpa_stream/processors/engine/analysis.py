"""Measurements (DOMAIN §2) and context (§3) of the newest bar of a series, read only from bars closed by then.

Ratios, fractions of range and ATR multiples are rounded to the 2 dp the record shows before any class or
rule reads them, so every class and pattern can be re-derived from the numbers in the example's input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    range_state: str  # NONE (not a range), NEUTRAL, ACCUMULATION, DISTRIBUTION
    range_width_atr: float
    range_drift: float
    range_prior_move_atr: float
    #: detected patterns -> their details (the numbers that fired them); filled by patterns.detect
    patterns: dict[str, dict[str, float | str | None]] = field(default_factory=dict)


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


def analyse(s: Series, cfg: VPAConfig) -> Analysis:
    """Measure and put in context the newest bar of ``s``; reads at most ``cfg.max_lookback`` bars."""
    n = len(s.c)
    t = n - 1
    o, h, lo, c, v = s.o[t], s.h[t], s.l[t], s.c[t], s.v[t]
    rng = h - lo

    # §2 measurements: averages over the bars before t, t excluded
    vol_hist = s.v[max(0, t - cfg.volume_lookback) : t]
    vr = _ratio_to(v, _mean(vol_hist))
    spreads = [hh - ll for hh, ll in zip(s.h[max(0, t - cfg.spread_lookback) : t],
                                         s.l[max(0, t - cfg.spread_lookback) : t], strict=True)]
    sr = _ratio_to(rng, _mean(spreads))
    if rng > 0:
        body = ratio(abs(c - o) / rng)
        cp = ratio((c - lo) / rng)
        upper = ratio((h - max(o, c)) / rng)
        lower = ratio((min(o, c) - lo) / rng)
    else:
        body, cp, upper, lower = 0.0, 0.5, 0.0, 0.0
    if t > 0:
        pc = s.c[t - 1]
        direction = "UP" if c > pc else "DOWN" if c < pc else "FLAT"
    else:
        direction = "FLAT"
    color = "BULLISH" if c > o else "BEARISH" if c < o else "DOJI"
    atr = _mean(s.tr[max(0, n - cfg.atr_period) :])
    vs_prior = t >= 2 and v < s.v[t - 1] and v < s.v[t - 2]

    # §3 trend
    closes = s.c
    sma_f = _mean(closes[max(0, n - cfg.sma_fast) :])
    sma_s = _mean(closes[max(0, n - cfg.sma_slow) :])
    back = n - cfg.slope_lookback
    sma_f_prev = _mean(closes[max(0, back - cfg.sma_fast) : back]) if back > 0 else sma_f
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
    vt_ratio = _ratio_to(_mean(s.v[max(0, n - cfg.volume_trend_short) :]),
                         _mean(s.v[max(0, n - cfg.volume_trend_long) :]))
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
    oldest = s.count - cfg.sr_lookback
    recent = [p for p in s.pivots if p.index >= oldest]
    supports, resistances = _levels(recent, c, atr, cfg)
    swing = _swing_structure(recent)

    # §3 trading range
    range_state, width_atr, drift, prior_move = _trading_range(s, atr, cfg)

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
    )


def _levels(pivots: list[Pivot], close: float, atr: float, cfg: VPAConfig) -> tuple[list[Level], list[Level]]:
    """Cluster pivot prices: neighbours closer than sr_band_atr × ATR share a band (single linkage).

    Single linkage depends only on the gaps between sorted prices, so it clusters reflected prices into the
    reflected bands: the levels stay mirror-symmetric (DOMAIN §5).
    """
    if not pivots or atr <= 0:
        return [], []
    pts = sorted(pivots, key=lambda p: p.price)
    band_gap = cfg.sr_band_atr * atr
    bands: list[list[Pivot]] = [[pts[0]]]
    for p in pts[1:]:
        if p.price - bands[-1][-1].price <= band_gap:
            bands[-1].append(p)
        else:
            bands.append([p])
    below: list[Level] = []
    above: list[Level] = []
    for band in bands:
        vol = sum(p.volume for p in band)
        if vol > 0:
            price = sum(p.price * p.volume for p in band) / vol
        else:
            price = sum(p.price for p in band) / len(band)
        if price < close:
            below.append(Level(price, len(band), ratio((close - price) / atr)))
        elif price > close:
            above.append(Level(price, len(band), ratio((price - close) / atr)))
    below.sort(key=lambda lv: close - lv.price)
    above.sort(key=lambda lv: lv.price - close)
    return below[: cfg.sr_max_levels], above[: cfg.sr_max_levels]


def _swing_structure(pivots: list[Pivot]) -> str:
    """HH/HL style label from the last two confirmed swing highs and lows, INSUFFICIENT without two of each."""
    highs = [p.price for p in pivots if p.is_high][-2:]
    lows = [p.price for p in pivots if not p.is_high][-2:]
    if len(highs) < 2 or len(lows) < 2:
        return "INSUFFICIENT"
    hi = "HH" if highs[1] > highs[0] else "LH" if highs[1] < highs[0] else "EH"
    lw = "HL" if lows[1] > lows[0] else "LL" if lows[1] < lows[0] else "EL"
    return f"{hi}_{lw}"


def _trading_range(s: Series, atr: float, cfg: VPAConfig) -> tuple[str, float, float, float]:
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
    if prior <= -cfg.range_prior_move_atr:
        return "ACCUMULATION", width_atr, drift, prior
    if prior >= cfg.range_prior_move_atr:
        return "DISTRIBUTION", width_atr, drift, prior
    return "NEUTRAL", width_atr, drift, prior

