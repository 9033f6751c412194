"""Bar validation (DOMAIN §8): a bar is either valid or a dead letter carrying the reason and the original payload.

``DeadLetter``, ``payload_text`` and ``check_bar`` are shared by every room and live in ``schemas.records``
(imported from here they still work; new code imports them from there). The ordering check is the producer's.
"""

from __future__ import annotations

from vpa_stream.schemas.models import Bar, iso_utc
from vpa_stream.schemas.records import DeadLetter, check_bar, payload_text

__all__ = ["DeadLetter", "OrderGuard", "check_bar", "payload_text"]


class OrderGuard:
    """Per (symbol, timeframe) high-water mark of close times: a bar must close after the previous one."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last: dict[tuple[str, str], int] = {}

    def check(self, bar: Bar) -> str | None:
        key = (bar.symbol, bar.timeframe)
        prev = self.last.get(key)
        if prev is not None and bar.close_time <= prev:
            kind = "duplicate close time" if bar.close_time == prev else "out of order"
            return f"{kind}: close {iso_utc(bar.close_time)} not after previous {iso_utc(prev)}"
        self.last[key] = bar.close_time
        return None
