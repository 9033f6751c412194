"""Writes docs/rules.md: the rules v2 in words, each with a real bar (or bar sequence) of the sample data.

Run ``python docs/make_rules.py`` after a rule changes; tests/test_docs.py checks that every quoted bar still
fires its pattern and every quoted sequence still gives its signal, so the page cannot drift from the engine.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.realdata import sample_bars  # noqa: E402
from vpa_stream.processors.engine import Engine  # noqa: E402
from vpa_stream.processors.engine.patterns import CATALOGUE  # noqa: E402
from vpa_stream.processors.engine.render import fmt_volume  # noqa: E402

#: the rule of each pattern, in words (bullish side first; the bearish mirror reflects prices)
RULES = {
    "NO_SUPPLY": "down bar, spread NARROW, volume below each of the two bars before and below average "
                 "(volume_ratio < 1.0, `no_supply_volume_ratio`), close_position > 0.5.",
    "NO_DEMAND": "mirror: up bar, spread NARROW, volume below the two bars before and below average, "
                 "close_position < 0.5.",
    "TEST": "a probe that is rejected: L_t < L_{t−1}, lower wick ≥ 0.3 of the range (`probe_wick_min`), "
            "spread_ratio ≤ 1.0, volume below the two bars before and volume_ratio < 1.0, close_position > 0.5.",
    "TEST_OF_DEMAND": "mirror: H_t > H_{t−1}, upper wick ≥ 0.3, spread_ratio ≤ 1.0, light volume as for TEST, "
                      "close_position < 0.5.",
    "FAILED_TEST": "the same probe on HIGH or VERY_HIGH volume closing mid-bar (0.4–0.6): neutral, supply is still "
                   "present. It overrules STOPPING_VOLUME and ABSORPTION_BULLISH on that bar.",
    "FAILED_TEST_OF_DEMAND": "mirror: demand is still present. It overrules TOPPING_OUT_VOLUME and "
                             "ABSORPTION_BEARISH on that bar.",
    "STOPPING_VOLUME": "in a decline (trend DOWN or C < SMA20, and no net rise over the 20 bars before): L_t the "
                       "lowest low of 5 bars, volume_ratio ≥ 1.5, close_position ≥ 0.4 (form NEW_LOW); or a "
                       "HIGH+ volume dip (L_t < L_{t−1}, lower wick ≥ 0.3) closing in its top third (form DIP).",
    "TOPPING_OUT_VOLUME": "mirror, in an advance: H_t the highest high of 5 bars on 1.5× volume closing at or below "
                          "0.6 (NEW_HIGH), or a HIGH+ volume push closing in its lower third (PUSH).",
    "CLIMAX_BOTTOM": "volume_ratio ≥ 2.0, spread WIDE, L_t the lowest low of 20 bars, close_position ≥ 0.4, after "
                     "a decline (trend DOWN, or the 20 bars before fell ≥ 3 ATR); an outside bar at both 20-bar "
                     "extremes only when it closes in its upper half.",
    "CLIMAX_TOP": "mirror: volume_ratio ≥ 2.0, spread WIDE, the highest high of 20 bars, close_position ≤ 0.6, "
                  "after an advance.",
    "SPRING": "L_t pierces a support of ≥ 2 touches (as of t−1) or the prior 20-bar low by 0.15–1.0 ATR, C_t "
              "closes back above it, close_position ≥ 2/3, H_t is not the 20-bar high, and the close is in the "
              "lower 40% of the 40-bar range or the range state is ACCUMULATION. The volume class is in the "
              "details (heavy volume: a shakeout).",
    "UPTHRUST": "mirror: H_t pierces a resistance of ≥ 2 touches or the prior 20-bar high by 0.15–1.0 ATR, closes "
                "back below it, close_position ≤ 1/3, L_t not the 20-bar low, close in the upper 40% of the range "
                "or DISTRIBUTION.",
    "EFFORT_TO_RISE": "up bar, spread WIDE, HIGH+ volume, close_position ≥ 2/3, body ≥ 0.5 (`effort_body_min`).",
    "EFFORT_TO_FALL": "mirror: down bar, spread WIDE, HIGH+ volume, close_position ≤ 1/3, body ≥ 0.5.",
    "ABSORPTION_BULLISH": "volume_ratio ≥ 1.5 and spread_ratio ≤ 0.8 (effort without result) on a down bar "
                          "closing off its low (close_position ≥ 0.4), in a DOWN trend or below SMA20, or closing "
                          "in its top third.",
    "ABSORPTION_BEARISH": "mirror: supply meets the rally: the same effort on an up bar closing off its high "
                          "(≤ 0.6), in an UP trend or above SMA20, or closing in its lower third.",
    "HAMMER_AT_LOW": "candle HAMMER, its low within 0.5 ATR of a support or the prior 20-bar low, the close in "
                     "the lower 40% of the 40-bar range, after a decline; on LOW or VERY_LOW volume it is "
                     "reported (volume_class in the details) and weighs half.",
    "SHOOTING_STAR_AT_HIGH": "mirror: candle SHOOTING_STAR at a resistance or the prior 20-bar high, in the upper "
                             "40% of the range, after an advance.",
    "ACCUMULATION": "the held range state ACCUMULATION: a range after a net fall of ≥ max(5 ATR, 0.75 × width); "
                    "context only (weight 0).",
    "DISTRIBUTION": "the held range state DISTRIBUTION: a range after a net rise of as much; context only.",
    "ANOMALY": "spread WIDE on LOW or VERY_LOW volume with a body ≥ 0.5 (price really travelled): result "
               "without effort, neutral. An unconfirmed signal stands aside on it.",
    "LOW_VOLUME_DOJI": "LONG_LEGGED_DOJI on LOW or VERY_LOW volume with spread_ratio ≥ 1.0 and each wick ≥ 0.35 "
                       "ATR: stand aside (HOLD), unless it is the low-volume test of a spring-like event.",
}

CASES = [
    ("BUY", "STRONG", "CONFIRMED"), ("BUY", "MODERATE", "CONFIRMED"), ("BUY", "MODERATE", "UNCONFIRMED"),
    ("BUY", "WEAK", "UNCONFIRMED"), ("SELL", "STRONG", "CONFIRMED"), ("SELL", "MODERATE", "UNCONFIRMED"),
    ("SELL", "WEAK", "CONFIRMED"), ("HOLD", "STRONG", "CONFLICT"), ("HOLD", "STRONG", "STAND_ASIDE"),
    ("HOLD", "WEAK", "LEAN"), ("HOLD", "MODERATE", "NO_EDGE"),
]


def _records() -> list[dict[str, Any]]:
    engine = Engine()
    return [e.record for e in (engine.update(b) for b in sample_bars()) if e is not None]


def _bar(r: dict[str, Any]) -> str:
    c = r["input"]["current_candle"]
    return f"O {c['open']} H {c['high']} L {c['low']} C {c['close']} V {fmt_volume(c['volume'])}"


def _details(r: dict[str, Any], name: str) -> str:
    return ", ".join(f"{k} {v}" for k, v in r["input"]["pattern_analysis"][name]["details"].items() if v is not None)


def _patterns(records: list[dict[str, Any]]) -> list[str]:
    fires: Counter[str] = Counter()
    example: dict[str, dict[str, Any]] = {}
    for r in records:
        for name, p in r["input"]["pattern_analysis"].items():
            if p["detected"]:
                fires[name] += 1
                if name not in example or (fires[name] == 5):  # the fifth time it fires: past the first months
                    example[name] = r
    out = []
    for name, spec in CATALOGUE.items():
        r = example[name]
        out += [f"### {name}", RULES[name], "",
                f"Fires on {fires[name]:,} of {len(records):,} sample examples. Example: `{r['id']}` — {_bar(r)}; "
                f"{_details(r, name)}.", "", f"Weight family {spec.family}; direction {spec.direction}. "
                f"Source: {spec.source}.", ""]
    return out


def _case(r: dict[str, Any], key: tuple[str, str, str]) -> list[str]:
    inp = r["input"]
    bars = [*inp["recent_candles"][-5:], inp["current_candle"]]
    notes: dict[int, list[str]] = {}
    for e in inp["evidence"]:
        if e["timeframe"] == inp["primary_timeframe"]:
            notes.setdefault(e["bars_ago"], []).append(f"{e['pattern']} {e['state']}")
    rows = ["| bar | open | high | low | close | volume | evidence |", "|---|---|---|---|---|---|---|"]
    for k, c in zip(range(5, -1, -1), bars, strict=True):
        rows.append(f"| t−{k} ({c['close_time'][:10]}) | {c['open']} | {c['high']} | {c['low']} | {c['close']} | "
                    f"{fmt_volume(c['volume'])} | {', '.join(notes.get(k, [])) or '—'} |")
    sr = inp["support_resistance"]
    where = []
    if sr["nearby_support"]:
        where.append(f"support {sr['nearby_support'][0]['price']} ({sr['nearby_support'][0]['distance_atr']} ATR)")
    if sr["nearby_resistance"]:
        lv = sr["nearby_resistance"][0]
        where.append(f"resistance {lv['price']} ({lv['distance_atr']} ATR)")
    weekly = [f"{tf} trend {e['trend']}" for tf, e in inp["multi_timeframe_context"].items()]
    htf = [f"{e['timeframe']} {e['pattern']} {e['state']}" for e in inp["evidence"]
           if e["timeframe"] != inp["primary_timeframe"]]
    context = "; ".join([f"daily trend {inp['trend_analysis']['status']}",
                         f"range {inp['trend_analysis']['trading_range']['state']}", *where, *weekly, *htf])
    plan = r["output"]["explanation"].split("\n\n")[-1]
    return [f"#### {' '.join(key)}", "", f"Sequence: `{r['id']}` — {context}.", "", *rows, "",
            f"> {plan}", ""]


def _cases(records: list[dict[str, Any]]) -> list[str]:
    out = []
    for key in CASES:
        picks = [r for r in records if tuple(r["output"]["signal"].values()) == key]
        rich = [r for r in picks if len(r["input"]["evidence"]) >= 2]
        out += _case((rich or picks)[0], key)
    return out


def _distribution(records: list[dict[str, Any]]) -> list[str]:
    n = len(records)
    counts = Counter((r["output"]["signal"]["type"], r["output"]["signal"]["strength"]) for r in records)
    rows = [f"{n:,} examples (AAPL, MSFT, IBM daily 2000–2013, default config):", "",
            "| signal | STRONG | MODERATE | WEAK | total |", "|---|---|---|---|---|"]
    for kind in ("BUY", "SELL", "HOLD"):
        cells = [counts[(kind, s)] for s in ("STRONG", "MODERATE", "WEAK")]
        rows.append(f"| {kind} | " + " | ".join(f"{c:,} ({100 * c / n:.1f}%)" for c in cells)
                    + f" | {sum(cells):,} ({100 * sum(cells) / n:.1f}%) |")
    reasons = Counter(r["output"]["signal"]["reason"] for r in records)
    rows += ["", "Reasons: " + ", ".join(f"{k} {v:,}" for k, v in reasons.most_common()) + "."]
    return rows


def _replace(text: str, name: str, lines: list[str]) -> str:
    """The text with the generated block ``name`` (between its begin and end markers) rewritten."""
    begin, end = f"<!-- begin: {name} (docs/make_rules.py) -->", f"<!-- end: {name} -->"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return head + begin + "\n" + "\n".join(lines).rstrip() + "\n" + end + tail


def main() -> None:
    records = _records()
    path = ROOT / "docs" / "rules.md"
    text = path.read_text()
    text = _replace(text, "patterns", _patterns(records))
    text = _replace(text, "cases", _cases(records))
    text = _replace(text, "distribution", _distribution(records))
    path.write_text(text)


if __name__ == "__main__":
    main()
