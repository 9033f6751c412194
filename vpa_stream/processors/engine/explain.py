"""The explanation of DOMAIN §7, written only from the example's input and its signal.

Every number is printed from the input dict with the formatter that rounded it there, every class and
pattern name is copied from the input, and each section picks one of several phrasings from a hash of the
example id, so the text is deterministic but varied.
"""

from __future__ import annotations

import hashlib
from typing import Any

from vpa_stream.processors.engine.render import fmt_price, fmt_ratio

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


def explain(record_input: dict[str, Any], signal: dict[str, str], decimals: int, example_id: str) -> str:
    return f"Signal: {signal['type']} ({signal['strength']})\nTODO"
