"""Row labels from the time column(s) of a file: text stamps with or without UTC offsets, epoch numbers, dates.

The way a column is read is decided once per file (``detect_time_format``), from all of its values, and then
applied to every chunk, so a file read in chunks gives the same times as one read whole:

- epoch numbers (or digit strings): the unit by magnitude (below 1e11 seconds, 1e14 milliseconds, 1e17
  microseconds, else nanoseconds: right for every stamp after 1973), or ``--time-unit``; 8-digit integers
  that are valid dates (20200102) are YYYYMMDD dates unless a unit is given;
- stamps with a UTC offset (yfinance ``history``: ``2020-03-06 00:00:00-05:00`` then ``-04:00`` after the
  DST change): instants in UTC; when every stamp is local midnight they label session dates, and the date
  is the one written (an offset is not a reason to move a daily bar to the day before);
- tz-aware datetimes (Parquet): the same two cases; naive text and datetimes stay naive (read later in the
  session time zone). Day-first dates (31.12.2020, 31/12/2020) are recognised from the values.

A value that cannot be placed becomes NaT, and its row a dead letter with the reason ``time_fault`` gives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format

from vpa_stream.producers.sources.base import SourceError

EPOCH_UNITS = ("s", "ms", "us", "ns")
_UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
_OFFSET = re.compile(r"\s*(?:Z|UTC|GMT|[+-]\d\d:?\d\d)$", re.IGNORECASE)
_NUMBER = r"^\s*-?\d+(?:\.\d*)?\s*$"
_DMY = r"^\s*(\d{1,2})[./-](\d{1,2})[./-](\d{2,4})\b"
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)|(?<!\d)\d{4}(?=\d{4}(?!\d))")


@dataclass(frozen=True, slots=True)
class TimeFormat:
    """How one file's time column is read (see the module docstring)."""

    kind: str = "text"  # text | epoch | yyyymmdd | datetime
    unit: str | None = None  # epoch unit
    offsets: bool = False  # text with UTC offsets (or tz-aware datetimes)
    dates: bool = False  # every stamp is a local midnight: session dates, as written
    text_format: str | None = None  # strptime format for non-ISO text, guessed once per file
    dayfirst: bool = False


def check_time_unit(unit: str | None) -> str | None:
    """``--time-unit``: s, ms, us, ns, or auto/None (by magnitude)."""
    if unit is None or unit == "" or unit == "auto":
        return None
    key = {"sec": "s", "seconds": "s", "millis": "ms", "milliseconds": "ms", "micros": "us",
           "microseconds": "us", "nanos": "ns", "nanoseconds": "ns"}.get(unit.lower(), unit.lower())
    if key not in EPOCH_UNITS:
        raise ValueError(f"unknown time unit {unit!r}: use s, ms, us, ns or auto")
    return key


def epoch_unit(values: np.ndarray) -> str:
    """The unit of epoch numbers by their magnitude (median of the absolute values)."""
    finite = np.abs(values[np.isfinite(values)])
    m = float(np.median(finite)) if len(finite) else 0.0
    return "s" if m < 1e11 else "ms" if m < 1e14 else "us" if m < 1e17 else "ns"


def _texts(values: pd.Series) -> pd.Series:
    return values.astype("string").str.strip()


