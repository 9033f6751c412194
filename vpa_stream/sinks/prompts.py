"""The user-side prompt of an example: its input rendered as text (two layouts) or JSON, in full or as a view.

A ``View`` is a shorter copy of the input that keeps every fact the explanation may cite (the faithfulness
checker reads the facts from the input, so the completion stays verifiable against the prompt the model is shown).
The steps of ``VIEW_STEPS`` drop, in this order:

  1. pattern details (the numbers that fired a pattern, which the metrics line repeats; a spring's or
     upthrust's reference level and pierce stay), the moving averages, the trading range's drift, the time
     stamps of other timeframes and the patterns that did not fire (json);
  2. support and resistance levels other than the nearest one and the nearest proven one (2+ touches) of
     each side, which are the only levels an explanation names;
  3. recent candles, oldest first, down to none. The bars taken out are not dropped but summarised in one
     line: how many, the range of their volume, close and spread, which is all an explanation's superlatives
     ("the heaviest volume of the eleven sessions shown") read from them, and the volumes of the two bars
     before this one (an explanation compares this bar's volume with them); so every claim stays checkable
     from the text.

Which step a row gets depends on its input and the prompt budget only, never on its completion, so a model
cannot read the label from the prompt's length, and the same view can be rendered for a new bar at inference.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import orjson

from vpa_stream.processors.config import VPAConfig
from vpa_stream.schemas.example_record import inputs_of

PROMPT_STYLES = ("text", "compact", "json")
#: details a spring or upthrust keeps: the explanation names the level it pierced and by how much
_CITED_DETAILS = {"SPRING": ("reference", "level", "pierce_atr"), "UPTHRUST": ("reference", "level", "pierce_atr")}
#: an explanation compares this bar's volume with the two bars before it: their volumes are always shown
PRIOR_VOLUMES = 2


@dataclass(frozen=True, slots=True)
class View:
    """What a prompt shows of the input: everything (the default) or less, along ``VIEW_STEPS``."""

    details: bool = True
    levels: str = "all"  # "all" | "cited": the nearest and the nearest proven level of each side
    candles: int | None = None  # recent candles shown in full (None: all); the older ones are summarised

    def label(self) -> dict[str, Any]:
        return {"details": self.details, "levels": self.levels, "candles": self.candles}


FULL = View()


def view_steps(max_candles: int) -> list[View]:
    """The views from fullest to shortest for an input with ``max_candles`` recent candles."""
    steps = [FULL, View(details=False), View(details=False, levels="cited")]
    steps += [View(details=False, levels="cited", candles=k) for k in range(max_candles - 1, -1, -1)]
    return steps


def price_decimals_of(example: dict[str, Any]) -> int:
    decimals = example.get("meta", {}).get("price_decimals")
    return 2 if not isinstance(decimals, int) else decimals


def render_prompt(example: dict[str, Any], style: str = "text", view: View = FULL) -> str:
    """The user-side text of ``example``: its input (or a view of it) as text lines or compact JSON."""
    if style not in PROMPT_STYLES:
        raise ValueError(f"unknown prompt style {style!r}: use one of {', '.join(PROMPT_STYLES)}")
    decimals = price_decimals_of(example)
    inp = shorten(inputs_of(example), view, decimals)
    if style == "json":
        return orjson.dumps(inp).decode()
    return "\n".join(prompt_lines(inp, decimals, style))


def prompt_lines(inp: dict[str, Any], decimals: int, style: str) -> list[str]:
    return _compact_lines(inp, decimals) if style == "compact" else _text_lines(inp, decimals)


# -- views -----------------------------------------------------------------------------------------------------

def shorten(inp: dict[str, Any], view: View, decimals: int = 2, cfg: VPAConfig | None = None) -> dict[str, Any]:
    """A copy of ``inp`` with what ``view`` leaves out removed (``inp`` itself when nothing is); older candles
    become an ``older_candles`` summary (see ``checkable`` for the input the explanation is checked against)."""
    if view == FULL:
        return inp
    out = dict(inp)
    if not view.details:
        out["pattern_analysis"] = {
            name: {**p, "details": {k: v for k, v in (p.get("details") or {}).items()
                                    if k in _CITED_DETAILS.get(name, ())}}
            for name, p in (inp.get("pattern_analysis") or {}).items() if p.get("detected")}
        trend = {k: v for k, v in (inp.get("trend_analysis") or {}).items()
                 if k not in ("sma_fast", "sma_slow", "recent_move_atr")}
        if isinstance(trend.get("trading_range"), dict):
            trend["trading_range"] = {k: v for k, v in trend["trading_range"].items() if k != "drift"}
        out["trend_analysis"] = trend
        out["multi_timeframe_context"] = {
            tf: {k: v for k, v in ctx.items() if k not in ("as_of", "derived")}
            for tf, ctx in (inp.get("multi_timeframe_context") or {}).items()}
    if view.levels == "cited":
        touches = cfg.room_min_touches if cfg is not None else _default_touches()
        sr = inp.get("support_resistance") or {}
        out["support_resistance"] = {key: _cited_levels(levels, touches) for key, levels in sr.items()}
    if view.candles is not None:
        recent = inp.get("recent_candles") or []
        if view.candles < len(recent):
            older = recent[:len(recent) - view.candles]
            out["recent_candles"] = recent[len(recent) - view.candles:]
            out["older_candles"] = _summary(older, decimals, max(0, PRIOR_VOLUMES - view.candles))
    return out


@functools.cache
def _default_touches() -> int:
    return VPAConfig().room_min_touches


def checkable(inp: dict[str, Any], view: View, cfg: VPAConfig | None = None) -> dict[str, Any]:
    """What the faithfulness checker reads for a prompt of ``view``: the view with its summarised candles in
    full (the summary line keeps the facts they give: count, highest and lowest volume, close and spread)."""
    return shorten(inp, View(view.details, view.levels, None), cfg=cfg)


def _summary(older: list[dict[str, Any]], decimals: int, last: int) -> dict[str, Any]:
    """Count and ranges of the summarised bars, and the volumes of the ``last`` of them (the bars just before
    this one, when fewer than two are shown in full)."""
    spreads = [round(c["high"] - c["low"], decimals) for c in older]
    return {"count": len(older), "last_volumes": [c["volume"] for c in older[len(older) - last:]] if last else [],
            "volume_min": min(c["volume"] for c in older), "volume_max": max(c["volume"] for c in older),
            "close_min": min(c["close"] for c in older), "close_max": max(c["close"] for c in older),
            "spread_min": min(spreads), "spread_max": max(spreads)}


def _cited_levels(levels: list[dict[str, Any]], touches: int) -> list[dict[str, Any]]:
    """The nearest level and the nearest proven one (the explanation's "levels" and "room" claims)."""
    if not levels:
        return []
    proven = next((lv for lv in levels if lv.get("touches", 0) >= touches), None)
    return [levels[0]] if proven is None or proven is levels[0] else [levels[0], proven]


# -- cells -----------------------------------------------------------------------------------------------------

def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _price(value: Any, decimals: int) -> str:
    return f"{float(value):.{decimals}f}" if _is_number(value) else "n/a"


def _ratio(value: Any) -> str:
    return f"{float(value):.2f}" if _is_number(value) else "n/a"


def _volume(value: Any) -> str:
    return f"{float(value):.0f}" if _is_number(value) else "n/a"


def _time(iso: str) -> str:
    """``2013-03-01T21:00:00Z`` -> ``2013-03-01 21:00`` (UTC, minutes are the finest bar)."""
    return iso.replace("T", " ")[:16] if isinstance(iso, str) else "n/a"


def _ohlc(c: dict[str, Any], decimals: int) -> list[str]:
    return [*(_price(c.get(k), decimals) for k in ("open", "high", "low", "close")), _volume(c.get("volume"))]


def _table(rows: list[list[str]], header: list[str]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(cell.rjust(w) if i else cell.ljust(w)
                      for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
            for row in [header, *rows]]


def _details(details: dict[str, Any]) -> str:
    parts = []
    for key, value in details.items():
        if value is None:
            continue  # an absent reference level: say nothing rather than "None"
        if isinstance(value, bool):
            parts.append(f"{key}={'yes' if value else 'no'}")
        elif _is_number(value):
            parts.append(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}")
        else:
            parts.append(f"{key}={value}")
    return ", ".join(parts)


def _touches(n: Any) -> str:
    return f"{n} touch" if n == 1 else f"{n} touches"


def _levels(levels: list[dict[str, Any]], decimals: int) -> str:
    if not levels:
        return "none"
    return "; ".join(f"{_price(lv.get('price'), decimals)} ({_touches(lv.get('touches'))}, "
                     f"{_ratio(lv.get('distance_atr'))} ATR)" for lv in levels)


def _evidence_rows(inp: dict[str, Any], decimals: int) -> list[list[str]]:
    """bar, pattern, direction, weight, state, level, and the bar that confirmed or voided it and why."""
    tf = inp.get("primary_timeframe")
    rows = []
    for e in inp.get("evidence") or []:
        bar = f"t-{e.get('bars_ago')}" if e.get("timeframe") == tf else f"{e.get('timeframe')} last"
        changed = (f"t-{e['changed_by']} {e.get('cause')}" if e.get("changed_by") is not None
                   else str(e["cause"]) if e.get("cause") else "-")
        rows.append([bar, str(e.get("pattern")), str(e.get("direction")), _ratio(e.get("weight")),
                     str(e.get("state")), _price(e.get("level"), decimals), changed])
    return rows


def _range_text(rng: Any) -> str:
    if not isinstance(rng, dict) or not rng.get("state"):
        return ""
    text = f"trading range {rng.get('state')} (width {_ratio(rng.get('width_atr'))} ATR"
    if "prior_move_atr" in rng:
        text += f", leg before it {_ratio(rng.get('prior_move_atr'))} ATR"
    if "position" in rng:
        text += f", close at {_ratio(rng.get('position'))} of the 40-bar high-low"
    return text + ")"


def _mtf_lines(inp: dict[str, Any]) -> list[str]:
    mtf = inp.get("multi_timeframe_context") or {}
    if not mtf:
        return ["Other timeframes: not enough closed bars yet"]
    return [f"Timeframe {tf}" + (f" (as of {_time(ctx['as_of'])})" if ctx.get("as_of") else "")
            + f": trend {ctx.get('trend')} {ctx.get('strength')}, volume {ctx.get('volume_class')}, "
            f"last pattern {ctx.get('pattern') or 'none'}" for tf, ctx in mtf.items()]


def _pattern_lines(inp: dict[str, Any], heading: str) -> list[str]:
    detected = [(name, p) for name, p in (inp.get("pattern_analysis") or {}).items() if p.get("detected")]
    if not detected:
        return [f"{heading}: none"]
    lines = [f"{heading}:"]
    for name, p in detected:
        details = _details(p.get("details") or {})
        lines.append(f"- {name} ({p.get('direction')})" + (f": {details}" if details else ""))
    return lines


# -- the two text layouts --------------------------------------------------------------------------------------

def _text_lines(inp: dict[str, Any], decimals: int) -> list[str]:
    """The readable layout: aligned tables with close times."""
    cur = inp.get("current_candle", {})
    m = inp.get("vpa_metrics", {})
    tr = inp.get("trend_analysis", {})
    lines = [
        f"{inp.get('ticker')} {inp.get('primary_timeframe')} bar closed {_time(inp.get('timestamp', ''))} UTC",
        f"Current bar: open {_price(cur.get('open'), decimals)} high {_price(cur.get('high'), decimals)} "
        f"low {_price(cur.get('low'), decimals)} close {_price(cur.get('close'), decimals)} "
        f"volume {_volume(cur.get('volume'))}",
    ]
    recent = inp.get("recent_candles") or []
    if recent:
        lines.append(f"Previous {len(recent) + (inp.get('older_candles') or {}).get('count', 0)} bars (oldest first):")
        lines += _older_line(inp, decimals)
        lines += _table([[_time(c.get("close_time", "")), *_ohlc(c, decimals)] for c in recent],
                        ["close_time", "open", "high", "low", "close", "volume"])
    lines.append(
        f"Metrics: volume_ratio {_ratio(m.get('volume_ratio'))} ({m.get('volume_class')}), "
        f"spread_ratio {_ratio(m.get('spread_ratio'))} ({m.get('spread_class')}), "
        f"body_ratio {_ratio(m.get('body_ratio'))}, close_position {_ratio(m.get('close_position'))} "
        f"({m.get('close_class')}), upper_wick {_ratio(m.get('upper_wick'))}, "
        f"lower_wick {_ratio(m.get('lower_wick'))}, "
        f"candle {m.get('candle_shape')} {m.get('candle_color')}, bar {m.get('bar_direction')}, "
        f"ATR {_price(m.get('atr'), decimals)}"
        + (f", volume below both prior bars: {'yes' if m.get('volume_vs_prior') else 'no'}"
           if "volume_vs_prior" in m else "")
    )
    trend = (f"Trend: {tr.get('status')} {tr.get('strength')} (slope {_ratio(tr.get('slope_atr'))} ATR), "
             f"volume {tr.get('volume_trend')}, validation {tr.get('validation')}, swings {tr.get('swing_structure')}")
    if "sma_fast" in tr and "sma_slow" in tr:
        trend += f", SMA fast {_price(tr.get('sma_fast'), decimals)}, SMA slow {_price(tr.get('sma_slow'), decimals)}"
    rng = _range_text(tr.get("trading_range"))
    lines.append(trend + (f"; {rng}" if rng else ""))
    lines += _pattern_lines(inp, "Patterns on this bar")
    evidence = inp.get("evidence")
    if evidence is not None:
        if evidence:
            lines.append("Evidence of the last 6 bars and the higher timeframe:")
            lines += _table(_evidence_rows(inp, decimals),
                            ["bar", "pattern", "direction", "weight", "state", "level", "confirmed/voided by"])
        else:
            lines.append("Evidence of the last 6 bars and the higher timeframe: none")
    prior = [f"t-{pp.get('bars_ago')}: {', '.join(pp.get('patterns') or []) or 'none'}"
             for pp in inp.get("prior_patterns") or []]
    if prior:  # a record of engine 1
        lines.append("Patterns on prior bars: " + "; ".join(prior))
    sr = inp.get("support_resistance") or {}
    lines.append(f"Support below: {_levels(sr.get('nearby_support') or [], decimals)}")
    lines.append(f"Resistance above: {_levels(sr.get('nearby_resistance') or [], decimals)}")
    return lines + _mtf_lines(inp)


def _older_line(inp: dict[str, Any], decimals: int) -> list[str]:
    """The summary of the candles a view does not show in full (``View.candles``)."""
    old = inp.get("older_candles")
    if not old:
        return []
    n, first = old["count"], old["count"] + len(inp.get("recent_candles") or [])
    span = f"t-{first}" if n == 1 else f"t-{first}..t-{first - n + 1}"
    lasts = old.get("last_volumes") or []
    shown = len(inp.get("recent_candles") or [])
    named = ", ".join(f"t-{shown + len(lasts) - i} {_volume(v)}" for i, v in enumerate(lasts))
    return [f"{span} ({n} more bar{'s' if n != 1 else ''}, summarised): volume {_volume(old['volume_min'])} to "
            f"{_volume(old['volume_max'])}" + (f" ({named})" if named else "")
            + f", close {_price(old['close_min'], decimals)} to "
            f"{_price(old['close_max'], decimals)}, spread {_price(old['spread_min'], decimals)} to "
            f"{_price(old['spread_max'], decimals)}"]


def _c(code: Any) -> str:
    """A code in lower case (``EFFORT_TO_RISE`` -> ``effort_to_rise``): one BPE token where upper case takes two."""
    return str(code).lower()


def _compact_lines(inp: dict[str, Any], decimals: int) -> list[str]:
    """The token-lean layout: bars labelled t-k, single spaces, short labels, codes in lower case."""
    cur = inp.get("current_candle", {})
    m = inp.get("vpa_metrics", {})
    tr = inp.get("trend_analysis", {})
    recent = inp.get("recent_candles") or []
    lines = [f"{inp.get('ticker')} {inp.get('primary_timeframe')}, bar t closed {_time(inp.get('timestamp', ''))} UTC",
             "bars: open high low close volume"]
    lines += _older_line(inp, decimals)
    lines += [f"t-{len(recent) - i} " + " ".join(_ohlc(c, decimals)) for i, c in enumerate(recent)]
    lines.append("t " + " ".join(_ohlc(cur, decimals)))
    lines.append(
        f"t: volume {_ratio(m.get('volume_ratio'))}x {_c(m.get('volume_class'))}, spread "
        f"{_ratio(m.get('spread_ratio'))}x {_c(m.get('spread_class'))}, close position "
        f"{_ratio(m.get('close_position'))} {_c(m.get('close_class'))}, body {_ratio(m.get('body_ratio'))}, wicks "
        f"upper {_ratio(m.get('upper_wick'))} lower {_ratio(m.get('lower_wick'))}, {_c(m.get('candle_shape'))} "
        f"{_c(m.get('candle_color'))} {_c(m.get('bar_direction'))}, atr {_price(m.get('atr'), decimals)}")
    trend = (f"trend {_c(tr.get('status'))} {_c(tr.get('strength'))} slope {_ratio(tr.get('slope_atr'))} atr, volume "
             f"{_c(tr.get('volume_trend'))}, validation {_c(tr.get('validation'))}, swings "
             f"{_c(tr.get('swing_structure'))}")
    if "sma_fast" in tr and "sma_slow" in tr:
        trend += f", sma {_price(tr.get('sma_fast'), decimals)}/{_price(tr.get('sma_slow'), decimals)}"
    lines.append(trend)
    rng = tr.get("trading_range")
    if isinstance(rng, dict) and rng.get("state"):
        lines.append(f"range {_c(rng.get('state'))} width {_ratio(rng.get('width_atr'))} atr, leg before "
                     f"{_ratio(rng.get('prior_move_atr'))} atr, close at {_ratio(rng.get('position'))} of 40 bars")
    detected = [(name, p) for name, p in (inp.get("pattern_analysis") or {}).items() if p.get("detected")]
    lines.append("patterns at t: " + ("; ".join(
        f"{_c(name)} {_c(p.get('direction'))}" + (f" ({d})" if (d := _details(p.get("details") or {})) else "")
        for name, p in detected) or "none"))
    evidence = _evidence_rows(inp, decimals)
    if evidence:
        lines.append("evidence: bar pattern direction weight state level (confirmed/voided by)")
        lines += [" ".join(_c(cell) for cell in (row if row[-1] != "-" else row[:-1])) for row in evidence]
    elif inp.get("evidence") is not None:
        lines.append("evidence: none")
    sr = inp.get("support_resistance") or {}
    lines.append(f"support {_levels(sr.get('nearby_support') or [], decimals)}".replace(" ATR)", " atr)"))
    lines.append(f"resistance {_levels(sr.get('nearby_resistance') or [], decimals)}".replace(" ATR)", " atr)"))
    mtf = inp.get("multi_timeframe_context") or {}
    mtf_lines = [f"{tf}: trend {_c(ctx.get('trend'))} {_c(ctx.get('strength'))}, volume "
                 f"{_c(ctx.get('volume_class'))}, last pattern {_c(ctx.get('pattern') or 'none')}"
                 for tf, ctx in mtf.items()]
    lines += mtf_lines or ["other timeframes: none"]
    return lines
