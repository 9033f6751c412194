"""The signal rule of DOMAIN §5: weighted pattern score, confirmation, and strength from context."""

from __future__ import annotations

from dataclasses import dataclass

from vpa_stream.processors.config import VPAConfig
from vpa_stream.processors.engine.analysis import Analysis
from vpa_stream.processors.engine.patterns import PATTERNS

_SIGN = {"BULLISH": 1, "BEARISH": -1, "NEUTRAL": 0}


@dataclass(frozen=True, slots=True)
class Evidence:
    """A directional pattern that counts toward the score: fired at t (bars_ago 0) or confirmed at t."""

    name: str
    direction: int  # +1 bullish, -1 bearish
    weight: float
    bars_ago: int

    @property
    def confirmed(self) -> bool:
        return self.bars_ago > 0


@dataclass(frozen=True, slots=True)
class Signal:
    type: str  # BUY | SELL | HOLD
    strength: str  # STRONG | MODERATE | WEAK
    score: float
    evidence: tuple[Evidence, ...]
    context_trend: str  # the trend the strength rule compared with
    context_timeframe: str  # the timeframe that trend comes from
    stand_aside: tuple[str, ...]  # LOW_VOLUME_DOJI and/or unconfirmed ANOMALY
    conflict: bool  # bullish and bearish evidence of equal top weight

    @property
    def bullish(self) -> tuple[Evidence, ...]:
        return tuple(e for e in self.evidence if e.direction > 0)

    @property
    def bearish(self) -> tuple[Evidence, ...]:
        return tuple(e for e in self.evidence if e.direction < 0)

    @property
    def confirmed(self) -> bool:
        want = 1 if self.type == "BUY" else -1 if self.type == "SELL" else 0
        return any(e.confirmed and e.direction == want for e in self.evidence)


def decide(
    now: Analysis,
    previous: list[Analysis | None],
    context: tuple[str, str],
    cfg: VPAConfig,
) -> Signal:
    """Signal for bar t from its analysis, the analyses of t-1..t-N (nearest first), and the context trend.

    ``context`` is (trend status, timeframe) of the nearest higher timeframe, or of the primary when absent.
    """
    trend, timeframe = context
    if not now.patterns and not any(p is not None and p.patterns for p in previous):
        return Signal("HOLD", "MODERATE", 0, (), trend, timeframe, (), False)  # nothing fired: no evidence, no edge
    evidence: list[Evidence] = []
    weight = cfg.weight
    for name in now.patterns:
        family, direction = PATTERNS[name]
        w = weight(family)
        if direction != "NEUTRAL" and w > 0:
            evidence.append(Evidence(name, _SIGN[direction], w, 0))
    up_confirms = now.bar_direction == "UP" and now.close_position > 0.5
    down_confirms = now.bar_direction == "DOWN" and now.close_position < 0.5
    if up_confirms or down_confirms:
        seen = {e.name for e in evidence}
        for ago, prior in enumerate(previous, start=1):
            if prior is None:
                continue
            for name in prior.patterns:
                family, direction = PATTERNS[name]
                w = weight(family)
                sign = _SIGN[direction]
                if w <= 0 or name in seen or sign == 0:
                    continue
                if (sign > 0 and up_confirms) or (sign < 0 and down_confirms):
                    evidence.append(Evidence(name, sign, w, ago))
                    seen.add(name)

    score: float = 0.0
    top_bull = top_bear = 0.0
    any_confirmed = False
    if evidence:
        score = sum([e.direction * e.weight for e in evidence])
        for e in evidence:
            if e.direction > 0:
                top_bull = max(top_bull, e.weight)
            else:
                top_bear = max(top_bear, e.weight)
            any_confirmed = any_confirmed or e.bars_ago > 0
    stand_aside: tuple[str, ...] = ()
    if now.patterns:
        stand_aside = tuple(
            name for name in ("LOW_VOLUME_DOJI", "ANOMALY")
            if name in now.patterns and (name == "LOW_VOLUME_DOJI" or not any_confirmed)
        )
    conflict = top_bull > 0 and top_bull == top_bear

    if "LOW_VOLUME_DOJI" in now.patterns:
        kind = "HOLD"
    elif score >= cfg.buy_threshold and top_bear < top_bull:
        kind = "BUY"
    elif score <= -cfg.buy_threshold and top_bull < top_bear:
        kind = "SELL"
    else:
        kind = "HOLD"

    if kind == "HOLD":
        if stand_aside or conflict:
            strength = "STRONG"
        elif score != 0:
            strength = "WEAK"
        else:
            strength = "MODERATE"
    else:
        want = 1 if kind == "BUY" else -1
        agrees = trend == ("UP" if want > 0 else "DOWN")
        confirmed = any(e.confirmed and e.direction == want for e in evidence)
        if agrees and confirmed:
            strength = "STRONG"
        elif agrees:
            strength = "MODERATE"
        else:
            strength = "WEAK"
    return Signal(kind, strength, score, tuple(evidence), trend, timeframe, stand_aside, conflict)
