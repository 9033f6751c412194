"""The VPA patterns of DOMAIN §4, each written once and evaluated on both sides of a price reflection.

Every directional rule is stated for the bullish side in "mirrored coordinates": the bearish side runs the
same code on reflected prices (low' = -high, high' = -low, close' = -close, close_position' = 1 - cp,
supports' = reflected resistances). Mirror symmetry therefore holds by construction (DOMAIN §5).
"""

from __future__ import annotations

from dataclasses import dataclass

from vpa_stream.processors.config import VPAConfig
from vpa_stream.processors.engine.analysis import Analysis
from vpa_stream.processors.engine.render import ratio
from vpa_stream.processors.engine.series import Series

Details = dict[str, float | str | None]

#: pattern -> (weight family, direction). Bullish and bearish mirrors share a family and so a weight.
PATTERNS: dict[str, tuple[str, str]] = {
    "NO_SUPPLY": ("NO_SUPPLY", "BULLISH"),
    "NO_DEMAND": ("NO_SUPPLY", "BEARISH"),
    "TEST": ("TEST", "BULLISH"),
    "TEST_OF_DEMAND": ("TEST", "BEARISH"),
    "FAILED_TEST": ("FAILED_TEST", "NEUTRAL"),
    "FAILED_TEST_OF_DEMAND": ("FAILED_TEST", "NEUTRAL"),
    "STOPPING_VOLUME": ("STOPPING_VOLUME", "BULLISH"),
    "TOPPING_OUT_VOLUME": ("STOPPING_VOLUME", "BEARISH"),
    "CLIMAX_BOTTOM": ("CLIMAX", "BULLISH"),
    "CLIMAX_TOP": ("CLIMAX", "BEARISH"),
    "SPRING": ("SPRING", "BULLISH"),
    "UPTHRUST": ("SPRING", "BEARISH"),
    "EFFORT_TO_RISE": ("EFFORT", "BULLISH"),
    "EFFORT_TO_FALL": ("EFFORT", "BEARISH"),
    "ABSORPTION_BULLISH": ("ABSORPTION", "BULLISH"),
    "ABSORPTION_BEARISH": ("ABSORPTION", "BEARISH"),
    "HAMMER_AT_LOW": ("HAMMER", "BULLISH"),
    "SHOOTING_STAR_AT_HIGH": ("HAMMER", "BEARISH"),
    "ACCUMULATION": ("RANGE", "BULLISH"),
    "DISTRIBUTION": ("RANGE", "BEARISH"),
    "ANOMALY": ("ANOMALY", "NEUTRAL"),
    "LOW_VOLUME_DOJI": ("LOW_VOLUME_DOJI", "NEUTRAL"),
}

#: bullish name -> bearish mirror (neutral pairs included), and the reverse.
MIRROR: dict[str, str] = {}
for _bull, _bear in (
    ("NO_SUPPLY", "NO_DEMAND"), ("TEST", "TEST_OF_DEMAND"), ("FAILED_TEST", "FAILED_TEST_OF_DEMAND"),
    ("STOPPING_VOLUME", "TOPPING_OUT_VOLUME"), ("CLIMAX_BOTTOM", "CLIMAX_TOP"), ("SPRING", "UPTHRUST"),
    ("EFFORT_TO_RISE", "EFFORT_TO_FALL"), ("ABSORPTION_BULLISH", "ABSORPTION_BEARISH"),
    ("HAMMER_AT_LOW", "SHOOTING_STAR_AT_HIGH"), ("ACCUMULATION", "DISTRIBUTION"),
):
    MIRROR[_bull], MIRROR[_bear] = _bear, _bull
MIRROR["ANOMALY"] = "ANOMALY"
MIRROR["LOW_VOLUME_DOJI"] = "LOW_VOLUME_DOJI"

LOW_VOLUME = ("LOW", "VERY_LOW")
HIGH_VOLUME = ("HIGH", "VERY_HIGH")


