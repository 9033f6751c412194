"""The pattern catalogue of DOMAIN §4 (rules v2): every pattern defined once, with its mirror, weight family,
direction, rule, words and doctrinal source, read by the engine, the signal, the record, the prose and the docs.

Every directional rule is written for the bullish side on a ``Bar`` view in "mirrored coordinates": the bearish
side runs the same function on reflected prices (low' = -high, close' = -close, close_position' = 1 - cp,
supports' = reflected resistances, DOWN trend' = UP trend). Mirror symmetry therefore holds by construction
(DOMAIN §5); the words of each side are written separately, so a mirror never inverts a VSA meaning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vpa_stream.processors.config import VPAConfig
from vpa_stream.processors.engine.analysis import Analysis
from vpa_stream.processors.engine.render import ratio
from vpa_stream.processors.engine.series import Series

Details = dict[str, float | str | None]

LOW_VOLUME = ("LOW", "VERY_LOW")
HIGH_VOLUME = ("HIGH", "VERY_HIGH")


@dataclass(frozen=True, slots=True)
class Words:
    """How the prose names a pattern: ``phrase`` takes its article ("a spring", "stopping volume"), ``bare`` fits
    after a possessive ("yesterday's spring"), ``gloss`` says what it means in VSA terms, for this side."""

    phrase: str
    bare: str
    plural: str
    gloss: str


@dataclass(frozen=True, slots=True)
class Pattern:
    """One pattern of the catalogue."""

    name: str
    mirror: str
    family: str  # the weight family of VPAConfig.weights
    direction: str  # BULLISH | BEARISH | NEUTRAL
    words: Words
    source: str  # the doctrine the rule follows (docs/rules.md cites it)
    confirmed_by_low_volume_test: bool = False  # a spring-like event a later low-volume test confirms (§5)
    low_volume_test: bool = False  # a TEST / NO_SUPPLY that can be that low-volume test
    boosted_in_range: bool = False  # weighs accumulation_factor more inside ACCUMULATION (DISTRIBUTION)


@dataclass(slots=True)
class View:
    """The newest bar of a series and its context, seen by one side of the reflection (``sign`` +1 bullish,
    -1 bearish). Prices are multiplied by ``sign``, so "low" is the reflected high on the bearish side."""

    sign: float
    s: Series
    a: Analysis
    before: Analysis | None  # the analysis of bar t-1 (its levels held until then)
    t: int
    low: float
    high: float
    close: float
    prev_low: float
    cp: float  # close position in mirrored coordinates, at the record's 2 dp
    wick: float  # the wick on the side a probe rejects: lower wick bullish, upper wick bearish
    down_bar: bool  # a bar against this side (DOWN bullish); its mirror, up_bar, is a bar with it
    up_bar: bool
    against_trend: bool  # the trend this side's reversal patterns lean against (DOWN for the bullish side)
    beyond_sma: bool  # close below SMA20 on the bullish side
    after_decline: bool  # trend DOWN or the recent move <= -decline_atr (mirror: after an advance)
    range_position: float  # mirrored: 0 at the range's low for the bullish side
    in_range: bool  # held state ACCUMULATION for the bullish side, DISTRIBUTION for the bearish

    def lowest(self, lookback: int, include_t: bool = True) -> float:
        """Lowest mirrored low of the ``lookback`` bars ending at t (or at t-1)."""
        end = self.t + 1 if include_t else self.t
        window = (self.s.l if self.sign > 0 else self.s.h)[max(0, end - lookback) : end]
        return min(window) if self.sign > 0 else -max(window)

    def highest(self, lookback: int, include_t: bool = True) -> float:
        end = self.t + 1 if include_t else self.t
        window = (self.s.h if self.sign > 0 else self.s.l)[max(0, end - lookback) : end]
        return max(window) if self.sign > 0 else -min(window)

    def levels(self, analysis: Analysis | None) -> list[tuple[float, int]]:
        """(mirrored price, touches) of the levels on this side's floor: supports bullish, resistances bearish."""
        if analysis is None:
            return []
        levels = analysis.supports if self.sign > 0 else analysis.resistances
        return [(self.sign * lv.price, lv.touches) for lv in levels]

    def shown(self, mirrored_price: float, decimals: int) -> float:
        return round(self.sign * mirrored_price, decimals)


