"""The explanation of DOMAIN §7, written only from the example's input and its signal.

Every number is printed from the input dict with the formatter that rounded it there, every class and
pattern name is copied from the input, and each section picks one of several phrasings from a hash of the
example id, so the text is deterministic but varied.
"""

from __future__ import annotations

import hashlib
from typing import Any

from vpa_stream.processors.engine.patterns import PATTERNS
from vpa_stream.processors.engine.render import fmt_price, fmt_ratio
from vpa_stream.processors.engine.signal import Signal

_AGO = {1: "the previous bar", 2: "two bars ago", 3: "three bars ago", 4: "four bars ago", 5: "five bars ago"}

_MEANING = {
    "NO_SUPPLY": "sellers are absent on the way down",
    "NO_DEMAND": "buyers are absent on the way up",
    "TEST": "a dip into lower prices found little supply",
    "TEST_OF_DEMAND": "a push into higher prices found little demand",
    "FAILED_TEST": "the test ran on heavy volume, so supply is still there",
    "FAILED_TEST_OF_DEMAND": "the test of demand ran on heavy volume, so demand is still there",
    "STOPPING_VOLUME": "heavy volume at a new low with a recovering close suggests buyers stepping in",
    "TOPPING_OUT_VOLUME": "heavy volume at a new high with a weak close suggests sellers stepping in",
    "CLIMAX_BOTTOM": "an extreme-volume wide bar at the low looks like capitulation",
    "CLIMAX_TOP": "an extreme-volume wide bar at the high looks like a buying frenzy",
    "SPRING": "price broke below a floor and closed back above it",
    "UPTHRUST": "price broke above a ceiling and closed back below it",
    "EFFORT_TO_RISE": "heavy volume drove a wide up bar that closed near its high",
    "EFFORT_TO_FALL": "heavy volume drove a wide down bar that closed near its low",
    "ABSORPTION_BULLISH": "heavy volume on a narrow down bar means selling is being absorbed",
    "ABSORPTION_BEARISH": "heavy volume on a narrow up bar means buying is being absorbed",
    "HAMMER_AT_LOW": "a long lower wick rejected lower prices",
    "SHOOTING_STAR_AT_HIGH": "a long upper wick rejected higher prices",
    "ACCUMULATION": "a trading range after a decline",
    "DISTRIBUTION": "a trading range after an advance",
    "ANOMALY": "a wide spread on light volume is result without effort",
    "LOW_VOLUME_DOJI": "a long-legged doji on light volume shows indecision",
}


def _touches(n: int) -> str:
    return f"{n} touch" if n == 1 else f"{n} touches"


def _article(word: str) -> str:
    return "an" if word[:1] in "AEIOU" else "a"


def _pick(variants: tuple[str, ...], digest: bytes, section: int) -> str:
    return variants[digest[section] % len(variants)]


def explain(record_input: dict[str, Any], signal: Signal, decimals: int, example_id: str) -> str:
    digest = hashlib.blake2b(example_id.encode(), digest_size=16).digest()
    lines = [f"Signal: {signal.type} ({signal.strength})"]
    lines.append(_trend(record_input, digest))
    lines.append(_bar(record_input, digest))
    lines.append(_patterns(record_input, signal, digest, decimals))
    lines.append(_levels(record_input, digest, decimals))
    lines.append(_timeframes(record_input, digest))
    lines.append(_conclusion(record_input, signal, digest, decimals))
    return "\n".join(lines)


def _trend(inp: dict[str, Any], digest: bytes) -> str:
    tr = inp["trend_analysis"]
    status, strength, slope = tr["status"], tr["strength"], fmt_ratio(tr["slope_atr"])
    extra = ""
    if tr["validation"] == "VALIDATED":
        extra += _pick(("; rising volume VALIDATED the move", "; the move is VALIDATED by volume"), digest, 1)
    elif tr["validation"] == "ANOMALY":
        extra += _pick(("; the trend runs on falling volume, an ANOMALY", "; volume disagrees with the move (ANOMALY)"),
                       digest, 1)
    if tr["swing_structure"] != "INSUFFICIENT":
        extra += f", swing structure {tr['swing_structure']}"
    variant = digest[0] % 3
    if variant == 0:
        return (f"Trend: the {inp['primary_timeframe']} trend is {status} ({strength}) with the fast average moving "
                f"{slope} ATR over the slope window; volume trend {tr['volume_trend']}{extra}.")
    if variant == 1:
        return f"Trend context: {status}, {strength}, slope {slope} ATR, volume trend {tr['volume_trend']}{extra}."
    return (f"Trend: price is in {_article(status)} {status} phase of {strength} strength (slope {slope} ATR) "
            f"and volume is {tr['volume_trend']}{extra}.")