@dataclass(frozen=True, slots=True)
class _Side:
    """One side of the reflection: names of its patterns and the bar seen in mirrored coordinates."""

    sign: float
    names: tuple[str, ...]  # NO_SUPPLY, TEST, FAILED_TEST, STOPPING, CLIMAX, SPRING, EFFORT, ABSORPTION, HAMMER
    with_trend: str  # the trend status this side's patterns lean against ("DOWN" for the bullish side)
    down_bar: str  # the bar direction the bullish side calls "down"
    up_bar: str
    hammer: str


BULL = _Side(1.0, ("NO_SUPPLY", "TEST", "FAILED_TEST", "STOPPING_VOLUME", "CLIMAX_BOTTOM", "SPRING",
                   "EFFORT_TO_RISE", "ABSORPTION_BULLISH", "HAMMER_AT_LOW"), "DOWN", "DOWN", "UP", "HAMMER")
BEAR = _Side(-1.0, ("NO_DEMAND", "TEST_OF_DEMAND", "FAILED_TEST_OF_DEMAND", "TOPPING_OUT_VOLUME", "CLIMAX_TOP",
                    "UPTHRUST", "EFFORT_TO_FALL", "ABSORPTION_BEARISH", "SHOOTING_STAR_AT_HIGH"),
             "UP", "UP", "DOWN", "SHOOTING_STAR")


def detect(s: Series, a: Analysis, cfg: VPAConfig, decimals: int) -> dict[str, Details]:
    """Patterns detected on the newest bar of ``s`` -> the numbers that fired each one."""
    found: dict[str, Details] = {}
    for side in (BULL, BEAR):
        _detect_side(s, a, cfg, decimals, side, found)
    if a.range_state == "ACCUMULATION":
        found["ACCUMULATION"] = _range_details(a)
    elif a.range_state == "DISTRIBUTION":
        found["DISTRIBUTION"] = _range_details(a)
    if a.spread_class == "WIDE" and a.volume_class in LOW_VOLUME:
        found["ANOMALY"] = {"spread_ratio": a.spread_ratio, "volume_ratio": a.volume_ratio}
    if a.candle_shape == "LONG_LEGGED_DOJI" and a.volume_class in LOW_VOLUME:
        found["LOW_VOLUME_DOJI"] = {"body_ratio": a.body_ratio, "volume_ratio": a.volume_ratio}
    return found


def _range_details(a: Analysis) -> Details:
    return {"range_width_atr": a.range_width_atr, "range_drift": a.range_drift,
            "prior_move_atr": a.range_prior_move_atr}


