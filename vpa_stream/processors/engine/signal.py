"""The signal of DOMAIN §5 (rules v2): read from the bar sequence t-5 .. t and its location, not from one bar.

1. Evidence: every directional pattern of bars t-5 .. t, both directions, weight x decay^bars_ago, plus the higher
   timeframe's last pattern at ``htf_weight`` of its weight.
2. Negation: a bullish pattern is VOID once a later bar closed below the pattern bar's low (mirror: above its high).
3. Follow-through: a later bar closing above the pattern bar's close, in its top third, with a real body and more
   volume than the bar before it CONFIRMS it (1.5 x its weight); so does a low-volume TEST / NO_SUPPLY within
   ``low_volume_test_bars`` of a spring, stopping volume or climax, on less volume than that event bar.
4. Score = sum of live evidence (bullish +, bearish -). BUY at or above ``buy_threshold``, SELL at or below its
   negative; a live strong opposite event within ``veto_bars`` turns the signal into HOLD (CONFLICT) unless the
   signal holds a confirmed pattern at least as heavy, which caps it at WEAK.
5. Strength: STRONG when a pattern of ``strong_min_weight`` within ``strong_max_bars_ago`` bars is itself confirmed,
   with ``strong_room_atr`` of room
   to the nearest opposing level and a higher timeframe that does not trend against it; MODERATE when confirmed or
   with the trend (the primary's or the higher timeframe's, the other not against), with ``moderate_room_atr`` of
   room; else WEAK. A range against the signal (DISTRIBUTION for a BUY) or a veto overruled caps it at WEAK.
Every comparison of prices is made at the precision the record shows, so each state can be re-derived from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from vpa_stream.processors.config import VPAConfig
from vpa_stream.processors.engine.patterns import CATALOGUE, Details

LIVE, VOID, CONFIRMED = "LIVE", "VOID", "CONFIRMED"
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
    later_closes: tuple[float, ...]  # their closes, at display precision
    period_bars_ago: tuple[int, ...]  # bars_ago of the primary bars inside its period (the same market events)


@dataclass(frozen=True, slots=True)
class Evidence:
    pattern: str
    bars_ago: int
    direction: int  # +1 bullish, -1 bearish
    weight: float  # the pattern's weight with its modifiers (low-volume hammer, spring in a range, higher timeframe)
    state: str  # LIVE | VOID | CONFIRMED
    level: float  # the pattern bar's low (bullish) or high (bearish): what voids it, and the invalidation level
    timeframe: str
    contribution: float  # signed share of the score (0 when void)

    def to_record(self) -> dict[str, object]:
        return {"pattern": self.pattern, "bars_ago": self.bars_ago,
                "direction": "BULLISH" if self.direction > 0 else "BEARISH", "weight": self.weight,
                "state": self.state, "level": self.level, "timeframe": self.timeframe}


@dataclass(frozen=True, slots=True)
class Signal:
    type: str  # BUY | SELL | HOLD
    strength: str  # STRONG | MODERATE | WEAK
    reason: str  # CONFIRMED | UNCONFIRMED | CONFLICT | STAND_ASIDE | LEAN | NO_EDGE
    score: float
    evidence: tuple[Evidence, ...]


def _follows(p: BarFacts, j: BarFacts, sign: int, cfg: VPAConfig) -> bool:
    """Bar j is a follow-through of a pattern on bar p in direction ``sign``: a sign of strength (weakness) that
    closes beyond p's close, in its top third, with a real body, on at least average and rising volume."""
    cp = j.close_position if sign > 0 else round(1.0 - j.close_position, 2)
    return (sign * j.close > sign * p.close and cp >= cfg.follow_close_position and j.body_ratio >= cfg.follow_body_min
            and j.volume > j.prev_volume and j.volume_ratio >= cfg.follow_min_volume_ratio
            and j.spread_ratio > cfg.follow_min_spread_ratio)


def _low_volume_test(p: BarFacts, j: BarFacts, sign: int, cfg: VPAConfig) -> bool:
    """Bar j is the low-volume test of an event on bar p: a TEST or NO_SUPPLY of the same side soon after, on below
    average volume and less than the event's, that holds the event's low (Pruden: the secondary test)."""
    if p.bars_ago - j.bars_ago > cfg.low_volume_test_bars or not j.volume < p.volume:
        return False
    if j.volume_ratio >= cfg.test_max_volume_ratio or j.low_for(sign) < p.low_for(sign):
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


def gather(bars: list[BarFacts], htf: HigherContext | None, timeframe: str, cfg: VPAConfig) -> list[Evidence]:
    """The evidence of the window ``bars`` (oldest first, the last is t), then the higher timeframe's pattern.

    A pattern is VOID once a later bar closed beyond its bar's extreme, or once a later bar was a follow-through
    the other way (a sign of weakness after a bullish pattern cancels it). Several patterns on one bar are one
    market event: the bar counts once for each side, with its heaviest pattern's share.
    """
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
            level = p.low if sign > 0 else p.high
            if any(sign * j.close < sign * level or _follows(p, j, -sign, cfg) for j in later):
                state = VOID
            elif any(_follows(p, j, sign, cfg) for j in later) or (
                    spec.confirmed_by_low_volume_test and any(_low_volume_test(p, j, sign, cfg) for j in later)):
                state = CONFIRMED
            else:
                state = LIVE
            contribution = 0.0
            if state != VOID:
                contribution = sign * weight * cfg.decay ** p.bars_ago
                if state == CONFIRMED:
                    contribution *= cfg.confirmed_factor
            shares.append(Evidence(name, p.bars_ago, sign, weight, state, level, timeframe, contribution))
        out.extend(_once_per_side(shares))
    if htf is not None and htf.pattern is not None:
        spec = CATALOGUE[htf.pattern]
        sign = _SIGN.get(spec.direction, 0)
        weight = round(cfg.weight(spec.family) * cfg.htf_weight, 2) if sign else 0.0
        echo = any(e.direction == sign and e.bars_ago in htf.period_bars_ago for e in out)
        if weight > 0 and not echo:  # an echo is the daily event the week is made of: counted once, daily
            level = htf.low if sign > 0 else htf.high
            void = any(sign * c < sign * level for c in htf.later_closes)
            out.append(Evidence(htf.pattern, htf.bars_since, sign, weight, VOID if void else LIVE, level,
                                htf.timeframe, 0.0 if void else sign * weight * cfg.decay ** htf.bars_since))
    return out


