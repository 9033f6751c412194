"""Which timeframe a source's rows are: a ``timeframe`` column, a ``#1h`` suffix on its spec, or its stamps.

Resolution order for a file: a ``timeframe`` (or ``interval``) column decides each row; rows without one take
the spec's suffix (``csv:aapl_1h.csv#1h``) or, without a suffix, the timeframe detected from the stamps: the
most common step between consecutive row labels. Every series a source yields records how its timeframe was
found (a ``Resolution``), which the run summary reports and ``require_supplied`` checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from vpa_stream.producers.sources.base import Resolution, SourceError
from vpa_stream.schemas.models import TIMEFRAME_SECONDS, UnknownTimeframeError, normalise_timeframe

#: columns that carry a row's timeframe
TIMEFRAME_COLUMNS = ("timeframe", "interval")
#: stamps read to detect a timeframe (the start of the series)
DETECT_ROWS = 1000

_HOUR = 3600
_DAY = 86400

#: how a timeframe was found, as the summary says it
ORIGINS = {
    "given": "as asked",
    "suffix": "the #TF suffix of its source",
    "column": "its timeframe column",
    "detected": "detected from its stamps",
}


class TimeframeError(SourceError):
    """Rows whose timeframe cannot be told (too few stamps, a step that is no known timeframe)."""


def timeframe_of_step(step_s: int) -> str | None:
    """The timeframe whose bars are ``step_s`` seconds apart: intraday exactly, a day within an hour (daylight
    saving in stamps at the close), a week within a day, a month as 28 to 31 days."""
    for tf, seconds in TIMEFRAME_SECONDS.items():
        if seconds < _DAY and seconds == step_s:
            return tf
    if abs(step_s - _DAY) <= _HOUR:
        return "1d"
    if abs(step_s - 7 * _DAY) <= _DAY:
        return "1wk"
    if 28 * _DAY <= step_s <= 31 * _DAY:
        return "1mo"
    return None


def detect_timeframe(stamps: pd.DatetimeIndex | pd.Series | Sequence[object], where: str = "rows") -> str:
    """The timeframe of a series from its first ``DETECT_ROWS`` row labels: the most common step between
    consecutive stamps (overnight and weekend gaps are rarer than the bar step), the shorter one on a tie."""
    index = pd.DatetimeIndex(stamps[:DETECT_ROWS] if not isinstance(stamps, pd.Series) else stamps.iloc[:DETECT_ROWS])
    values = np.unique(index.dropna().as_unit("s").asi8)
    steps = np.diff(values)
    if len(steps) < 2:
        raise TimeframeError(f"{where}: too few rows to tell the timeframe from the stamps; add #TF to the "
                             "source (csv:PATH#1h) or a timeframe column")
    kinds, counts = np.unique(steps, return_counts=True)
    step = int(kinds[int(np.argmax(counts))])  # np.unique sorts ascending: argmax takes the shortest of a tie
    tf = timeframe_of_step(step)
    if tf is None:
        raise TimeframeError(f"{where}: its rows are most often {pd.Timedelta(seconds=step)} apart, which is no "
                             f"known timeframe ({', '.join(TIMEFRAME_SECONDS)}); add #TF to the source")
    return tf


def column_timeframes(values: pd.Series) -> pd.Series:
    """A timeframe column normalised (``60m`` -> ``1h``); unknown labels are kept as written, so their rows
    become dead letters with the reason."""
    def norm(label: object) -> str:
        try:
            return normalise_timeframe(str(label))
        except UnknownTimeframeError:
            return str(label)

    return values.map(norm)


def require_supplied(resolutions: Iterable[Resolution], timeframes: Iterable[str]) -> None:
    """Raise ``TimeframeError`` naming what each source supplies when no used series has one of ``timeframes``
    (the primary timeframe, or a context timeframe the run asked for)."""
    found = list(resolutions)
    supplied = {r.timeframe for r in found if r.used}
    missing = [tf for tf in dict.fromkeys(timeframes) if tf not in supplied]
    if not missing:
        return
    seen = "; ".join(f"{r.where} {r.symbol} {r.timeframe} ({ORIGINS[r.origin]})" for r in found[:6])
    more = f" and {len(found) - 6} more" if len(found) > 6 else ""
    raise TimeframeError(f"no source supplies {', '.join(missing)} bars"
                         + (f"; found: {seen}{more}" if found else "; the sources yielded no series"))


def summary_lines(resolutions: Iterable[Resolution], primary: Iterable[str]) -> list[str]:
    """One line per (timeframe, role, origin): what the run used as primary and as context, and how it knew."""
    primary_set = set(primary)
    roles = ("primary", "context", "not used")
    groups: dict[tuple[int, int, str, str, str], list[str]] = {}
    for r in resolutions:
        role = "not used" if not r.used else "primary" if r.timeframe in primary_set or not primary_set else "context"
        key = (roles.index(role), TIMEFRAME_SECONDS.get(r.timeframe, 0), r.timeframe, role, r.origin)
        where = groups.setdefault(key, [])
        label = f"{r.where} {r.symbol}"
        if label not in where:
            where.append(label)
    lines = []
    for (_, _, tf, role, origin), where in sorted(groups.items()):
        shown = ", ".join(where[:3]) + (f" and {len(where) - 3} more" if len(where) > 3 else "")
        lines.append(f"{tf} {role}: {shown} ({ORIGINS[origin]})")
    return lines