Rule = Callable[[View, VPAConfig, int], Details | None]


def _view(s: Series, a: Analysis, cfg: VPAConfig, sign: float) -> View:
    t = len(s.c) - 1
    lows, highs = (s.l, s.h) if sign > 0 else (s.h, s.l)
    bull = sign > 0
    cp = a.close_position if bull else ratio(1.0 - a.close_position)
    against = "DOWN" if bull else "UP"
    return View(
        sign=sign, s=s, a=a, before=s.analyses[t - 1] if t >= 1 else None, t=t,
        low=sign * lows[t], high=sign * highs[t], close=sign * s.c[t],
        prev_low=sign * lows[t - 1] if t >= 1 else sign * lows[t],
        cp=cp, wick=a.lower_wick if bull else a.upper_wick,
        down_bar=a.bar_direction == against, up_bar=a.bar_direction == ("UP" if bull else "DOWN"),
        against_trend=a.trend_status == against,
        beyond_sma=sign * s.c[t] < sign * a.sma_fast,
        after_decline=a.trend_status == against or sign * a.recent_move_atr <= -cfg.decline_atr,
        range_position=a.range_position if bull else ratio(1.0 - a.range_position),
        in_range=a.range_state == ("ACCUMULATION" if bull else "DISTRIBUTION"),
    )


# -- the rules, bullish side -------------------------------------------------------------------------------

def _no_supply(v: View, cfg: VPAConfig, decimals: int) -> Details | None:
    a = v.a
    if (v.down_bar and a.spread_class == "NARROW" and a.volume_vs_prior and a.volume_ratio < cfg.no_supply_volume_ratio
            and v.cp > 0.5):
        return {"volume_ratio": a.volume_ratio, "spread_ratio": a.spread_ratio, "close_position": a.close_position}
    return None


def _probe(v: View, cfg: VPAConfig) -> bool:
    """A probe into lower prices that is rejected: a lower low, a real lower wick, no more than an average spread."""
    return (v.t >= 1 and v.low < v.prev_low and v.wick >= cfg.probe_wick_min
            and v.a.spread_ratio <= cfg.test_spread_max)


def _probe_details(v: View) -> Details:
    a = v.a
    wick = ("lower_wick", a.lower_wick) if v.sign > 0 else ("upper_wick", a.upper_wick)
    return {"volume_ratio": a.volume_ratio, "spread_ratio": a.spread_ratio, wick[0]: wick[1],
            "close_position": a.close_position}


def _test(v: View, cfg: VPAConfig, decimals: int) -> Details | None:
    a = v.a
    if _probe(v, cfg) and a.volume_vs_prior and a.volume_ratio < cfg.test_volume_ratio and v.cp > 0.5:
        return _probe_details(v)
    return None


def _failed_test(v: View, cfg: VPAConfig, decimals: int) -> Details | None:
    if (_probe(v, cfg) and v.a.volume_class in HIGH_VOLUME
            and cfg.failed_test_close_low <= v.cp <= cfg.failed_test_close_high):
        return _probe_details(v)
    return None


def _stopping_volume(v: View, cfg: VPAConfig, decimals: int) -> Details | None:
    a = v.a
    if not (v.against_trend or v.beyond_sma) or v.sign * a.recent_move_atr > 0:
        return None  # stopping volume stops a decline: none after a net rise
    bull = v.sign > 0
    if (v.low <= v.lowest(cfg.stopping_lookback) and a.volume_ratio >= cfg.stopping_volume_ratio
            and v.cp >= cfg.stopping_close_position):
        form = "NEW_LOW" if bull else "NEW_HIGH"
    elif (v.t >= 1 and v.low < v.prev_low and v.wick >= cfg.probe_wick_min and a.volume_class in HIGH_VOLUME
          and v.cp >= cfg.top_third):
        form = "DIP" if bull else "PUSH"  # a high-volume dip closing in its top third: buyers won, not a failed test
    else:
        return None
    return {"form": form, "volume_ratio": a.volume_ratio, "close_position": a.close_position}


