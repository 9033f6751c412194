"""The facts of an example's prompt: every claim the explanation may make, as rows of canonical values.

``facts(input, signal, cfg)`` reads only the record's input (what the model is shown), the signal being
explained, and the rule constants of the config; it never looks at the engine's internal state. Each claim kind
has the list of rows that are true of this prompt: the realiser writes some of them, and the faithfulness
checker accepts a parsed sentence only when its slot values match a true row of its kind. The rows of the call
itself (what makes it strong or holds it back, the plan) are in ``facts_call``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vpa_stream.processors.config import VPAConfig
from vpa_stream.processors.engine.grammar import Row
from vpa_stream.processors.engine.lexicon import bar_noun
from vpa_stream.processors.engine.patterns import CATALOGUE
from vpa_stream.processors.engine.render import fmt_price, fmt_ratio, price_decimals

SIDE = {"BULLISH": 1, "BEARISH": -1}
SIDE_OF = {1: "BULLISH", -1: "BEARISH"}
_SIGNAL_SIDE = {"BUY": 1, "SELL": -1, "HOLD": 0}
#: evidence state and cause -> the claim kind's stem
_STEM = {("LIVE", None): "live", ("CONFIRMED", "FOLLOW_THROUGH"): "confirmed_ft",
         ("CONFIRMED", "LOW_VOLUME_TEST"): "confirmed_lvt", ("VOID", "CLOSE_BEYOND"): "void_close",
         ("VOID", "FOLLOW_THROUGH_AGAINST"): "void_against", ("VOID", "EXTREME_TAKEN_OUT"): "void_taken"}
TF_ORDER = {"1m": 1, "2m": 2, "5m": 3, "15m": 4, "30m": 5, "1h": 6, "90m": 7, "4h": 8, "1d": 9, "1wk": 10, "1mo": 11}


@dataclass(frozen=True, slots=True)
class Item:
    """One evidence entry of the prompt, with the share of the score the rules give it."""

    pattern: str
    bars_ago: int
    side: int
    weight: float
    state: str
    level: float
    timeframe: str
    contribution: float
    changed_by: int | None
    cause: str | None

    @property
    def live(self) -> bool:
        return self.state != "VOID"


@dataclass
class Facts:
    timeframe: str
    decimals: int
    signal: str
    strength: str
    reason: str
    side: int  # +1 BUY, -1 SELL, 0 HOLD
    lean: int  # the side a HOLD leans to (the sign of the score), 0 when none
    items: list[Item]
    bull: float  # live bullish share of the score
    bear: float
    rows: dict[str, list[Row]] = field(default_factory=dict)

    def add(self, claim: str, **values: Any) -> None:
        self.rows.setdefault(claim, []).append(values)

    def true(self, claim: str) -> list[Row]:
        return self.rows.get(claim, [])


def items_of(inp: dict[str, Any], cfg: VPAConfig) -> list[Item]:
    """The evidence with its shares of the score: decayed, 1.5x when confirmed, each bar once per side."""
    items = []
    best: dict[tuple[str, int, int], float] = {}
    for e in inp["evidence"]:
        side = SIDE[e["direction"]]
        share = 0.0
        if e["state"] != "VOID":
            share = e["weight"] * cfg.decay ** e["bars_ago"]
            if e["state"] == "CONFIRMED":
                share *= cfg.confirmed_factor
        key = (e["timeframe"], e["bars_ago"], side)
        best[key] = max(best.get(key, 0.0), share)
        items.append(Item(e["pattern"], e["bars_ago"], side, e["weight"], e["state"], e["level"], e["timeframe"],
                          side * share, e.get("changed_by"), e.get("cause")))
    counted: set[tuple[str, int, int]] = set()
    for n, item in enumerate(items):
        key = (item.timeframe, item.bars_ago, item.side)
        if key in counted or abs(item.contribution) != best[key]:
            items[n] = Item(item.pattern, item.bars_ago, item.side, item.weight, item.state, item.level,
                            item.timeframe, 0.0, item.changed_by, item.cause)
        else:
            counted.add(key)
    return items


def facts(inp: dict[str, Any], signal: dict[str, str], cfg: VPAConfig | None = None,
          decimals: int | None = None) -> Facts:
    from vpa_stream.processors.engine.facts_call import call_rows

    cfg = cfg or VPAConfig()
    d = decimals if decimals is not None else price_decimals(inp["current_candle"]["close"], cfg.price_decimals)
    items = items_of(inp, cfg)
    bull = sum(i.contribution for i in items if i.contribution > 0)
    bear = -sum(i.contribution for i in items if i.contribution < 0)
    score = round(bull - bear, 2)
    kind = signal["type"]
    f = Facts(inp["primary_timeframe"], d, kind, signal["strength"], signal.get("reason", ""),
              _SIGNAL_SIDE.get(kind, 0), (1 if score > 0 else -1 if score < 0 else 0) if kind == "HOLD" else 0,
              items, bull, bear)
    _evidence_rows(f, cfg)
    _bar_rows(f, inp)
    _context_rows(f, inp, cfg)
    call_rows(f, inp, cfg)
    return f


def relation(f: Facts, side: int) -> str:
    if f.side == 0:
        return "NEUTRAL"
    return "FOR" if side == f.side else "AGAINST"


def _evidence_rows(f: Facts, cfg: VPAConfig) -> None:
    primary = [i for i in f.items if i.timeframe == f.timeframe]
    if not any(i.bars_ago > 0 for i in primary):
        f.add("quiet_history", count=cfg.evidence_bars - 1, noun=bar_noun(f.timeframe, 2))
    groups: dict[tuple[int, str, int, str | None, int | None], list[Item]] = {}
    for i in primary:
        groups.setdefault((i.bars_ago, i.state, i.side, i.cause, i.changed_by), []).append(i)
    for (ago, state, side, cause, changed_by), members in groups.items():
        patterns = tuple(sorted(m.pattern for m in members))
        rel = relation(f, side)
        side_word = SIDE_OF[side]
        if ago == 0:
            f.add("evidence_now_hold" if rel == "NEUTRAL" else "evidence_now", noun=bar_noun(f.timeframe),
                  patterns=patterns, side=side_word, relation=rel, signal=f.signal)
        else:
            kind = "ev_" + _STEM[(state, cause)] + ("_many" if len(patterns) > 1 else "")
            row: Row = {"ago": ago, "patterns": patterns, "side": side_word, "state": state, "states": state,
                        "ext": side_word, "taken": side_word, "beyond": side_word,
                        "bar_dir": "UP" if side > 0 else "DOWN", "price": fmt_price(members[0].level, f.decimals)}
            if changed_by is not None:
                row["by"] = changed_by
            f.add(kind, **row)
            if state != "VOID":
                if rel != "NEUTRAL":
                    f.add(kind + "_rel", **row, relation=rel, signal=f.signal)
                f.add(kind + "_side", **row)
        for m in members:
            f.add("gloss", pattern=m.pattern, gloss=m.pattern)
    for i in f.items:
        if i.timeframe != f.timeframe:
            f.add("htf_evidence_hold" if f.side == 0 else "htf_evidence", chart=i.timeframe, pattern=i.pattern,
                  state=i.state, side=SIDE_OF[i.side], relation=relation(f, i.side), signal=f.signal)
    live_bull = any(i.live and i.side > 0 for i in f.items)
    live_bear = any(i.live and i.side < 0 for i in f.items)
    if live_bull and live_bear:
        strong, weak = ("BULLISH", "BEARISH") if f.bull > f.bear else ("BEARISH", "BULLISH")
        if f.bull != f.bear:
            f.add("balance", side=strong, side_b=weak, weigh="OUTWEIGHS")
        if min(f.bull, f.bear) >= cfg.conflict_ratio * max(f.bull, f.bear):
            f.add("balance", side=strong, side_b=weak, weigh="MATCHES")
            f.add("balance", side=weak, side_b=strong, weigh="MATCHES")
    elif (live_bull or live_bear) and f.side:
        f.add("one_sided", side="BEARISH" if live_bull else "BULLISH")


def _bar_rows(f: Facts, inp: dict[str, Any]) -> None:
    m = inp["vpa_metrics"]
    noun = bar_noun(f.timeframe)
    f.add("bar_effort", noun=noun, direction=m["bar_direction"], volume=m["volume_class"],
          ratio_v=fmt_ratio(m["volume_ratio"]), spread=m["spread_class"], ratio_s=fmt_ratio(m["spread_ratio"]),
          close=m["close_class"], ratio=fmt_ratio(m["close_position"]))
    for wick in ("lower", "upper"):
        value = m[f"{wick}_wick"]
        if value >= 0.3:
            f.add("wick", wick=wick, ratio=fmt_ratio(value))
    f.add("effort_result", reading=effort_reading(m["volume_class"], m["spread_class"], m["spread_ratio"],
                                                  m["close_class"]))
    if m["candle_shape"] != "NORMAL":
        f.add("shape", shape=m["candle_shape"], color=m["candle_color"])
    bars = [*inp["recent_candles"], inp["current_candle"]]
    now = inp["current_candle"]
    others = bars[:-1]
    if others:
        n = len(bars)
        for key, high, low in (("volume", "HEAVIEST_VOLUME", "LIGHTEST_VOLUME"),
                               ("close", "HIGHEST_CLOSE", "LOWEST_CLOSE")):
            values = [b[key] for b in others]
            if now[key] > max(values):
                f.add("extreme", extreme=high, count=n, noun=bar_noun(f.timeframe, n))
            if now[key] < min(values):
                f.add("extreme", extreme=low, count=n, noun=bar_noun(f.timeframe, n))
        spreads = [round(b["high"] - b["low"], f.decimals) for b in others]
        spread = round(now["high"] - now["low"], f.decimals)
        if spread > max(spreads):
            f.add("extreme", extreme="WIDEST_SPREAD", count=n, noun=bar_noun(f.timeframe, n))
        if spread < min(spreads):
            f.add("extreme", extreme="NARROWEST_SPREAD", count=n, noun=bar_noun(f.timeframe, n))
    if len(others) >= 2:
        before = [others[-1]["volume"], others[-2]["volume"]]
        if now["volume"] < min(before):
            f.add("prior_volume", cmp="LOWER", noun=bar_noun(f.timeframe, 2))
        if now["volume"] > max(before):
            f.add("prior_volume", cmp="HIGHER", noun=bar_noun(f.timeframe, 2))
    for name, p in inp["pattern_analysis"].items():
        if not p["detected"]:
            continue
        if CATALOGUE[name].direction == "NEUTRAL":
            f.add("neutral_pattern", pattern=name, gloss=name)
            f.add("gloss", pattern=name, gloss=name)
        details = p["details"]
        if name in ("SPRING", "UPTHRUST"):
            f.add("pierce", pattern=name, reference=str(details["reference"]),
                  price=fmt_price(float(details["level"]), f.decimals), ratio=fmt_ratio(float(details["pierce_atr"])))


def effort_reading(volume: str, spread: str, spread_ratio: float, close: str) -> str:
    """Effort (volume) against result (spread), Wyckoff's third law; on heavy volume over an ordinary spread the
    close decides who won the bar."""
    heavy, light = volume in ("HIGH", "VERY_HIGH"), volume in ("LOW", "VERY_LOW")
    if heavy:
        if spread == "WIDE":
            return "EFFORT_WITH_RESULT"
        if spread_ratio <= 0.8:
            return "EFFORT_WITHOUT_RESULT"
        return {"LOW": "HEAVY_CLOSE_LOW", "HIGH": "HEAVY_CLOSE_HIGH"}.get(close, "HEAVY_CLOSE_MID")
    if light:
        return {"WIDE": "RESULT_WITHOUT_EFFORT", "NARROW": "QUIET"}.get(spread, "THIN")
    return {"WIDE": "EASY_MOVE", "NARROW": "DULL"}.get(spread, "BALANCED")


def _context_rows(f: Facts, inp: dict[str, Any], cfg: VPAConfig) -> None:
    tr = inp["trend_analysis"]
    if tr["status"] == "SIDEWAYS":
        f.add("trend_flat", ratio=fmt_ratio(tr["slope_atr"]))
    else:
        f.add("trend", trend=tr["status"], strength_word=tr["strength"], ratio=fmt_ratio(tr["slope_atr"]))
    f.add("volume_trend", volume_trend=tr["volume_trend"], validation=tr["validation"])
    if tr["swing_structure"] != "INSUFFICIENT":
        f.add("swing", swing=tr["swing_structure"])
    rng = tr["trading_range"]
    if rng["state"] in ("ACCUMULATION", "DISTRIBUTION"):
        f.add("range", range=rng["state"], ratio_w=fmt_ratio(rng["width_atr"]),
              ratio_m=fmt_ratio(abs(rng["prior_move_atr"])), leg="FALL" if rng["prior_move_atr"] < 0 else "RISE")
    elif rng["state"] == "NEUTRAL":
        f.add("range_neutral", range="NEUTRAL", ratio_w=fmt_ratio(rng["width_atr"]))
    pos = rng["position"]
    zone = "LOWER" if pos <= 1 / 3 else "UPPER" if pos >= 2 / 3 else "MIDDLE"
    f.add("range_position", ratio=fmt_ratio(pos), zone=zone)
    sr = inp["support_resistance"]
    levels: dict[str, Any] = {}
    for suffix, key in (("s", "nearby_support"), ("r", "nearby_resistance")):
        if sr[key]:
            lv = sr[key][0]
            levels.update({f"price_{suffix}": fmt_price(lv["price"], f.decimals), f"touches_{suffix}": lv["touches"],
                           f"ratio_{suffix}": fmt_ratio(lv["distance_atr"])})
    kind = {(True, True): "levels", (False, True): "levels_no_support", (True, False): "levels_no_resistance",
            (False, False): "levels_none"}[(bool(sr["nearby_support"]), bool(sr["nearby_resistance"]))]
    f.add(kind, **levels)
    own = TF_ORDER.get(f.timeframe, 0)
    for tf, e in inp["multi_timeframe_context"].items():
        lower = TF_ORDER.get(tf, 0) < own
        f.add("mtf_lower" if lower else "mtf", chart=tf, trend_word=e["trend"], strength_word=e["strength"],
              volume=e["volume_class"])
        if e["pattern"] is not None:
            f.add("mtf_pattern", chart=tf, pattern=e["pattern"])


def higher_timeframe(inp: dict[str, Any]) -> tuple[str, str] | None:
    """(timeframe, trend) of the nearest higher timeframe of the prompt's context, if any."""
    own = TF_ORDER.get(inp["primary_timeframe"], 0)
    higher = [(tf, e["trend"]) for tf, e in inp["multi_timeframe_context"].items() if TF_ORDER.get(tf, 0) > own]
    return min(higher, key=lambda x: TF_ORDER[x[0]]) if higher else None
