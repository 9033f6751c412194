"""The facts of the call itself: what makes a BUY or SELL strong or holds it back, the plan, and why a HOLD.

Each row restates, from the prompt alone, a condition of the strength rule of DOMAIN §5 (``signal._strength``):
the confirming bar, the risk to the stop against the room to the next level, the trend, the range, the veto.
"""

from __future__ import annotations

from typing import Any

from vpa_stream.processors.config import VPAConfig
from vpa_stream.processors.engine.facts import SIDE_OF, Facts, Item, higher_timeframe
from vpa_stream.processors.engine.render import fmt_price

_STRONG_EVENT = 2.5


def _heaviest(items: list[Item]) -> Item | None:
    return max(items, key=lambda i: (i.weight, -i.bars_ago)) if items else None


def call_rows(f: Facts, inp: dict[str, Any], cfg: VPAConfig) -> None:
    if f.side:
        _trade_rows(f, inp, cfg)
    else:
        _hold_rows(f, inp)


def _trade_rows(f: Facts, inp: dict[str, Any], cfg: VPAConfig) -> None:
    want = f.side
    own = [i for i in f.items if i.side == want]
    confirmed = any(i.state == "CONFIRMED" for i in own)
    f.add("call", signal=f.signal, strength_word=f.strength, confirmation="CONFIRMED" if confirmed else "UNCONFIRMED")
    stop = _heaviest([i for i in own if i.live and i.timeframe == f.timeframe])
    atr = inp["vpa_metrics"]["atr"]
    close = inp["current_candle"]["close"]
    risk = round(abs(close - stop.level) / atr, 2) if stop is not None and atr > 0 else 0.0
    heavy = [i for i in own if i.state == "CONFIRMED" and i.weight >= cfg.strong_min_weight
             and i.bars_ago <= cfg.strong_max_bars_ago and i.timeframe == f.timeframe]
    heavy_now = [i for i in heavy if i.changed_by == 0]
    kind = "resistance" if want > 0 else "support"
    levels = [lv for lv in inp["support_resistance"]["nearby_" + kind] if lv["touches"] >= cfg.room_min_touches]
    room = levels[0]["distance_atr"] if levels else None
    htf = higher_timeframe(inp)
    with_trend, against_trend = ("UP", "DOWN") if want > 0 else ("DOWN", "UP")
    opposes = htf is not None and htf[1] == against_trend
    primary = inp["trend_analysis"]["status"]
    agrees = not opposes and (primary == with_trend or (htf is not None and htf[1] == with_trend))
    limits = []
    if not heavy_now:
        limits.append("CONFIRMED_EARLIER" if heavy else "NO_HEAVY_BULLISH" if want > 0 else "NO_HEAVY_BEARISH")
    if room is not None and room < cfg.strong_room_atr:
        limits.append("LITTLE_ROOM")
    if not agrees and not opposes:
        limits.append("TREND_AGAINST" if primary == against_trend else "NO_TREND_SUPPORT")
    if limits:
        f.add("limits", limits=tuple(sorted(limits)))
    if room is not None:
        judged = ("AMPLE" if room >= cfg.strong_room_atr else "SOME" if room >= cfg.moderate_room_atr else "LITTLE")
        f.add("room", level_kind=kind, ratio=f"{room:.2f}", room=judged, signal=f.signal)
        if stop is not None and risk != room:
            f.add("risk_room", level_kind=kind, rr="RISK_OVER_ROOM" if risk > room else "ROOM_OVER_RISK")
    else:
        f.add("open_room", level_kind=kind, signal=f.signal)
    if opposes and htf is not None:
        f.add("htf_limit", chart=htf[0], trend_word=htf[1])
    elif htf is not None:
        f.add("htf_ok", chart=htf[0], trend_word=htf[1])
    if heavy_now and not opposes and (room is None or room >= cfg.strong_room_atr):
        for i in heavy_now:
            f.add("strong", pattern=i.pattern)
    if not confirmed:
        f.add("confirm_needed", bar_dir="UP" if want > 0 else "DOWN", close="HIGH" if want > 0 else "LOW")
    against = "DISTRIBUTION" if want > 0 else "ACCUMULATION"
    lifted = any(i.state == "CONFIRMED" and i.pattern == ("SPRING" if want > 0 else "UPTHRUST") for i in own)
    if inp["trend_analysis"]["trading_range"]["state"] == against:
        if lifted:
            f.add("range_lifted", range=against, signal=f.signal, bare="SPRING" if want > 0 else "UPTHRUST")
        else:
            f.add("range_limit", range=against, signal=f.signal)
    for i in sorted(_vetoes(f, -want), key=lambda i: (-i.weight, i.bars_ago)):
        f.add("veto_overruled", bare=i.pattern, ago=i.bars_ago, signal=f.signal)
    if stop is not None:
        kind = "invalidation_bull" if want > 0 else "invalidation_bear"
        row = {"signal": f.signal, "price": fmt_price(stop.level, f.decimals), "bare": stop.pattern,
               "ago": stop.bars_ago, "pattern": stop.pattern}
        f.add(kind if stop.bars_ago >= 2 else kind + "_recent", **row)


def _hold_rows(f: Facts, inp: dict[str, Any]) -> None:
    if f.reason != "LEAN":
        f.add("hold", reason=f.reason)
    if f.reason in ("NO_EDGE", "CONFLICT"):
        f.add("wait")
    if f.reason == "CONFLICT":
        for side in (1, -1):
            top = _heaviest([i for i in f.items if i.side == side and i.live and i.timeframe == f.timeframe])
            if top is not None:
                f.add("void_case_bull" if side > 0 else "void_case_bear", price=fmt_price(top.level, f.decimals),
                      side=SIDE_OF[side])
        score_side = 1 if f.bull > f.bear else -1
        for i in sorted(_vetoes(f, -score_side), key=lambda i: (-i.weight, i.bars_ago)):
            f.add("veto", bare=i.pattern, ago=i.bars_ago, signal="BUY" if score_side > 0 else "SELL")
    elif f.reason == "LEAN" and f.lean:
        f.add("lean", side=SIDE_OF[f.lean], signal="BUY" if f.lean > 0 else "SELL")
        top = _heaviest([i for i in f.items if i.side == f.lean and i.live and i.timeframe == f.timeframe])
        if top is not None:
            f.add("void_case_bull" if f.lean > 0 else "void_case_bear", price=fmt_price(top.level, f.decimals),
                  side=SIDE_OF[f.lean])
        f.add("confirm_needed", bar_dir="UP" if f.lean > 0 else "DOWN", close="HIGH" if f.lean > 0 else "LOW")
    elif f.reason == "STAND_ASIDE":
        detected = [n for n, p in inp["pattern_analysis"].items() if p["detected"]]
        for name in ("LOW_VOLUME_DOJI", "ANOMALY"):
            if name in detected:
                f.add("stand_aside", pattern=name)


def _vetoes(f: Facts, side: int) -> list[Item]:
    return [i for i in f.items if i.side == side and i.live and i.bars_ago <= 3 and i.timeframe == f.timeframe
            and i.weight >= _STRONG_EVENT]
