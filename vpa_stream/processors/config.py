"""Every threshold of the VPA rules (DOMAIN §2–§5) in one typed, frozen, documented object, and its hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields, replace
from typing import Any

#: Bump when a rule, a phrasing or the record shape changes: it travels in every example's meta.
ENGINE_VERSION = "2.0.1"

#: Pattern weights by family (DOMAIN §5): climaxes and springs/upthrusts 3, stopping volume 2.5, absorption and
#: effort 2, test and hammer 1.5, no supply/no demand 1; a trading range is context, never a trigger (0).
DEFAULT_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("CLIMAX", 3.0),
    ("SPRING", 3.0),
    ("STOPPING_VOLUME", 2.5),
    ("ABSORPTION", 2.0),
    ("EFFORT", 2.0),
    ("TEST", 1.5),
    ("HAMMER", 1.5),
    ("NO_SUPPLY", 1.0),
    ("RANGE", 0.0),
)


@dataclass(frozen=True, slots=True)
class VPAConfig:
    """Thresholds of the VPA engine. Defaults are those of DOMAIN.md; docs/rules.md explains each one.

    Ratios are ``value / mean(value over the previous N bars)``; close positions are fractions of the bar's
    range; distances are ATR multiples. No rule uses an absolute price or a percentage, which keeps the rule
    set mirror-symmetric (DOMAIN §5).
    """

    # -- warm-up and record shape
    warmup_bars: int = 50  # no example until the primary series has this many bars
    recent_candles: int = 10  # bars before t shown in the input

    # -- §2 measurements
    volume_lookback: int = 20
    spread_lookback: int = 20
    volume_very_low: float = 0.4  # ratio <= this: VERY_LOW
    volume_low: float = 0.7  # <= this: LOW
    volume_high: float = 1.3  # >= this: HIGH
    volume_very_high: float = 2.0  # >= this: VERY_HIGH
    spread_narrow: float = 0.7  # <= this: NARROW
    spread_wide: float = 1.3  # >= this: WIDE
    close_low: float = 1 / 3  # close_position < this: LOW
    close_high: float = 2 / 3  # close_position > this: HIGH
    atr_period: int = 14
    hammer_wick_min: float = 0.6
    hammer_body_max: float = 0.33
    hammer_other_wick_max: float = 0.1
    long_legged_body_max: float = 0.25
    long_legged_wick_min: float = 0.25
    doji_body_max: float = 0.1
    marubozu_body_min: float = 0.9

    # -- §3 context
    sma_fast: int = 20
    sma_slow: int = 50
    slope_lookback: int = 5
    slope_trend: float = 0.5  # |slope| in ATR to call a trend
    slope_moderate: float = 1.0
    slope_strong: float = 1.5
    volume_trend_short: int = 5
    volume_trend_long: int = 20
    volume_trend_rising: float = 1.15
    volume_trend_falling: float = 0.85
    pivot_bars: int = 3  # N bars on each side; a pivot is usable N bars after it
    sr_lookback: int = 120
    sr_band_atr: float = 0.5  # pivots closer than this many ATR to a neighbour share a level
    sr_max_levels: int = 3
    range_bars: int = 40
    range_drift: float = 0.35  # |C_t - C_{t-39}| <= drift * width
    range_max_width_atr: float = 8.0
    range_prior_move_atr: float = 5.0  # the leg before a range: net move >= max(this x ATR, ...
    range_prior_move_width: float = 0.75  # ... this x the range's width) makes it ACCUMULATION / DISTRIBUTION
    range_hold_bars: int = 5  # a range state changes only after this many consecutive bars agree
    range_hold_lookback: int = 40  # the newest run of agreeing bars is searched this far back (purity: bounded)

    # -- §4 patterns ("range position" = where the close sits in the high-low of the last range_bars bars)
    decline_lookback: int = 20  # "after a decline": trend DOWN or the net move of these bars <= -decline_atr
    decline_atr: float = 3.0
    top_third: float = 2 / 3  # "closes in its top third" (mirror: bottom third)
    stopping_lookback: int = 5
    stopping_volume_ratio: float = 1.5
    stopping_close_position: float = 0.4
    climax_volume_ratio: float = 2.0
    climax_lookback: int = 20
    climax_close_position: float = 0.4
    probe_wick_min: float = 0.3  # TEST / FAILED_TEST / stopping dip: the rejecting wick, fraction of the range
    test_spread_max: float = 1.0  # spread_ratio of a test probe
    test_volume_ratio: float = 1.0  # a test's volume_ratio is below this
    failed_test_close_low: float = 0.4  # a failed test closes mid-bar: in [low, high]
    failed_test_close_high: float = 0.6
    spring_level_touches: int = 2  # a spring pierces a level with at least this many touches ...
    spring_fallback_lookback: int = 20  # ... or the low of these bars before t
    spring_min_pierce_atr: float = 0.15
    spring_max_pierce_atr: float = 1.0
    spring_close_position: float = 2 / 3
    spring_high_lookback: int = 20  # a spring's high is not the high of these bars (t included)
    spring_range_position: float = 0.4  # close in the lower part of the range, or inside ACCUMULATION
    absorption_volume_ratio: float = 1.5
    absorption_spread_ratio: float = 0.8
    absorption_close_min: float = 0.4  # absorption closes off the bar's low (mirror: off its high)
    effort_close_position: float = 2 / 3
    effort_body_min: float = 0.5  # effort with result has a real body
    no_supply_volume_ratio: float = 1.0  # no supply / no demand is below average volume
    anomaly_body_min: float = 0.5  # result without effort: price really travelled (not a rejection wick)
    hammer_level_atr: float = 0.5  # the hammer's low is this close to a level below
    hammer_range_position: float = 0.4
    hammer_low_volume_factor: float = 0.5  # a hammer on LOW volume is reported and weighs this much
    doji_min_spread_ratio: float = 1.0  # a low-volume doji that stands aside has a real range ...
    doji_min_wick_atr: float = 0.35  # ... and wicks of at least this many ATR on both sides

    # -- §5 signal: evidence from bars t-5..t, decayed, negated, confirmed; score; veto; strength
    weights: tuple[tuple[str, float], ...] = DEFAULT_WEIGHTS
    evidence_bars: int = 6  # t-5 .. t
    decay: float = 0.6  # weight x decay^bars_ago
    htf_weight: float = 0.5  # the higher timeframe's last pattern counts at this share of its weight
    confirmed_factor: float = 1.5  # a confirmed pattern counts this many times its weight
    follow_close_position: float = 2 / 3  # a follow-through bar closes in its top third ...
    follow_body_min: float = 0.3  # ... with a real body (no doji) ...
    follow_min_volume_ratio: float = 1.0  # ... on at least average volume ...
    follow_min_spread_ratio: float = 0.7  # ... over more than a narrow spread (Williams: a sign of strength)
    test_max_volume_ratio: float = 1.0  # a low-volume test of an event is below average volume, holds its low ...
    test_max_distance_atr: float = 1.0  # ... and comes back within this many ATR of it
    low_volume_test_bars: int = 3  # a TEST / NO_SUPPLY this many bars after a spring-like event confirms it
    veto_bars: int = 3  # a live strong opposite event this recent vetoes a signal
    veto_min_weight: float = 2.5  # "strong": climax, spring/upthrust, stopping/topping-out volume
    accumulation_factor: float = 1.5  # a SPRING or TEST inside ACCUMULATION (mirror: DISTRIBUTION) weighs more
    buy_threshold: float = 2.0  # SELL uses the mirror (score <= -threshold)
    strong_min_weight: float = 2.5  # a STRONG signal's chain holds a pattern at least this heavy ...
    strong_max_bars_ago: int = 3  # ... no older than this, and confirmed by bar t itself
    strong_room_atr: float = 1.0  # ... and this much room to the nearest opposing level
    moderate_room_atr: float = 0.5
    room_min_touches: int = 2  # room is measured to the nearest proven level: one with at least this many touches
    strong_max_risk_room: float = 1.0  # STRONG: the risk to the invalidation level at most this many times the room
    moderate_max_risk_room: float = 2.0  # MODERATE: ... at most this many times (else WEAK)
    conflict_ratio: float = 0.5  # a HOLD is CONFLICT when the weaker side is at least this share of the stronger ...
    conflict_min_score: float = 1.0  # ... and the stronger side weighs at least this much

    # -- multi-timeframe
    session_tz: str = "America/New_York"
    session_close: str = "16:00"  # exchange session close (local time) that ends a day and, on Fridays, a week
    session_weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)  # Monday=0
    derive_timeframes: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("1d", ("1wk",)),
        ("1h", ("1d", "1wk")),
    )

    # -- rendering
    price_decimals: int | None = None  # None: 2 dp at or above 10, 4 dp at or above 1, else 6 dp
    back_adjusted: bool = False  # input is back-adjusted (explicit opt-in; recorded in meta)

    _weight_map: dict[str, float] = field(default_factory=dict, init=False, repr=False, compare=False)
    _hash: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_weight_map", dict(self.weights))
        checks = [
            (self.volume_very_low < self.volume_low < self.volume_high < self.volume_very_high, "volume classes"),
            (self.spread_narrow < self.spread_wide, "spread classes"),
            (0 < self.close_low < self.close_high < 1, "close classes"),
            (self.close_low + self.close_high == 1 or abs(self.close_low + self.close_high - 1) < 1e-12,
             "close classes must be symmetric around 0.5"),
            (self.warmup_bars >= 2, "warmup_bars"),
            (self.pivot_bars >= 1, "pivot_bars"),
            (self.buy_threshold > 0, "buy_threshold"),
            (0 < self.decay <= 1, "decay"),
            (self.evidence_bars >= 1, "evidence_bars"),
            (self.range_hold_bars >= 1, "range_hold_bars"),
        ]
        for ok, what in checks:
            if not ok:
                raise ValueError(f"invalid VPA config: {what}")
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        object.__setattr__(self, "_hash", hashlib.sha256(canonical.encode()).hexdigest()[:16])

    def weight(self, family: str) -> float:
        return self._weight_map.get(family, 0.0)

    @property
    def max_lookback(self) -> int:
        """Bars of history one bar's analysis reads (t included): the W of DOMAIN §1."""
        return max(
            self.sr_lookback + self.pivot_bars,
            2 * self.range_bars,
            self.sma_slow,
            self.sma_fast + self.slope_lookback,
            self.volume_lookback + 1,
            self.spread_lookback + 1,
            self.atr_period + 1,
            self.climax_lookback,
            self.spring_fallback_lookback + 1,
            self.spring_high_lookback,
            self.decline_lookback + 1,
            self.volume_trend_long,
            self.recent_candles + 1,
            # a range state needs 2 x range_bars, and the hysteresis reads the states of range_hold_lookback
            # + range_hold_bars - 1 bars before t
            2 * self.range_bars + self.range_hold_lookback + self.range_hold_bars - 2,
        )

    @property
    def window_bars(self) -> int:
        """Bars kept per series: the lookback of each bar whose patterns the evidence of bar t reads."""
        return self.max_lookback + self.evidence_bars - 1

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self) if not f.name.startswith("_")}

    @property
    def config_hash(self) -> str:
        """sha256 (16 hex) of the canonical JSON of every field: travels in each example's meta."""
        return self._hash

    def with_overrides(self, **overrides: Any) -> VPAConfig:
        return replace(self, **overrides)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value