def _bar(inp: dict[str, Any], digest: bytes) -> str:
    m = inp["vpa_metrics"]
    vol, spread = m["volume_class"], m["spread_class"]
    heavy = vol in ("HIGH", "VERY_HIGH")
    light = vol in ("LOW", "VERY_LOW")
    if heavy and spread != "WIDE":
        effort = _pick(("Effort without result: heavy volume did not widen the spread.",
                        "High effort, little result: the volume did not move price far.",
                        "Heavy volume met resistance to the move: effort without result."), digest, 3)
    elif light and spread == "WIDE":
        effort = _pick(("Result without effort: a wide spread on light volume.",
                        "Price travelled far on little volume, result without effort.",
                        "A wide bar that few traded: the move lacks effort behind it."), digest, 3)
    elif heavy:
        effort = _pick(("Effort and result agree: heavy volume moved price.",
                        "Volume and spread agree: real effort with a real result.",
                        "Heavy volume and a wide spread: the move has effort behind it."), digest, 3)
    elif light and spread == "NARROW":
        effort = _pick(("A quiet bar: light volume and a small range.",
                        "Little interest either way: light volume, narrow spread.",
                        "Neither side pressed: low effort and a small result."), digest, 3)
    elif light:
        effort = _pick(("Light volume for an ordinary range: participation is thin.",
                        "The bar moved a normal distance on thin volume.",
                        "Participation was thin for the range covered."), digest, 3)
    elif spread == "WIDE":
        effort = _pick(("Ordinary volume carried price further than usual.",
                        "A wide range on ordinary volume: the path was easy.",
                        "Price moved more than the volume would suggest."), digest, 3)
    else:
        effort = _pick(("Effort and result are in balance.", "Nothing unusual between volume and spread.",
                        "Volume and range are both ordinary.", "An ordinary bar: effort matches result."),
                       digest, 3)
    wicks = f"upper wick {fmt_ratio(m['upper_wick'])}, lower wick {fmt_ratio(m['lower_wick'])}"
    vr, sr, cp = fmt_ratio(m["volume_ratio"]), fmt_ratio(m["spread_ratio"]), fmt_ratio(m["close_position"])
    direction, close_cls, shape, color = m["bar_direction"], m["close_class"], m["candle_shape"], m["candle_color"]
    variant = digest[2] % 3
    if variant == 0:
        return (f"Current bar: {spread} spread ({sr}x average) on {vol} volume ({vr}x average), closing "
                f"{close_cls} at {cp} of the range; {wicks}; {_article(direction)} {direction} bar, {color} {shape} "
                f"candle. {effort}")
    if variant == 1:
        return (f"This {direction} bar has {_article(spread)} {spread} spread at {sr} times the recent average and "
                f"{vol} volume at {vr} times; the close sits {close_cls} ({cp}), {wicks}, candle {shape} and "
                f"{color}. {effort}")
    return (f"Bar: volume {vol} ({vr}), spread {spread} ({sr}), close position {cp} ({close_cls}), {wicks}, "
            f"{color} {shape}, {direction} versus the prior close. {effort}")


def _render_details(details: dict[str, Any], decimals: int) -> str:
    parts = []
    for key, value in details.items():
        if value is None:
            continue
        if isinstance(value, str):
            parts.append(f"{key} {value}")
        elif key == "level":
            parts.append(f"{key} {fmt_price(value, decimals)}")
        else:
            parts.append(f"{key} {fmt_ratio(value)}")
    return ", ".join(parts)


def _patterns(inp: dict[str, Any], signal: Signal, digest: bytes, decimals: int) -> str:
    pa = inp["pattern_analysis"]
    parts = [f"{name} ({entry['direction']}: {_MEANING[name]}; {_render_details(entry['details'], decimals)})"
             for name in PATTERNS if (entry := pa[name])["detected"]]
    confirmed = [e for e in signal.evidence if e.confirmed] if signal.evidence else []
    conf_text = ""
    if confirmed:
        cp = fmt_ratio(inp["vpa_metrics"]["close_position"])
        direction = inp["vpa_metrics"]["bar_direction"]
        items = ", ".join(f"{e.name} from {_AGO.get(e.bars_ago, 'a recent bar')}" for e in confirmed)
        conf_text = " " + _pick((f"Confirmed: {items}, followed by this {direction} bar closing at {cp}.",
                                 f"This {direction} bar closing at {cp} confirms {items}."), digest, 5)
    if not parts:
        head = _pick(("Patterns: no VPA pattern fired on this bar.", "Patterns: none of the VPA rules fired here.",
                      "Patterns: this bar shows no VPA pattern."), digest, 4)
        return head + conf_text
    head = _pick(("Patterns: ", "Patterns detected: ", "VPA patterns on this bar: "), digest, 4)
    return head + "; ".join(parts) + "." + conf_text