def _yyyymmdd(numbers: np.ndarray) -> bool:
    finite = numbers[np.isfinite(numbers)]
    if not len(finite) or np.any(finite != np.floor(finite)):
        return False
    if np.any((finite < 18000101) | (finite > 22001231)):
        return False
    month, day = (finite // 100) % 100, finite % 100
    return bool(np.all((month >= 1) & (month <= 12) & (day >= 1) & (day <= 31)))


def detect_time_format(values: pd.Series, unit: str | None = None, where: str = "") -> TimeFormat:
    """Decide how to read a whole time column (strings from a CSV, or typed values from Parquet)."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        tz = getattr(values.dt, "tz", None)
        if tz is None:
            return TimeFormat(kind="datetime")
        return TimeFormat(kind="datetime", offsets=True, dates=_all_midnight(values.dt.tz_localize(None)))
    if pd.api.types.is_bool_dtype(values.dtype):
        raise SourceError(f"{where}: the time column holds true/false values, not times")
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)
        if unit is None and _yyyymmdd(numbers):
            return TimeFormat(kind="yyyymmdd")
        return TimeFormat(kind="epoch", unit=unit or epoch_unit(numbers))
    text = _texts(values)
    present = text[text.notna() & (text != "")]
    numeric = present.str.match(_NUMBER)
    if len(present) and numeric.mean() > 0.5:
        numbers = pd.to_numeric(present[numeric], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        if unit is None and _yyyymmdd(numbers):
            return TimeFormat(kind="yyyymmdd")
        return TimeFormat(kind="epoch", unit=unit or epoch_unit(numbers))
    if unit is not None and len(present):
        sample = present.iloc[0]
        raise SourceError(f"{where}: --time-unit {unit} was given but the time column holds text like {sample!r}, "
                          "not epoch numbers: leave --time-unit out")
    has_offset = present.str.contains(_OFFSET)
    if len(present) and has_offset.any():
        wall = _parse_text(present.str.replace(_OFFSET, "", regex=True), None, False)
        return TimeFormat(offsets=True, dates=bool(has_offset.all()) and _all_midnight(wall))
    iso = pd.to_datetime(present, errors="coerce", format="ISO8601")
    if iso.notna().mean() >= 0.9 or not len(present):
        return TimeFormat()
    dayfirst = _dayfirst(present)
    sample = present[iso.isna()].iloc[0]
    return TimeFormat(text_format=guess_datetime_format(sample, dayfirst=dayfirst), dayfirst=dayfirst)


def _all_midnight(times: pd.Series) -> bool:
    valid = times.dropna()
    return bool(len(valid)) and bool((valid == valid.dt.normalize()).all())


def _dayfirst(text: pd.Series) -> bool:
    """d/m/y or m/d/y: a first field above 12 settles it, else a second one; else dots mean day first."""
    parts = text.str.extract(_DMY)
    if parts.empty or parts[0].isna().all():
        return False
    first = pd.to_numeric(parts[0], errors="coerce")
    second = pd.to_numeric(parts[1], errors="coerce")
    if (first > 12).any():
        return True
    if (second > 12).any():
        return False
    return bool(text.str.match(r"^\s*\d{1,2}\.\d{1,2}\.").any())


def _parse_text(text: pd.Series, fmt: str | None, dayfirst: bool, utc: bool = False) -> pd.Series:
    """ISO 8601 first (fast), then the file's guessed format, then a lenient parse whose year must appear in
    the text (a lenient parser fills missing fields from today's date: never let a stray number become a time)."""
    times = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=utc)
    missing = times.isna() & text.notna() & (text != "")
    if fmt and missing.any():
        again = pd.to_datetime(text[missing], errors="coerce", format=fmt, utc=utc)
        times = times.where(~missing, again)
        missing = times.isna() & text.notna() & (text != "")
    if missing.any():
        rest = text[missing]
        lenient = pd.to_datetime(rest, errors="coerce", format="mixed", dayfirst=dayfirst, utc=utc)
        ok = [pd.notna(t) and str(t.year) in s for s, t in zip(rest.tolist(), lenient.tolist(), strict=True)]
        lenient = lenient.where(pd.Series(ok, index=rest.index, dtype=bool))
        times = times.where(~missing, lenient)
    return times


def parse_times(values: pd.Series, fmt: TimeFormat | None = None, unit: str | None = None) -> pd.Series:
    """Row labels as datetimes (naive, or UTC) by ``fmt`` (detected from ``values`` when not given)."""
    fmt = fmt or detect_time_format(values, unit)
    if fmt.kind == "datetime":
        if fmt.offsets and fmt.dates:
            return values.dt.tz_localize(None).dt.normalize()
        return values.dt.tz_convert("UTC") if fmt.offsets else values
    if fmt.kind in ("epoch", "yyyymmdd"):
        numbers = _numbers(values)
        if fmt.kind == "yyyymmdd":
            return pd.to_datetime(numbers.astype("string"), errors="coerce", format="%Y%m%d")
        return _epochs(numbers, fmt.unit or "s")
    if not fmt.offsets and fmt.text_format is None and values.dtype == object:
        fast = pd.to_datetime(values, errors="coerce", format="ISO8601")  # the common case: ISO text, no offset
        if not fast.isna().any():
            return fast
    text = _texts(values)
    if fmt.offsets:
        if fmt.dates:
            wall = _parse_text(text.str.replace(_OFFSET, "", regex=True), None, False)
            return wall.dt.normalize()
        return _parse_text(text, fmt.text_format, fmt.dayfirst, utc=True)
    return _parse_text(text, fmt.text_format, fmt.dayfirst)


def _numbers(values: pd.Series) -> pd.Series:
    """Epoch cells as nullable numbers, integers kept exact (nanosecond stamps do not fit a float)."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return pd.to_numeric(values, dtype_backend="numpy_nullable")
    text = _texts(values)
    text = text.where(text.str.match(_NUMBER).fillna(False))
    return pd.to_numeric(text, errors="coerce", dtype_backend="numpy_nullable")


def _epochs(numbers: pd.Series, unit: str) -> pd.Series:
    """Epoch numbers to UTC datetimes; out-of-range values become NaT instead of raising. Integers are scaled
    in integer arithmetic (a float would round a millisecond stamp times 1e6 to a neighbouring nanosecond)."""
    scale = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}[unit]
    limit = 9_000_000_000_000_000_000 // scale
    out = np.full(len(numbers), np.iinfo(np.int64).min, dtype=np.int64)
    if pd.api.types.is_integer_dtype(numbers.dtype):
        ints = numbers.to_numpy(dtype=np.int64, na_value=0)
        ok = numbers.notna().to_numpy() & (np.abs(ints) < limit)
        out[ok] = ints[ok] * scale
    else:
        x = numbers.to_numpy(dtype="float64", na_value=np.nan)
        ok = np.isfinite(x) & (np.abs(x) < limit)
        whole = ok & (x == np.floor(np.where(ok, x, 0.0))) & (np.abs(x) < 2.0**53)
        out[whole] = x[whole].astype(np.int64) * scale
        frac = ok & ~whole
        out[frac] = (np.round(x[frac] * (scale / 1000.0)) * 1000).astype(np.int64)  # to the microsecond
    index = pd.DatetimeIndex(out.view("datetime64[ns]")).tz_localize("UTC")
    return pd.Series(index, index=numbers.index)


def time_fault(raw: object, unit: str | None = None) -> str:
    """Why a time cell could not be placed, for its dead letter."""
    text = "" if raw is None or (isinstance(raw, float) and np.isnan(raw)) else str(raw).strip()
    if text == "" or text == "<NA>":
        return "time is empty"
    if unit:
        return f"time {text!r} is out of range as {_UNIT_NAMES.get(unit, unit)} since 1970"
    return f"time {text!r} is not a valid date or time"


def unit_name(unit: str) -> str:
    return _UNIT_NAMES.get(unit, unit)