def _climax(v: View, cfg: VPAConfig, decimals: int) -> Details | None:
    a = v.a
    lb = cfg.climax_lookback
    if not (a.volume_ratio >= cfg.climax_volume_ratio and a.spread_class == "WIDE"
            and v.cp >= cfg.climax_close_position and v.after_decline and v.low <= v.lowest(lb)):
        return None
    if v.high >= v.highest(lb) and not v.cp > 0.5:
        return None  # an outside bar at both 20-bar extremes is a bottom only when it closes in its upper half
    return {"volume_ratio": a.volume_ratio, "spread_ratio": a.spread_ratio, "close_position": a.close_position,
            "recent_move_atr": a.recent_move_atr}


def _spring(v: View, cfg: VPAConfig, decimals: int) -> Details | None:
    a = v.a
    atr = a.atr
    if atr <= 0 or v.t < 1 or v.cp < cfg.spring_close_position:
        return None
    if v.high >= v.highest(cfg.spring_high_lookback - 1, include_t=False):
        return None  # a bar making a new 20-bar high is no spring
    if not (v.range_position <= cfg.spring_range_position or v.in_range):
        return None
    # the floor held up to the previous bar: a level of t-1 with enough touches, else the prior 20-bar low
    refs = [("SUPPORT" if v.sign > 0 else "RESISTANCE", price) for price, touches in v.levels(v.before)
            if touches >= cfg.spring_level_touches]
    refs.append(("PRIOR_LOW" if v.sign > 0 else "PRIOR_HIGH", v.lowest(cfg.spring_fallback_lookback, False)))
    for reference, level in refs:
        pierce = ratio((level - v.low) / atr)
        if cfg.spring_min_pierce_atr <= pierce <= cfg.spring_max_pierce_atr and v.close > level:
            return {"reference": reference, "level": v.shown(level, decimals), "pierce_atr": pierce,
                    "close_position": a.close_position, "volume_ratio": a.volume_ratio,
                    "volume_class": a.volume_class, "range_position": a.range_position}
    return None


def _effort(v: View, cfg: VPAConfig, decimals: int) -> Details | None:
    a = v.a
    if (v.up_bar and a.spread_class == "WIDE" and a.volume_class in HIGH_VOLUME and v.cp >= cfg.effort_close_position
            and a.body_ratio >= cfg.effort_body_min):
        return {"volume_ratio": a.volume_ratio, "spread_ratio": a.spread_ratio, "close_position": a.close_position}
    return None


def _absorption(v: View, cfg: VPAConfig, decimals: int) -> Details | None:
    a = v.a
    if not (a.volume_ratio >= cfg.absorption_volume_ratio and a.spread_ratio <= cfg.absorption_spread_ratio
            and v.down_bar and v.cp >= cfg.absorption_close_min):
        return None  # a heavy narrow down bar closing on its low is supply winning, not being absorbed
    if v.against_trend or v.beyond_sma or v.cp >= cfg.top_third:
        return {"volume_ratio": a.volume_ratio, "spread_ratio": a.spread_ratio, "close_position": a.close_position}
    return None


def _hammer(v: View, cfg: VPAConfig, decimals: int) -> Details | None:
    a = v.a
    atr = a.atr
    if a.candle_shape != ("HAMMER" if v.sign > 0 else "SHOOTING_STAR") or atr <= 0 or v.t < 1:
        return None
    if not (v.after_decline and v.range_position <= cfg.hammer_range_position):
        return None
    refs = [price for price, _ in v.levels(a)]
    refs.append(v.lowest(cfg.spring_fallback_lookback, False))
    near = None
    for level in refs:
        distance = ratio(abs(v.low - level) / atr)
        if distance <= cfg.hammer_level_atr:
            near = (level, distance)
            break
    if near is None:
        return None
    wick = ("lower_wick", a.lower_wick) if v.sign > 0 else ("upper_wick", a.upper_wick)
    return {wick[0]: wick[1], "body_ratio": a.body_ratio, "level": v.shown(near[0], decimals),
            "level_distance_atr": near[1], "range_position": a.range_position, "volume_class": a.volume_class}