def _once_per_side(shares: list[Evidence]) -> list[Evidence]:
    """One bar's evidence with only its heaviest share counted for each side (the others listed, at 0)."""
    best: dict[int, Evidence] = {}
    for e in shares:
        top = best.get(e.direction)
        if top is None or abs(e.contribution) > abs(top.contribution):
            best[e.direction] = e
    return [e if best.get(e.direction) is e else Evidence(e.pattern, e.bars_ago, e.direction, e.weight, e.state,
                                                          e.level, e.timeframe, 0.0) for e in shares]


def decide(bars: list[BarFacts], htf: HigherContext | None, primary_trend: str, room_up: float | None,
           room_down: float | None, doji_stand_aside: bool, anomaly: bool, timeframe: str, cfg: VPAConfig) -> Signal:
    """The signal of bar t = ``bars[-1]``.

    ``room_up`` / ``room_down``: ATR to the nearest resistance / support (None when there is none);
    ``doji_stand_aside``: a LOW_VOLUME_DOJI at t that is not itself the low-volume test of an event;
    ``anomaly``: an ANOMALY (result without effort) at t.
    """
    evidence = gather(bars, htf, timeframe, cfg)
    if doji_stand_aside and any(_is_low_volume_test_at_t(e, bars, cfg) for e in evidence):
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
        kind = "BUY" if want > 0 else "SELL"
        own_confirmed = [e for e in evidence if e.direction == want and e.state == CONFIRMED]
        if anomaly and not own_confirmed:
            return Signal("HOLD", "STRONG", "STAND_ASIDE", score, ev)
        capped = False
        vetoes = [e for e in evidence if e.direction == -want and e.state != VOID and e.bars_ago <= cfg.veto_bars
                  and e.timeframe == timeframe and e.weight >= cfg.veto_min_weight]
        if vetoes:
            heaviest = max(e.weight for e in vetoes)
            if not any(e.weight >= heaviest for e in own_confirmed):
                return Signal("HOLD", "STRONG", "CONFLICT", score, ev)
            capped = True
        confirmed = bool(own_confirmed)
        heavy = any(e.direction == want and e.state == CONFIRMED and e.weight >= cfg.strong_min_weight
                    and e.bars_ago <= cfg.strong_max_bars_ago and e.timeframe == timeframe for e in evidence)
        room = room_up if want > 0 else room_down
        with_trend = "UP" if want > 0 else "DOWN"
        opposes = htf is not None and htf.trend == ("DOWN" if want > 0 else "UP")
        agrees = not opposes and (primary_trend == with_trend or (htf is not None and htf.trend == with_trend))
        if confirmed and heavy and (room is None or room >= cfg.strong_room_atr) and not opposes:
            strength = "STRONG"
        elif (confirmed or agrees) and (room is None or room >= cfg.moderate_room_atr):
            strength = "MODERATE"
        else:
            strength = "WEAK"
        against_range = bars[-1].range_state == ("DISTRIBUTION" if want > 0 else "ACCUMULATION")
        if capped or against_range:
            strength = "WEAK"
        return Signal(kind, strength, "CONFIRMED" if confirmed else "UNCONFIRMED", score, ev)
    if bull > 0 and bear > 0 and (max(bull, bear) >= threshold or bull == bear):
        return Signal("HOLD", "STRONG", "CONFLICT", score, ev)  # one side would signal, the other cancels it
    if anomaly:
        return Signal("HOLD", "STRONG", "STAND_ASIDE", score, ev)
    if bull > 0 or bear > 0:
        return Signal("HOLD", "WEAK", "LEAN", score, ev)
    return Signal("HOLD", "MODERATE", "NO_EDGE", score, ev)


def _is_low_volume_test_at_t(e: Evidence, bars: list[BarFacts], cfg: VPAConfig) -> bool:
    """Bar t confirms the event ``e`` as its low-volume test."""
    if e.state != CONFIRMED or e.bars_ago == 0 or not CATALOGUE[e.pattern].confirmed_by_low_volume_test:
        return False
    event = next((b for b in bars if b.bars_ago == e.bars_ago), None)
    return event is not None and _low_volume_test(event, bars[-1], e.direction, cfg)


def invalidation(sig: Signal) -> Evidence | None:
    """The evidence whose bar's extreme invalidates the signal: the heaviest live pattern in its direction (the
    most recent of equal weight); for a HOLD that leans, the heaviest of the side it leans to."""
    if sig.type == "BUY" or (sig.type == "HOLD" and sig.reason == "LEAN" and sig.score > 0):
        want = 1
    elif sig.type == "SELL" or (sig.type == "HOLD" and sig.reason == "LEAN" and sig.score < 0):
        want = -1
    else:
        return None
    live = [e for e in sig.evidence if e.direction == want and e.state != VOID]
    if not live:
        return None
    return max(live, key=lambda e: (e.weight, -e.bars_ago))