def _levels(inp: dict[str, Any], digest: bytes, decimals: int) -> str:
    sr = inp["support_resistance"]
    sup = sr["nearby_support"]
    res = sr["nearby_resistance"]
    if sup:
        s = sup[0]
        s_text = (f"support {fmt_price(s['price'], decimals)} ({_touches(s['touches'])}, "
                  f"{fmt_ratio(s['distance_atr'])} ATR below)")
    else:
        s_text = "no confirmed support below the close"
    if res:
        r = res[0]
        r_text = (f"resistance {fmt_price(r['price'], decimals)} ({_touches(r['touches'])}, "
                  f"{fmt_ratio(r['distance_atr'])} ATR above)")
    else:
        r_text = "no confirmed resistance above the close"
    variant = digest[6] % 3
    if variant == 0:
        return f"Levels: nearest {s_text}; nearest {r_text}."
    if variant == 1:
        return f"Support and resistance: {s_text}, and {r_text}."
    return f"Nearby levels: {s_text}; {r_text}."


def _timeframes(inp: dict[str, Any], digest: bytes) -> str:
    mtf = inp["multi_timeframe_context"]
    if not mtf:
        return _pick(("Other timeframes: no closed bar of another timeframe is available yet.",
                      "Multi-timeframe: no other timeframe has enough closed bars yet."), digest, 7)
    parts = []
    for tf, e in mtf.items():
        pattern = f", last pattern {e['pattern']}" if e["pattern"] else ""
        parts.append(f"{tf} trend {e['trend']} ({e['strength']}), volume {e['volume_class']}{pattern}")
    head = _pick(("Other timeframes: ", "Multi-timeframe: ", "Across timeframes: "), digest, 7)
    return head + "; ".join(parts) + "."


def _names(evidence: tuple[Any, ...]) -> str:
    return ", ".join(e.name for e in evidence)


def _conclusion(inp: dict[str, Any], signal: Signal, digest: bytes, decimals: int) -> str:
    candle = inp["current_candle"]
    low, high = fmt_price(candle["low"], decimals), fmt_price(candle["high"], decimals)
    trend, tf = signal.context_trend, signal.context_timeframe
    if signal.type in ("BUY", "SELL"):
        buy = signal.type == "BUY"
        pro, con = (signal.bullish, signal.bearish) if buy else (signal.bearish, signal.bullish)
        side, other = ("bullish", "bearish") if buy else ("bearish", "bullish")
        against = f", which outweighs the {other} {_names(con)}" if con else ""
        if signal.strength == "STRONG":
            why = f"it is confirmed and the {tf} trend is {trend}"
        elif signal.strength == "MODERATE":
            why = f"the {tf} trend is {trend} but the signal is not yet confirmed"
        else:
            why = f"the {tf} trend is {trend}, so it runs without the trend's support"
        stop = (f"a close below {low}, this bar's low" if buy else f"a close above {high}, this bar's high")
        variant = digest[8] % 3
        if variant == 0:
            return (f"Conclusion: {signal.type} ({signal.strength}) on {side} evidence from {_names(pro)}{against}; "
                    f"{why}. It is invalidated by {stop}.")
        if variant == 1:
            return (f"Conclusion: the {side} case ({_names(pro)}) carries the bar{against}, so {signal.type}; "
                    f"{signal.strength} because {why}. {stop[0].upper() + stop[1:]} would invalidate it.")
        return (f"Conclusion: {signal.type}, {signal.strength}. {side.capitalize()} evidence: {_names(pro)}{against}; "
                f"{why}. Invalidation: {stop}.")
    # HOLD
    if "LOW_VOLUME_DOJI" in signal.stand_aside:
        why = "LOW_VOLUME_DOJI says stand aside until volume returns"
    elif signal.conflict:
        why = (f"bullish {_names(signal.bullish)} and bearish {_names(signal.bearish)} carry equal weight "
               f"and cancel out")
    elif signal.stand_aside:
        why = "an unconfirmed ANOMALY (result without effort) says wait"
    elif signal.evidence:
        lean = "bullish" if signal.score > 0 else "bearish" if signal.score < 0 else "mixed"
        why = f"the {lean} evidence ({_names(signal.evidence)}) is not strong enough for a signal"
    else:
        why = "no pattern gives an edge"
    variant = digest[8] % 3
    if variant == 0:
        return f"Conclusion: HOLD ({signal.strength}): {why}. A close outside {low} to {high} would change the picture."
    if variant == 1:
        return (f"Conclusion: stay flat, HOLD ({signal.strength}), because {why}; watch for a close beyond this bar's "
                f"range of {low} to {high}.")
    return (f"Conclusion: HOLD ({signal.strength}). Reason: {why}. The view changes on a close below {low} or "
            f"above {high}.")