#: the directional rules, each run for both sides: (bullish name, rule)
RULES: tuple[tuple[str, Rule], ...] = (
    ("NO_SUPPLY", _no_supply),
    ("TEST", _test),
    ("FAILED_TEST", _failed_test),
    ("STOPPING_VOLUME", _stopping_volume),
    ("CLIMAX_BOTTOM", _climax),
    ("SPRING", _spring),
    ("EFFORT_TO_RISE", _effort),
    ("ABSORPTION_BULLISH", _absorption),
    ("HAMMER_AT_LOW", _hammer),
)


# -- the catalogue ------------------------------------------------------------------------------------------

def _pair(bull: str, bear: str, family: str, direction: tuple[str, str], words: tuple[Words, Words], source: str,
          **flags: bool) -> tuple[Pattern, Pattern]:
    return (Pattern(bull, bear, family, direction[0], words[0], source, **flags),
            Pattern(bear, bull, family, direction[1], words[1], source, **flags))


_DIRECTIONAL = ("BULLISH", "BEARISH")
_NEUTRAL = ("NEUTRAL", "NEUTRAL")

CATALOGUE: dict[str, Pattern] = {p.name: p for pair in (
    _pair("NO_SUPPLY", "NO_DEMAND", "NO_SUPPLY", _DIRECTIONAL, (
        Words("a no-supply bar", "no-supply bar", "no-supply bars",
              "sellers stood back, since the down bar was narrow and its volume below the two bars before"),
        Words("a no-demand bar", "no-demand bar", "no-demand bars",
              "buyers stood back, since the up bar was narrow and its volume below the two bars before")),
        "Williams, Master the Markets (no supply / no demand); Coulling, A Complete Guide to VPA ch. 7",
        low_volume_test=True),
    _pair("TEST", "TEST_OF_DEMAND", "TEST", _DIRECTIONAL, (
        Words("a test", "test", "tests",
              "a dip into lower prices on light volume was rejected, so little supply is left there"),
        Words("a test of demand", "test of demand", "tests of demand",
              "a push into higher prices on light volume was rejected, so little demand is left there")),
        "Williams, Master the Markets (testing); Wyckoff secondary test (Pruden, The Three Skills of Top Trading)",
        low_volume_test=True, boosted_in_range=True),
    _pair("FAILED_TEST", "FAILED_TEST_OF_DEMAND", "FAILED_TEST", _NEUTRAL, (
        Words("a failed test", "failed test", "failed tests",
              "a dip on heavy volume closed mid-bar, so supply is still present"),
        Words("a failed test of demand", "failed test of demand", "failed tests of demand",
              "a push on heavy volume closed mid-bar, so demand is still present")),
        "Williams, Master the Markets (a test on high volume is a failed test)"),
    _pair("STOPPING_VOLUME", "TOPPING_OUT_VOLUME", "STOPPING_VOLUME", _DIRECTIONAL, (
        Words("stopping volume", "stopping volume", "stopping-volume bars",
              "heavy volume met the low and the close came off it, so buyers are absorbing the selling"),
        Words("topping-out volume", "topping-out volume", "topping-out bars",
              "heavy volume met the high and the close came off it, so sellers are meeting the buying")),
        "Williams, Master the Markets (stopping volume, topping out volume); Coulling ch. 7",
        confirmed_by_low_volume_test=True),
    _pair("CLIMAX_BOTTOM", "CLIMAX_TOP", "CLIMAX", _DIRECTIONAL, (
        Words("a selling climax", "selling climax", "selling climaxes",
              "a wide bar on exceptional volume at the low after a decline marks capitulation that strong hands "
              "absorb"),
        Words("a buying climax", "buying climax", "buying climaxes",
              "a wide bar on exceptional volume at the high after an advance marks a buying frenzy that strong "
              "hands sell into")),
        "Wyckoff selling / buying climax (Pruden); Coulling ch. 7 (the codes avoid Coulling's reversed naming)",
        confirmed_by_low_volume_test=True),
    _pair("SPRING", "UPTHRUST", "SPRING", _DIRECTIONAL, (
        Words("a spring", "spring", "springs",
              "price broke below a floor and closed back above it, so the break found no follow-through"),
        Words("an upthrust", "upthrust", "upthrusts",
              "price broke above a ceiling and closed back below it, so the break found no follow-through")),
        "Wyckoff spring / upthrust (Pruden ch. 5; Weis, Trades About to Happen); Williams (upthrust)",
        confirmed_by_low_volume_test=True, boosted_in_range=True),
    _pair("EFFORT_TO_RISE", "EFFORT_TO_FALL", "EFFORT", _DIRECTIONAL, (
        Words("effort to rise", "effort to rise", "efforts to rise",
              "heavy volume drove a wide up bar that closed near its high, effort with result"),
        Words("effort to fall", "effort to fall", "efforts to fall",
              "heavy volume drove a wide down bar that closed near its low, effort with result")),
        "Wyckoff law of effort versus result; Williams, Master the Markets (effort to rise / fall)"),
    _pair("ABSORPTION_BULLISH", "ABSORPTION_BEARISH", "ABSORPTION", _DIRECTIONAL, (
        Words("bullish absorption", "bullish absorption", "bullish absorption bars",
              "heavy volume on a narrow down bar shows the selling being absorbed by buyers"),
        Words("bearish absorption", "bearish absorption", "bearish absorption bars",
              "heavy volume on a narrow up bar shows the buying being met by supply")),
        "Wyckoff effort versus result; Coulling ch. 4 (high volume, narrow spread: the market is absorbing)"),
    _pair("HAMMER_AT_LOW", "SHOOTING_STAR_AT_HIGH", "HAMMER", _DIRECTIONAL, (
        Words("a hammer at the low", "hammer at the low", "hammers at the low",
              "a long lower wick at a floor after a decline shows lower prices rejected"),
        Words("a shooting star at the high", "shooting star at the high", "shooting stars at the high",
              "a long upper wick at a ceiling after an advance shows higher prices rejected")),
        "Coulling ch. 6 (the hammer and shooting star, read with volume and location)"),
    _pair("ACCUMULATION", "DISTRIBUTION", "RANGE", _DIRECTIONAL, (
        Words("accumulation", "accumulation range", "accumulation ranges",
              "a trading range after a decline suggests strong hands may be buying"),
        Words("distribution", "distribution range", "distribution ranges",
              "a trading range after an advance suggests strong hands may be selling")),
        "Wyckoff accumulation / distribution (Pruden ch. 4)"),
) for p in pair}
CATALOGUE["ANOMALY"] = Pattern(
    "ANOMALY", "ANOMALY", "ANOMALY", "NEUTRAL",
    Words("an anomaly", "anomaly", "anomalies",
          "a wide spread on light volume is result without effort, so the move is suspect"),
    "Wyckoff law of effort versus result; Coulling ch. 4 (anomalies)")
