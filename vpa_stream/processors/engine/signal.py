"""The signal of DOMAIN §5 (rules v2): read from the bar sequence t-5 .. t and its location, not from one bar.

1. Evidence: every directional pattern of bars t-5 .. t, both directions, weight x decay^bars_ago, plus the higher
   timeframe's last pattern at ``htf_weight`` of its weight (decayed by its age; dropped when it echoes a daily
   pattern of its own period). Several patterns on one bar count once per side, with the heaviest share.
2. Negation: a bullish pattern is VOID once a later bar closed below its bar's low, once a later bar followed
   through the other way, or, for a spring, stopping volume or climax, once a later low took its low out.
3. Follow-through: a later bar closing above the pattern bar's close, in its top third, with a real body, on average
   or more and rising volume over a non-narrow spread CONFIRMS it (1.5 x its share); so does the low-volume test of a
   spring, stopping volume or climax: a TEST / NO_SUPPLY soon after, below average volume and less than the event's,
   holding the event's low within one ATR of it.
4. Score = sum of the shares (bullish +, bearish -). BUY at or above ``buy_threshold``, SELL at or below its
   negative; a live strong opposite event within ``veto_bars`` turns the signal into HOLD (CONFLICT) unless the
   signal holds a confirmed pattern at least as heavy, which caps it at WEAK.
5. Strength: STRONG on the bar that confirms a heavy pattern (``strong_min_weight``, within ``strong_max_bars_ago``),
   with ``strong_room_atr`` of room to the nearest proven opposing level (``room_min_touches``) and a higher
   timeframe that does not trend against it; MODERATE when confirmed or with a trend, with ``moderate_room_atr`` of
   room; else WEAK. A range against the signal (DISTRIBUTION for a BUY, unless the BUY holds a confirmed SPRING)
   or an overruled veto caps it at WEAK.
Every comparison of prices is made at the precision the record shows, so each state can be re-derived from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from vpa_stream.processors.config import VPAConfig
from vpa_stream.processors.engine.patterns import CATALOGUE, Details

LIVE, VOID, CONFIRMED = "LIVE", "VOID", "CONFIRMED"
#: why a pattern's state changed, and by which later bar (``Evidence.changed_by``)
FOLLOW_THROUGH, LOW_VOLUME_TEST = "FOLLOW_THROUGH", "LOW_VOLUME_TEST"
CLOSE_BEYOND, FOLLOW_THROUGH_AGAINST, EXTREME_TAKEN_OUT = "CLOSE_BEYOND", "FOLLOW_THROUGH_AGAINST", "EXTREME_TAKEN_OUT"
_SIGN = {"BULLISH": 1, "BEARISH": -1}


@dataclass(frozen=True, slots=True)
class BarFacts:
    """What the signal reads of one bar of the evidence window (prices at display precision)."""

    bars_ago: int
    close: float
    low: float
    high: float
    volume: float
    prev_volume: float  # the volume of the bar before it
    close_position: float
    body_ratio: float
    volume_ratio: float
    spread_ratio: float
    atr: float
    patterns: dict[str, Details]
    range_state: str

    def low_for(self, sign: int) -> float:
        """The bar's low in mirrored coordinates: its low for the bullish side, minus its high for the bearish."""
        return self.low if sign > 0 else -self.high


@dataclass(frozen=True, slots=True)
class HigherContext:
    """The nearest higher timeframe: its trend, and the last closed bar's heaviest pattern with that bar's extremes."""

    timeframe: str
    trend: str
    pattern: str | None
    low: float
    high: float
    bars_since: int  # primary bars closed after it, up to t
    later_closes: tuple[float, ...]  # their closes, at display precision, oldest first
    period_bars_ago: tuple[int, ...]  # bars_ago of the primary bars inside its period (the same market events)


@dataclass(frozen=True, slots=True)
class Location:
    """Where bar t stands, as the record shows it: its close and ATR, and the ATR to the nearest proven levels."""

    close: float
    atr: float
    room_up: float | None  # ATR to the nearest resistance (None when there is none)
    room_down: float | None


