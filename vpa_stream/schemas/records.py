"""The value objects every room shares, beside ``models.Bar``: the dead letter (input that could not become a bar
or an example, with the reason and the original payload), its payload text, and the bar check (DOMAIN §8).

They live here, below the rooms, so producers, processors and sinks import them from ``schemas`` instead of
from each other.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from vpa_stream.schemas.models import TIMEFRAME_SECONDS, Bar, iso_utc


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Input that could not become a bar (or an example): why, where, and the original payload as text."""

    stage: str  # producer | processor | sink
    reason: str
    payload: str
    symbol: str = ""
    timeframe: str = ""
    close_time: int | None = None

    def to_record(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "reason": self.reason,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "close_time": iso_utc(self.close_time) if self.close_time is not None else None,
            "payload": self.payload,
        }


def payload_text(payload: Any) -> str:
    """The original payload, as faithful text: bytes as hex, mappings as JSON (NaN and inf kept as words)."""
    if isinstance(payload, bytes | bytearray | memoryview):
        return bytes(payload).hex()
    if isinstance(payload, str):
        return payload
    return json.dumps(payload, default=str, sort_keys=True)


def check_bar(bar: Bar) -> str | None:
    """The reason ``bar`` is invalid, or None. Ordering against earlier bars is checked by the caller."""
    if bar.timeframe not in TIMEFRAME_SECONDS:
        return f"unknown timeframe {bar.timeframe!r}"
    if not bar.symbol:
        return "empty symbol"
    o, h, lo, c, v = bar.open, bar.high, bar.low, bar.close, bar.volume
    for name, value in (("open", o), ("high", h), ("low", lo), ("close", c), ("volume", v)):
        if not math.isfinite(value):
            return f"{name} is not a finite number ({value})"
    if o <= 0 or h <= 0 or lo <= 0 or c <= 0:
        return "non-positive price"
    if v < 0:
        return f"negative volume ({v})"
    if h < max(o, c):
        return f"high {h} below max(open, close) {max(o, c)}"
    if lo > min(o, c):
        return f"low {lo} above min(open, close) {min(o, c)}"
    if bar.close_time <= bar.open_time:
        return "close time not after open time"
    if not math.isfinite(bar.split_ratio) or bar.split_ratio <= 0:
        return f"invalid split ratio {bar.split_ratio}"
    return None