CATALOGUE["LOW_VOLUME_DOJI"] = Pattern(
    "LOW_VOLUME_DOJI", "LOW_VOLUME_DOJI", "LOW_VOLUME_DOJI", "NEUTRAL",
    Words("a low-volume long-legged doji", "low-volume long-legged doji", "low-volume long-legged dojis",
          "a long-legged doji on light volume shows indecision without participation"),
    "Coulling ch. 6 (the long-legged doji on low volume)")

#: name -> mirror, for the tests and the record
MIRROR: dict[str, str] = {name: p.mirror for name, p in CATALOGUE.items()}

#: pattern -> (weight family, direction): the v1 shape, kept for readers of it
PATTERNS: dict[str, tuple[str, str]] = {name: (p.family, p.direction) for name, p in CATALOGUE.items()}

#: a failed test is read instead of these: the close mid-bar did not show the buyers (sellers) winning
FAILED_TEST_OVERRULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("FAILED_TEST", ("STOPPING_VOLUME", "ABSORPTION_BULLISH")),
    ("FAILED_TEST_OF_DEMAND", ("TOPPING_OUT_VOLUME", "ABSORPTION_BEARISH")),
)

#: patterns that never fire on the same bar (the tests check it on real data)
EXCLUSIVE: tuple[tuple[str, str], ...] = (
    ("ACCUMULATION", "DISTRIBUTION"), ("CLIMAX_BOTTOM", "CLIMAX_TOP"), ("SPRING", "UPTHRUST"),
    ("TEST", "FAILED_TEST"), ("TEST_OF_DEMAND", "FAILED_TEST_OF_DEMAND"),
    ("FAILED_TEST", "STOPPING_VOLUME"), ("FAILED_TEST_OF_DEMAND", "TOPPING_OUT_VOLUME"),
    ("FAILED_TEST", "ABSORPTION_BULLISH"), ("FAILED_TEST_OF_DEMAND", "ABSORPTION_BEARISH"),
    ("STOPPING_VOLUME", "TOPPING_OUT_VOLUME"), ("NO_SUPPLY", "NO_DEMAND"), ("EFFORT_TO_RISE", "EFFORT_TO_FALL"),
    ("ABSORPTION_BULLISH", "ABSORPTION_BEARISH"), ("HAMMER_AT_LOW", "SHOOTING_STAR_AT_HIGH"),
)