@dataclass(frozen=True, slots=True)
class Evidence:
    pattern: str
    bars_ago: int
    direction: int  # +1 bullish, -1 bearish
    weight: float  # the pattern's weight with its modifiers (low-volume hammer, spring in a range, higher timeframe)
    state: str  # LIVE | VOID | CONFIRMED
    level: float  # the pattern bar's low (bullish) or high (bearish): what voids it, and the invalidation level
    timeframe: str
    contribution: float  # signed share of the score (0 when void, or when a heavier pattern of its bar counts)
    changed_by: int | None = None  # bars_ago of the bar that voided it (the first) or confirmed it (the latest)
    cause: str | None = None  # FOLLOW_THROUGH | LOW_VOLUME_TEST | CLOSE_BEYOND | FOLLOW_THROUGH_AGAINST | ...

    def to_record(self) -> dict[str, object]:
        return {"pattern": self.pattern, "bars_ago": self.bars_ago,
                "direction": "BULLISH" if self.direction > 0 else "BEARISH", "weight": self.weight,
                "state": self.state, "level": self.level, "timeframe": self.timeframe,
                "changed_by": self.changed_by, "cause": self.cause}


@dataclass(frozen=True, slots=True)
class Signal:
    type: str  # BUY | SELL | HOLD
    strength: str  # STRONG | MODERATE | WEAK
    reason: str  # CONFIRMED | UNCONFIRMED | CONFLICT | STAND_ASIDE | LEAN | NO_EDGE
    score: float
    evidence: tuple[Evidence, ...]


def follows(p_close: float, j: BarFacts, sign: int, cfg: VPAConfig) -> bool:
    """Bar j is a follow-through in direction ``sign`` of a pattern whose bar closed at ``p_close``: a sign of strength
    (weakness) that closes beyond it, in its top third, with a real body, on at least average and rising volume
    over more than a narrow spread (Williams)."""
    cp = j.close_position if sign > 0 else round(1.0 - j.close_position, 2)
    return (sign * j.close > sign * p_close and cp >= cfg.follow_close_position and j.body_ratio >= cfg.follow_body_min
            and j.volume > j.prev_volume and j.volume_ratio >= cfg.follow_min_volume_ratio
            and j.spread_ratio > cfg.follow_min_spread_ratio)


def low_volume_test(p: BarFacts, j: BarFacts, sign: int, cfg: VPAConfig) -> bool:
    """Bar j is the low-volume test of an event on bar p: a TEST or NO_SUPPLY of the same side soon after, below
    average volume and less than the event's, that holds the event's low and comes back within one ATR of it
    (Pruden: the secondary test revisits the climax on diminished volume)."""
    if p.bars_ago - j.bars_ago > cfg.low_volume_test_bars or not j.volume < p.volume:
        return False
    if j.volume_ratio >= cfg.test_max_volume_ratio or j.low_for(sign) < p.low_for(sign):
        return False
    if j.low_for(sign) - p.low_for(sign) > cfg.test_max_distance_atr * p.atr:
        return False
    return any(CATALOGUE[name].low_volume_test and _SIGN.get(CATALOGUE[name].direction) == sign for name in j.patterns)


def _weight(name: str, details: Details, range_state: str, cfg: VPAConfig) -> float:
    spec = CATALOGUE[name]
    w = cfg.weight(spec.family)
    if spec.family == "HAMMER" and details.get("volume_class") in ("LOW", "VERY_LOW"):
        w *= cfg.hammer_low_volume_factor
    if spec.boosted_in_range and range_state == ("ACCUMULATION" if spec.direction == "BULLISH" else "DISTRIBUTION"):
        w *= cfg.accumulation_factor
    return round(w, 2)


