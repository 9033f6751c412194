"""Checks that an example's explanation says only what its input holds (DOMAIN §7).

- the first line equals ``Signal: TYPE (STRENGTH)`` of output.signal;
- every number printed matches a number of the input at the printed precision (thousands separators aside);
- every CLASS or PATTERN_NAME token printed is a string value of the input (or the signal itself);
- no "None", "nan", "null" or "UNKNOWN", and no empty section;
- a BUY or SELL that has opposite-direction patterns at t says that they are outweighed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")
_WORD = re.compile(r"\b[A-Z][A-Z0-9_]*[A-Z0-9]\b")
_FORBIDDEN = re.compile(r"\b(None|nan|NaN|null|UNKNOWN|inf)\b")
#: upper-case words of the prose itself, not classes
_PROSE_WORDS = {"ATR", "VPA"}


def _walk(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)
    else:
        yield value


def check_example(record: dict[str, Any]) -> list[str]:
    """Problems found in one example record (empty when faithful)."""
    problems: list[str] = []
    inp = record["input"]
    signal = record["output"]["signal"]
    text: str = record["output"]["explanation"]
    lines = text.split("\n")
    header = f"Signal: {signal['type']} ({signal['strength']})"
    if lines[0] != header:
        problems.append(f"header {lines[0]!r} != {header!r}")
    for line in lines[1:]:
        if not line.strip() or line.rstrip().endswith(":"):
            problems.append(f"empty section {line!r}")
    for m in _FORBIDDEN.finditer(text):
        problems.append(f"forbidden word {m.group(0)!r}")

    values = list(_walk(inp))
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    strings = {v for v in values if isinstance(v, str)}
    # timeframe labels (1d, 1wk, ...) contain digits but are names, not numbers
    body = text
    for tf in sorted({inp["primary_timeframe"], *inp["multi_timeframe_context"]}, key=len, reverse=True):
        body = re.sub(rf"(?<![\w.]){re.escape(tf)}\b", "TF", body)
    rendered: dict[int, set[str]] = {}
    for m in _NUMBER.finditer(body):
        token = m.group(0).replace(",", "")
        decimals = len(token.split(".")[1]) if "." in token else 0
        if decimals not in rendered:
            rendered[decimals] = {f"{v:.{decimals}f}" for v in numbers}
            rendered[decimals] |= {f"{-v:.{decimals}f}" for v in numbers if v < 0}
        if token not in rendered[decimals] and token.lstrip("-") not in rendered[decimals]:
            problems.append(f"number {m.group(0)} not in input")
    allowed = strings | {signal["type"], signal["strength"]} | _PROSE_WORDS | {"TF"}
    for m in _WORD.finditer(body):
        if m.group(0) not in allowed:
            problems.append(f"name {m.group(0)} not in input")

    if signal["type"] in ("BUY", "SELL"):
        opposite = "BEARISH" if signal["type"] == "BUY" else "BULLISH"
        fired_against = [n for n, p in inp["pattern_analysis"].items() if p["detected"] and p["direction"] == opposite]
        if fired_against and f"outweighs the {opposite.lower()}" not in lines[-1]:
            problems.append(f"{signal['type']} does not say that {', '.join(fired_against)} is outweighed")
    return problems
