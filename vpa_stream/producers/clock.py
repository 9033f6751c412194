"""What time it is and when bars close: the live poller's clocks (real and simulated) and its bar calendar.

The poller never reads the wall clock directly: it asks a ``Clock``, so tests drive a simulated market whose
time advances only when the poller sleeps. ``BarCalendar`` answers "when does the next bar close" with the
same close-time rule the sources use (``bar_times``: daily rows close at the session close, intraday rows at
start + interval), so the live schedule and the backfill agree on every close time by construction.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

import numpy as np
import pandas as pd

from vpa_stream.producers.sources.base import Session, bar_times
from vpa_stream.schemas.models import is_intraday, timeframe_seconds

DAY_MS = 86_400_000


class Clock(Protocol):
    """Event-time source of the live poller: UTC epoch milliseconds, and a way to wait."""

    def now_ms(self) -> int: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The wall clock. ``interrupt()`` (from a signal handler) ends the current and every later sleep early."""

    def __init__(self) -> None:
        self._wake = threading.Event()

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._wake.wait(seconds)

    def interrupt(self) -> None:
        self._wake.set()


class SimulatedClock:
    """A clock that moves only when slept on: a simulated market runs days in milliseconds, deterministically."""

    def __init__(self, start_ms: int) -> None:
        self.now = int(start_ms)
        self.slept = 0.0

    def now_ms(self) -> int:
        return self.now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.now += round(seconds * 1000)
            self.slept += seconds

    def advance_to(self, ms: int) -> None:
        self.now = max(self.now, int(ms))


class BarCalendar:
    """Scheduled close times of one timeframe in one exchange session (holidays unknown: a weekday is a session).

    Date-labelled timeframes (1d, 1wk, 1mo) ask ``bar_times`` for the closes of candidate session dates, so
    the schedule uses exactly the sources' rule. Intraday closes lie on a grid of the interval, anchored at a
    known close (the last emitted bar's) so vendors' grids such as 09:30, 10:30, ... are kept.
    """

    def __init__(self, timeframe: str, session: Session) -> None:
        self.timeframe = timeframe
        self.session = session
        self.intraday = is_intraday(timeframe)
        self.step_ms = timeframe_seconds(timeframe) * 1000

    def next_close(self, after_ms: int, anchor_ms: int | None = None) -> int:
        """The first scheduled close strictly after ``after_ms``."""
        if self.intraday:
            anchor = after_ms - after_ms % self.step_ms if anchor_ms is None else anchor_ms
            k = (after_ms - anchor) // self.step_ms + 1
            return anchor + k * self.step_ms
        closes = self._closes_around(after_ms)
        return int(closes[closes > after_ms][0])

    def last_close(self, at_ms: int, anchor_ms: int | None = None) -> int:
        """The last scheduled close at or before ``at_ms``."""
        if self.intraday:
            anchor = at_ms - at_ms % self.step_ms if anchor_ms is None else anchor_ms
            return anchor + ((at_ms - anchor) // self.step_ms) * self.step_ms
        closes = self._closes_around(at_ms)
        return int(closes[closes <= at_ms][-1])

    def _closes_around(self, ms: int) -> np.ndarray:
        local = pd.Timestamp(ms, unit="ms", tz="UTC").tz_convert(self.session.tz).tz_localize(None).normalize()
        span = 70 if self.timeframe == "1mo" else 21
        days = pd.date_range(local - pd.Timedelta(days=span), local + pd.Timedelta(days=span), freq="D")
        days = days[days.day_of_week < 5]
        _, closes = bar_times(pd.DatetimeIndex(days), self.timeframe, self.session)
        return np.unique(closes[closes >= 0])
