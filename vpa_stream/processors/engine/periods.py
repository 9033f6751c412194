"""Higher-timeframe bars derived from a finer stream: a period is emitted only once it has closed (DOMAIN §3)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from vpa_stream.schemas.models import Bar, datetime_to_ms


class SessionCalendar:
    """Scheduled closes of an exchange session: each session weekday at the session close, local time.

    A day period ends at the first scheduled close at or after a bar's close; a week ends at the close of
    the week's last session weekday. Holidays need no list: a period also ends when a bar of a later period
    arrives, and its close time stays the scheduled one.
    """

    def __init__(self, tz: str, session_close: str, weekdays: tuple[int, ...]) -> None:
        self.tz = ZoneInfo(tz)
        hh, mm = session_close.split(":")
        self.close = time(int(hh), int(mm))
        self.weekdays = frozenset(weekdays)
        self.week_end_day = max(weekdays)

    def _at_close(self, day: date) -> datetime:
        return datetime.combine(day, self.close, tzinfo=self.tz)

    def period_end(self, close_ms: int, timeframe: str) -> int:
        local = datetime.fromtimestamp(close_ms / 1000, self.tz)
        day = local.date()
        if self._at_close(day) < local:
            day += timedelta(days=1)
        if timeframe == "1d":
            while day.weekday() not in self.weekdays:
                day += timedelta(days=1)
        elif timeframe == "1wk":
            day += timedelta(days=(self.week_end_day - day.weekday()) % 7)
        else:
            raise ValueError(f"cannot derive {timeframe} bars; derivable: 1d, 1wk")
        return datetime_to_ms(self._at_close(day))


class PeriodAggregator:
    """Builds ``timeframe`` bars from finer bars of one symbol.

    The first period an aggregator sees may have started before its first bar, so it is never emitted:
    every emitted bar holds all the finer bars of its period that the stream carried.
    """

    __slots__ = ("c", "calendar", "end", "first_period", "h", "l", "o", "open_time", "split", "timeframe", "v")

    def __init__(self, timeframe: str, calendar: SessionCalendar) -> None:
        self.timeframe = timeframe
        self.calendar = calendar
        self.end: int | None = None
        self.first_period = True
        self._reset()

    def _reset(self) -> None:
        self.open_time = 0
        self.o = self.h = self.l = self.c = self.v = 0.0
        self.split = 1.0

    def add(self, bar: Bar) -> list[Bar]:
        """Fold in one finer bar; returns the bars of the periods this bar proves closed (0, 1 or 2)."""
        out: list[Bar] = []
        if self.end is not None and bar.close_time > self.end:
            self._emit(bar, out)  # a bar of a later period closes the open one (a holiday ended its week early)
        if self.end is None:
            self.end = self.calendar.period_end(bar.close_time, self.timeframe)
            self.open_time = bar.open_time
            self.o, self.h, self.l, self.c, self.v = bar.open, bar.high, bar.low, bar.close, bar.volume
            self.split = bar.split_ratio
        else:
            r = bar.split_ratio
            if r != 1.0:  # a split inside the period: its earlier part is restated in post-split terms
                self.o, self.h, self.l = self.o / r, self.h / r, self.l / r
                self.v *= r
                self.split *= r
            self.h = max(self.h, bar.high)
            self.l = min(self.l, bar.low)
            self.c = bar.close
            self.v += bar.volume
        if bar.close_time == self.end:
            self._emit(bar, out)
        return out

    def _emit(self, bar: Bar, out: list[Bar]) -> None:
        assert self.end is not None
        if not self.first_period:
            out.append(Bar(bar.symbol, self.timeframe, self.open_time, self.end, self.o, self.h, self.l, self.c,
                           self.v, bar.volume_kind, self.split, bar.source))
        self.first_period = False
        self.end = None
        self._reset()