def _state(p: BarFacts, later: list[BarFacts], sign: int, event: bool, cfg: VPAConfig
           ) -> tuple[str, int | None, str | None]:
    """(state, changed_by, cause) of a pattern of side ``sign`` on bar p, given the bars after it (oldest first)."""
    level = p.low if sign > 0 else p.high
    for j in later:  # the first bar that voids it
        if sign * j.close < sign * level:
            return VOID, j.bars_ago, CLOSE_BEYOND
        if event and j.low_for(sign) < p.low_for(sign):
            return VOID, j.bars_ago, EXTREME_TAKEN_OUT  # a new low: the old event is superseded, the new one tested
        if follows(p.close, j, -sign, cfg):
            return VOID, j.bars_ago, FOLLOW_THROUGH_AGAINST
    for j in reversed(later):  # the latest bar that confirms it
        if follows(p.close, j, sign, cfg):
            return CONFIRMED, j.bars_ago, FOLLOW_THROUGH
        if event and low_volume_test(p, j, sign, cfg):
            return CONFIRMED, j.bars_ago, LOW_VOLUME_TEST
    return LIVE, None, None


def gather(bars: list[BarFacts], htf: HigherContext | None, timeframe: str, cfg: VPAConfig) -> list[Evidence]:
    """The evidence of the window ``bars`` (oldest first, the last is t), then the higher timeframe's pattern."""
    out: list[Evidence] = []
    for i, p in enumerate(bars):
        later = bars[i + 1 :]
        shares: list[Evidence] = []
        for name, details in p.patterns.items():
            spec = CATALOGUE[name]
            sign = _SIGN.get(spec.direction, 0)
            weight = _weight(name, details, p.range_state, cfg) if sign else 0.0
            if weight <= 0:
                continue  # neutral patterns and ranges are context, never evidence
            state, changed_by, cause = _state(p, later, sign, spec.confirmed_by_low_volume_test, cfg)
            contribution = 0.0
            if state != VOID:
                contribution = sign * weight * cfg.decay ** p.bars_ago
                if state == CONFIRMED:
                    contribution *= cfg.confirmed_factor
            shares.append(Evidence(name, p.bars_ago, sign, weight, state, p.low if sign > 0 else p.high, timeframe,
                                   contribution, changed_by, cause))
        out.extend(_once_per_side(shares))
    if htf is not None and htf.pattern is not None:
        spec = CATALOGUE[htf.pattern]
        sign = _SIGN.get(spec.direction, 0)
        weight = round(cfg.weight(spec.family) * cfg.htf_weight, 2) if sign else 0.0
        echo = any(e.direction == sign and e.bars_ago in htf.period_bars_ago for e in out)
        if weight > 0 and not echo:  # an echo is the daily event the week is made of: counted once, daily
            level = htf.low if sign > 0 else htf.high
            voided = [k for k, c in enumerate(htf.later_closes) if sign * c < sign * level]
            if voided:
                out.append(Evidence(htf.pattern, htf.bars_since, sign, weight, VOID, level, htf.timeframe, 0.0,
                                    htf.bars_since - 1 - voided[0], CLOSE_BEYOND))
            else:
                out.append(Evidence(htf.pattern, htf.bars_since, sign, weight, LIVE, level, htf.timeframe,
                                    sign * weight * cfg.decay ** htf.bars_since))
    return out


def _once_per_side(shares: list[Evidence]) -> list[Evidence]:
    """One bar's evidence with only its heaviest share counted for each side (the others listed, at 0)."""
    best: dict[int, Evidence] = {}
    for e in shares:
        top = best.get(e.direction)
        if top is None or abs(e.contribution) > abs(top.contribution):
            best[e.direction] = e
    return [e if best.get(e.direction) is e else Evidence(e.pattern, e.bars_ago, e.direction, e.weight, e.state,
                                                          e.level, e.timeframe, 0.0, e.changed_by, e.cause)
            for e in shares]