def _detect_side(s: Series, a: Analysis, cfg: VPAConfig, decimals: int, side: _Side,
                 found: dict[str, Details]) -> None:
    sign = side.sign
    t = len(s.c) - 1
    # the bar in mirrored coordinates: for the bearish side lows are reflected highs
    lows, highs = (s.l, s.h) if sign > 0 else (s.h, s.l)
    low_t = sign * lows[t]
    high_t = sign * highs[t]
    close_t = sign * s.c[t]
    cp = a.close_position if sign > 0 else ratio(1.0 - a.close_position)
    vr, spread = a.volume_ratio, a.spread_class
    down_bar = a.bar_direction == side.down_bar
    up_bar = a.bar_direction == side.up_bar
    against = a.trend_status == side.with_trend
    beyond_sma = (close_t < sign * a.sma_fast)  # below SMA20 on the bullish side
    atr = a.atr
    (n_no_supply, n_test, n_failed, n_stopping, n_climax, n_spring, n_effort, n_absorption, n_hammer) = side.names

    if down_bar and spread == "NARROW" and a.volume_vs_prior and cp >= 0.5:
        found[n_no_supply] = {"volume_ratio": vr, "spread_ratio": a.spread_ratio, "close_position": a.close_position}

    if t >= 1 and low_t < sign * lows[t - 1] and spread != "WIDE" and cp > 0.5:
        if a.volume_vs_prior and vr < cfg.test_volume_ratio:
            found[n_test] = {"volume_ratio": vr, "spread_ratio": a.spread_ratio, "close_position": a.close_position}
        elif a.volume_class in HIGH_VOLUME:
            found[n_failed] = {"volume_ratio": vr, "spread_ratio": a.spread_ratio, "close_position": a.close_position}

    if (vr >= cfg.stopping_volume_ratio and cp >= cfg.stopping_close_position and (against or beyond_sma)
            and low_t <= _extreme(lows, t, cfg.stopping_lookback, sign)):
        found[n_stopping] = {"volume_ratio": vr, "close_position": a.close_position}

    if vr >= cfg.climax_volume_ratio and spread == "WIDE" and cp >= cfg.climax_close_position:
        if low_t <= _extreme(lows, t, cfg.climax_lookback, sign):
            # an outside bar at both 20-bar extremes is a bottom only if it closes in its upper half
            both = high_t >= _extreme_high(highs, t, cfg.climax_lookback, sign)
            if not both or cp > 0.5:
                found[n_climax] = {"volume_ratio": vr, "spread_ratio": a.spread_ratio,
                                   "close_position": a.close_position}

    if atr > 0 and cp >= cfg.spring_close_position:
        # the floor must have held up to the previous bar: its nearest support as of t-1, else the prior low
        refs: list[tuple[str, float]] = []
        before = s.analyses[t - 1] if t >= 1 else None
        levels = (before.supports if sign > 0 else before.resistances) if before is not None else []
        if levels:
            refs.append(("SUPPORT" if sign > 0 else "RESISTANCE", sign * levels[0].price))
        elif t >= 1:
            lb = cfg.spring_fallback_lookback
            prior = lows[max(0, t - lb) : t]
            refs.append(("PRIOR_LOW" if sign > 0 else "PRIOR_HIGH", sign * (min(prior) if sign > 0 else max(prior))))
        for ref_name, level in refs:
            pierce = level - low_t
            if 0 < pierce <= cfg.spring_max_pierce_atr * atr and close_t > level:
                found[n_spring] = {"reference": ref_name, "level": round(sign * level, decimals),
                                   "pierce_atr": ratio(pierce / atr), "close_position": a.close_position,
                                   "volume_ratio": vr, "volume_class": a.volume_class}
                break

    if up_bar and spread == "WIDE" and a.volume_class in HIGH_VOLUME and cp >= cfg.effort_close_position:
        found[n_effort] = {"volume_ratio": vr, "spread_ratio": a.spread_ratio, "close_position": a.close_position}

    if (down_bar and vr >= cfg.absorption_volume_ratio and a.spread_ratio <= cfg.absorption_spread_ratio
            and (against or beyond_sma)):
        found[n_absorption] = {"volume_ratio": vr, "spread_ratio": a.spread_ratio}

    if a.candle_shape == side.hammer:
        levels = a.supports if sign > 0 else a.resistances
        near = None
        if atr > 0:
            for lv in levels:
                dist = abs(low_t - sign * lv.price) / atr
                if dist <= cfg.hammer_support_atr:
                    near = (lv.price, ratio(dist))
                    break
        if against or near is not None:
            wick = ("lower_wick", a.lower_wick) if sign > 0 else ("upper_wick", a.upper_wick)
            found[n_hammer] = {wick[0]: wick[1], "body_ratio": a.body_ratio, "trend": a.trend_status,
                               "level": round(near[0], decimals) if near else None,
                               "level_distance_atr": near[1] if near else None}


def _extreme(lows: list[float], t: int, lookback: int, sign: float) -> float:
    """Lowest mirrored low of the ``lookback`` bars ending at t (t included)."""
    window = lows[max(0, t - lookback + 1) : t + 1]
    return min(window) if sign > 0 else -max(window)


def _extreme_high(highs: list[float], t: int, lookback: int, sign: float) -> float:
    window = highs[max(0, t - lookback + 1) : t + 1]
    return max(window) if sign > 0 else -min(window)