def detect(s: Series, a: Analysis, cfg: VPAConfig, decimals: int) -> dict[str, Details]:
    """Patterns detected on the newest bar of ``s`` -> the numbers that fired each one, in catalogue order."""
    fired: dict[str, Details] = {}
    for sign in (1.0, -1.0):
        v = _view(s, a, cfg, sign)
        for bull_name, rule in RULES:
            details = rule(v, cfg, decimals)
            if details is not None:
                fired[bull_name if sign > 0 else CATALOGUE[bull_name].mirror] = details
    for failed, overruled in FAILED_TEST_OVERRULES:
        if failed in fired:
            for name in overruled:  # a probe on heavy volume closing mid-bar: supply (demand) is still present
                fired.pop(name, None)
    if a.range_state in ("ACCUMULATION", "DISTRIBUTION"):
        fired[a.range_state] = {"range_width_atr": a.range_width_atr, "range_drift": a.range_drift,
                                "prior_move_atr": a.range_prior_move_atr}
    if a.spread_class == "WIDE" and a.volume_class in LOW_VOLUME and a.body_ratio >= cfg.anomaly_body_min:
        fired["ANOMALY"] = {"spread_ratio": a.spread_ratio, "volume_ratio": a.volume_ratio}
    if (a.candle_shape == "LONG_LEGGED_DOJI" and a.volume_class in LOW_VOLUME
            and a.spread_ratio >= cfg.doji_min_spread_ratio):
        t = len(s.c) - 1
        rng = s.h[t] - s.l[t]
        if a.atr > 0:
            upper = ratio(a.upper_wick * rng / a.atr)
            lower = ratio(a.lower_wick * rng / a.atr)
            if upper >= cfg.doji_min_wick_atr and lower >= cfg.doji_min_wick_atr:
                fired["LOW_VOLUME_DOJI"] = {"body_ratio": a.body_ratio, "volume_ratio": a.volume_ratio,
                                            "spread_ratio": a.spread_ratio, "upper_wick_atr": upper,
                                            "lower_wick_atr": lower}
    return {name: fired[name] for name in CATALOGUE if name in fired}