def decide(bars: list[BarFacts], htf: HigherContext | None, primary_trend: str, where: Location,
           doji_stand_aside: bool, anomaly: bool, timeframe: str, cfg: VPAConfig) -> Signal:
    """The signal of bar t = ``bars[-1]``.

    ``doji_stand_aside``: a LOW_VOLUME_DOJI at t (it does not stand aside when t is the low-volume test of an event);
    ``anomaly``: an ANOMALY (result without effort) at t.
    """
    evidence = gather(bars, htf, timeframe, cfg)
    if doji_stand_aside and any(e.changed_by == 0 and e.cause == LOW_VOLUME_TEST for e in evidence):
        doji_stand_aside = False  # the doji is the low-volume test of a spring-like event: a buy setup, not noise
    bull = sum([e.contribution for e in evidence if e.contribution > 0])
    bear = -sum([e.contribution for e in evidence if e.contribution < 0])
    score = round(sum([e.contribution for e in evidence]), 2)
    ev = tuple(evidence)
    threshold = cfg.buy_threshold
    if doji_stand_aside:
        return Signal("HOLD", "STRONG", "STAND_ASIDE", score, ev)
    if score >= threshold or score <= -threshold:
        want = 1 if score > 0 else -1
        own_confirmed = [e for e in evidence if e.direction == want and e.state == CONFIRMED]
        if anomaly and not own_confirmed:
            return Signal("HOLD", "STRONG", "STAND_ASIDE", score, ev)
        vetoes = [e for e in evidence if e.direction == -want and e.state != VOID and e.bars_ago <= cfg.veto_bars
                  and e.timeframe == timeframe and e.weight >= cfg.veto_min_weight]
        if vetoes and not any(e.weight >= max(v.weight for v in vetoes) for e in own_confirmed):
            return Signal("HOLD", "STRONG", "CONFLICT", score, ev)
        strength = _strength(want, evidence, htf, primary_trend, where, timeframe, cfg)
        if vetoes or _against_range(want, bars[-1].range_state, own_confirmed):
            strength = "WEAK"
        return Signal("BUY" if want > 0 else "SELL", strength, "CONFIRMED" if own_confirmed else "UNCONFIRMED",
                      score, ev)
    if bull > 0 and bear > 0 and max(bull, bear) >= cfg.conflict_min_score \
            and min(bull, bear) >= cfg.conflict_ratio * max(bull, bear):
        return Signal("HOLD", "STRONG", "CONFLICT", score, ev)  # live evidence of similar weight on both sides
    if anomaly:
        return Signal("HOLD", "STRONG", "STAND_ASIDE", score, ev)
    if bull > 0 or bear > 0:
        return Signal("HOLD", "WEAK", "LEAN", score, ev)
    return Signal("HOLD", "MODERATE", "NO_EDGE", score, ev)


def _strength(want: int, evidence: list[Evidence], htf: HigherContext | None, primary_trend: str,
              where: Location, timeframe: str, cfg: VPAConfig) -> str:
    confirmed = any(e.direction == want and e.state == CONFIRMED for e in evidence)
    heavy_now = any(e.direction == want and e.state == CONFIRMED and e.changed_by == 0 and e.timeframe == timeframe
                    and e.weight >= cfg.strong_min_weight and e.bars_ago <= cfg.strong_max_bars_ago for e in evidence)
    room = where.room_up if want > 0 else where.room_down
    with_trend = "UP" if want > 0 else "DOWN"
    opposes = htf is not None and htf.trend == ("DOWN" if want > 0 else "UP")
    agrees = not opposes and (primary_trend == with_trend or (htf is not None and htf.trend == with_trend))
    if heavy_now and not opposes and (room is None or room >= cfg.strong_room_atr):
        return "STRONG"
    if (confirmed or agrees) and (room is None or room >= cfg.moderate_room_atr):
        return "MODERATE"
    return "WEAK"


def _against_range(want: int, range_state: str, own_confirmed: list[Evidence]) -> bool:
    """A BUY inside DISTRIBUTION is capped, unless it holds a confirmed SPRING (re-accumulation; mirror for SELL)."""
    if range_state != ("DISTRIBUTION" if want > 0 else "ACCUMULATION"):
        return False
    return not any(e.pattern == ("SPRING" if want > 0 else "UPTHRUST") for e in own_confirmed)


def invalidation_of(evidence: list[Evidence] | tuple[Evidence, ...], want: int, timeframe: str) -> Evidence | None:
    """The evidence whose bar's extreme invalidates a call of side ``want``: the heaviest live pattern of that side
    on the primary timeframe (the most recent of equal weight)."""
    live = [e for e in evidence if e.direction == want and e.state != VOID and e.timeframe == timeframe]
    return max(live, key=lambda e: (e.weight, -e.bars_ago)) if live else None
