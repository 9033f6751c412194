"""From a table of cells (CSV text or typed Parquet columns) to standard per-series frames.

A ``ColumnPlan`` says which column holds what (found from the header names once per file); ``normalise``
applies it to a chunk: times by the file's ``TimeFormat``, prices and volume as floats, and for every row that
cannot become a bar a fault naming the cell (``open 'abc' is not a number``) and its line in the file.
The frame it returns is what ``SeriesReader`` reads: a DatetimeIndex of row labels, columns open, high, low,
close, volume, optional adj_close and split, and the bookkeeping columns ``_row``, ``_fault``, ``_payload``.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vpa_stream.producers.sources.base import SourceError
from vpa_stream.producers.sources.timeframes import column_timeframes
from vpa_stream.producers.sources.times import TimeFormat, detect_time_format, parse_times, time_fault
from vpa_stream.schemas.records import payload_text

PRICE_FIELDS = ("open", "high", "low", "close", "volume")

#: normalised header name -> field (names are lower-cased, with spaces, dots, dashes and slashes as "_")
FIELD_NAMES: dict[str, str] = {
    **{n: "open" for n in ("open", "o", "open_price", "opening_price", "first")},
    **{n: "high" for n in ("high", "h", "high_price", "max")},
    **{n: "low" for n in ("low", "l", "low_price", "min")},
    **{n: "close" for n in ("close", "c", "close_price", "closing_price", "close_last", "last", "last_price")},
    **{n: "volume" for n in ("volume", "vol", "v", "volume_traded", "real_volume", "base_volume")},
    **{n: "tick_volume" for n in ("tickvol", "tick_volume", "tick_vol", "ticks")},
    **{n: "adj_close" for n in ("adj_close", "adjclose", "adjusted_close", "adj_close_price")},
    **{n: "split" for n in ("stock_splits", "splits", "split_ratio", "split", "split_coefficient",
                            "split_factor")},
    **{n: "symbol" for n in ("symbol", "ticker", "sym", "instrument", "code")},
    **{n: "timeframe" for n in ("timeframe", "interval")},
}
#: time columns, in order of preference
TIME_NAMES = ("timestamp", "datetime", "date_time", "date", "time", "open_time", "opentime", "gmt_time",
              "time_utc", "utc_time", "unix", "t")
#: yfinance's own column names: a file with them is a yfinance export (split-adjusted prices, DOMAIN §1)
YFINANCE_ACTIONS = ("dividends", "stock_splits")


def normal_name(name: object) -> str:
    """``"Adj Close"`` -> ``adj_close``, ``<VOL>`` -> ``vol``, ``Close/Last`` -> ``close_last``."""
    text = str(name).strip().strip("\ufeff\"'<>[]").strip().lower()
    return re.sub(r"[\s./\\-]+", "_", text).strip("_")


@dataclass(frozen=True, slots=True)
class ColumnPlan:
    """Which column of a table holds what; ``symbol`` is fixed for one ticker of a wide (yfinance) table."""

    time: Hashable
    fields: dict[str, Hashable]
    clock: Hashable | None = None  # a separate time-of-day column (Stooq <TIME>, MetaTrader)
    symbol_column: Hashable | None = None
    symbol: str | None = None
    volume_kind: str = "shares"
    yfinance: bool = False  # prices split-adjusted by Yahoo: restate them as traded from the split column
    columns: tuple[str, ...] = field(default=())  # the header as found, for messages
    timeframe_column: Hashable | None = None  # each row's timeframe (producers.sources.timeframes)

    @property
    def needed(self) -> list[Hashable]:
        keys = [self.time, *([self.clock] if self.clock is not None else []), *self.fields.values()]
        return keys + [c for c in (self.symbol_column, self.timeframe_column) if c is not None]


def plan_columns(columns: Sequence[Hashable], where: str, symbol: str | None = None,
                 yfinance: bool = False, time_hint: Hashable | None = None,
                 labels: dict[Hashable, object] | None = None) -> ColumnPlan:
    """Find the time, price, volume, adjusted-close, split and symbol columns, or fail with one clear line.
    ``labels`` names columns whose key is not their name (the field level of a two-row header)."""
    names = {c: normal_name(labels[c] if labels and c in labels else c) for c in columns}
    found = tuple(str(labels[c] if labels and c in labels else c) for c in columns)
    fields: dict[str, Hashable] = {}
    for key, name in names.items():
        kind = FIELD_NAMES.get(name)
        if kind is not None and kind not in fields:
            fields[kind] = key
    by_name = {name: key for key, name in reversed(list(names.items()))}
    time_key = time_hint
    if time_key is None:
        time_key = next((by_name[n] for n in TIME_NAMES if n in by_name), None)
    if time_key is None and len(columns) and (names[columns[0]] == "" or names[columns[0]].startswith("unnamed")):
        time_key = columns[0]  # pandas' to_csv of an unnamed index
    if time_key is None:
        raise SourceError(f"{where}: no time column; found {_listing(found)}; name the column of dates or times "
                          "one of date, datetime, timestamp, time or open_time")
    clock = None
    if names.get(time_key) == "date" and "time" in by_name:
        clock = by_name["time"]  # separate date and time-of-day columns
    volume_kind = "shares"
    if "volume" not in fields and "tick_volume" in fields:
        fields["volume"] = fields["tick_volume"]
        volume_kind = "tick"
    missing = [f for f in PRICE_FIELDS if f not in fields]
    if missing:
        raise SourceError(f"{where}: missing column(s) {', '.join(missing)}; found {_listing(found)}; a bar "
                          "file needs open, high, low, close and volume columns (names matched case-insensitively)")
    symbol_column = fields.pop("symbol", None)
    if symbol is not None:
        symbol_column = None
    timeframe_column = fields.pop("timeframe", None)
    yfinance = yfinance or any(n in names.values() for n in YFINANCE_ACTIONS)
    return ColumnPlan(time_key, fields, clock, symbol_column, symbol, volume_kind, yfinance, found, timeframe_column)


def _listing(found: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(repr(c if len(c) <= 40 else c[:37] + "...") for c in found[:limit])
    return (shown + f" and {len(found) - limit} more") if len(found) > limit else (shown or "no columns")


def time_text(frame: pd.DataFrame, plan: ColumnPlan) -> pd.Series:
    """The time cells of a chunk; date and time-of-day columns joined into one stamp."""
    values = frame[plan.time]
    if plan.clock is None:
        return values
    date = values.astype("string").str.strip()
    eight = date.str.fullmatch(r"\d{8}").fillna(False)
    date = date.where(~eight, date.str[:4] + "-" + date.str[4:6] + "-" + date.str[6:8])
    clock = frame[plan.clock].astype("string").str.strip()
    digits = clock.str.fullmatch(r"\d{1,6}").fillna(False)
    padded = clock.str.zfill(6)
    clock = clock.where(~digits, padded.str[:2] + ":" + padded.str[2:4] + ":" + padded.str[4:6])
    return (date + " " + clock.fillna("")).str.strip()


def detect_plan_time_format(frame: pd.DataFrame, plan: ColumnPlan, unit: str | None, where: str) -> TimeFormat:
    return detect_time_format(time_text(frame, plan), unit, where)


_NAN_WORDS = {"nan", "+nan", "-nan"}


def numbers(values: pd.Series, decimal_comma: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Floats of a column and a mask of the cells that are present but not numbers (text left in them)."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return np.full(len(values), np.nan), values.notna().to_numpy()
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.to_numpy(dtype="float64", na_value=np.nan), np.zeros(len(values), dtype=bool)
    if not decimal_comma:
        try:  # the common case, every cell a number: numpy parses the strings in C
            return np.array(values.to_numpy(), dtype="float64"), np.zeros(len(values), dtype=bool)
        except (TypeError, ValueError):
            pass
    text = values.astype("string").str.strip()
    if decimal_comma:
        text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    parsed = pd.to_numeric(text, errors="coerce").astype("float64")
    present = (text.notna() & (text != "")).to_numpy()
    bad = present & np.isnan(parsed.to_numpy()) & ~text.str.lower().isin(_NAN_WORDS).fillna(False).to_numpy()
    out = parsed.to_numpy().copy()
    for i in np.flatnonzero(bad):  # what float() reads (as numpy's fast path does), else behind a currency sign
        cell = str(text.iat[i])
        for candidate in (cell, re.sub(r"^[$€£¥]|[\s\u00a0\u202f]", "", cell)):
            try:
                out[i] = float(candidate)
                bad[i] = False
                break
            except ValueError:
                continue
    return out, bad


def _cell(value: object) -> object:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def normalise(frame: pd.DataFrame, plan: ColumnPlan, fmt: TimeFormat, where: str,
              rows: np.ndarray | None = None, nfields: np.ndarray | None = None,
              faults: dict[int, tuple[str, str]] | None = None, decimal_comma: bool = False,
              width: int | None = None) -> pd.DataFrame:
    """One chunk of a table as a standard frame (see the module docstring).

    ``rows`` are the rows' line numbers in the file, ``nfields`` how many cells each row had (a row shorter than
    a column it needs is a fault), ``faults`` the faults the reader already found (position -> reason, line).
    """
    n = len(frame)
    raw_time = time_text(frame, plan)
    times = parse_times(raw_time, fmt)
    out: dict[str, object] = {}
    bad: dict[str, np.ndarray] = {}
    for name, key in plan.fields.items():
        if name in PRICE_FIELDS or name in ("adj_close", "split"):
            values, unparsed = numbers(frame[key], decimal_comma)
            out[name] = values
            if name in PRICE_FIELDS:
                bad[name] = unparsed
    if "split" in out:
        ratios = np.asarray(out["split"], dtype="float64")
        out["split"] = np.where(np.isfinite(ratios), ratios, 0.0)
    result = pd.DataFrame(out, index=pd.DatetimeIndex(times))
    if plan.symbol_column is not None:
        symbols = frame[plan.symbol_column].astype("string").str.strip()
        result["symbol"] = symbols.fillna("").to_numpy(dtype=object)
    if plan.timeframe_column is not None:
        result["timeframe"] = column_timeframes(frame[plan.timeframe_column]).to_numpy(dtype=object)
    result["_row"] = rows if rows is not None else np.arange(1, n + 1)
    fault_text = np.full(n, None, dtype=object)
    payloads = np.full(n, None, dtype=object)
    time_missing = times.isna().to_numpy()
    any_bad = time_missing.copy()
    for mask in bad.values():
        any_bad |= mask
    empty_price = np.zeros(n, dtype=bool)
    for name in PRICE_FIELDS:
        column = out[name]
        empty_price |= np.isnan(np.asarray(column, dtype="float64")) & ~bad[name]
    positions = set(np.flatnonzero(any_bad | empty_price).tolist())
    if nfields is not None and width is not None:
        positions |= set(np.flatnonzero(nfields < width).tolist())
    if faults:
        positions |= set(faults)
    if positions:
        columns = list(frame.columns)
        for i in sorted(positions):
            if faults and i in faults:
                fault_text[i], payloads[i] = faults[i]
                continue
            reason = _row_fault(i, frame, plan, out, bad, raw_time, time_missing[i], fmt,
                                None if nfields is None or width is None or nfields[i] >= width
                                else f"short row: {int(nfields[i])} field(s) where the header has {width}")
            if reason is None:
                continue  # a literal nan or inf: check_bar says "not a finite number"
            fault_text[i] = reason
            payloads[i] = payload_text({str(c): _cell(frame[c].iloc[i]) for c in columns})
    result["_fault"] = fault_text
    result["_payload"] = payloads
    return result


def _row_fault(i: int, frame: pd.DataFrame, plan: ColumnPlan, out: dict[str, object], bad: dict[str, np.ndarray],
               raw_time: pd.Series, time_missing: bool, fmt: TimeFormat, short: str | None) -> str | None:
    """The reason row ``i`` cannot become a bar (None when only check_bar can say)."""
    if short is not None:
        return short
    reasons = []
    if time_missing:
        reasons.append(time_fault(raw_time.iloc[i], fmt.unit if fmt.kind == "epoch" else None))
    empty = []
    for name in PRICE_FIELDS:
        cell = frame[plan.fields[name]].iloc[i]
        if bad[name][i]:
            reasons.append(f"{name} {str(cell).strip()!r} is not a number")
        elif np.isnan(np.asarray(out[name], dtype="float64")[i]) and (_cell(cell) is None or str(cell).strip() == ""):
            empty.append(name)
    if empty:
        reasons.append(f"{', '.join(empty)} {'is' if len(empty) == 1 else 'are'} empty")
    return "; ".join(reasons) or None


def restate_as_traded(frame: pd.DataFrame) -> pd.DataFrame:
    """Yahoo's prices and volumes are split-adjusted up to the day they were fetched (its Close "adjusted for
    splits"): restate each row as traded, by the splits after it in the file, so the split column can drive the
    engine's point-in-time adjustment (DOMAIN §1) without adjusting twice. A split after the file's last row
    cannot be undone; it leaves the whole file in post-split terms, which the ratios of the rules do not see."""
    ratios = frame["split"].to_numpy(dtype="float64")
    ratios = np.where(np.isfinite(ratios) & (ratios > 0), ratios, 1.0)
    if np.all(ratios == 1.0):
        return frame
    order = np.argsort(frame.index.to_numpy(), kind="stable")
    later = np.ones(len(frame))
    in_order = ratios[order]
    # the product of the splits strictly after each row, in time order
    later[order] = np.concatenate([np.cumprod(in_order[::-1])[::-1][1:], [1.0]])
    out = frame.copy()
    for name in ("open", "high", "low", "close", "adj_close"):
        if name in out.columns:
            out[name] = out[name].to_numpy(dtype="float64") * later
    out["volume"] = out["volume"].to_numpy(dtype="float64") / later
    return out


def padding_rows(frame: pd.DataFrame, plan: ColumnPlan) -> np.ndarray:
    """Rows of a wide (several tickers) table where this ticker has no cell at all: another ticker's session."""
    mask = np.ones(len(frame), dtype=bool)
    for key in plan.fields.values():
        values = frame[key]
        if pd.api.types.is_numeric_dtype(values.dtype):
            mask &= values.isna().to_numpy()
        else:
            text = values.astype("string").str.strip()
            mask &= (text.isna() | (text == "")).to_numpy()
    return mask


def wide_plans(columns: pd.MultiIndex, where: str, yfinance: bool = True) -> tuple[Hashable, list[ColumnPlan]]:
    """The time column and one plan per ticker of a two-level (field, ticker) or (ticker, field) header."""
    flat = list(columns)
    field_level = max(range(2), key=lambda lv: sum(normal_name(k[lv]) in FIELD_NAMES for k in flat))
    ticker_level = 1 - field_level
    time_key = next((k for k in flat if normal_name(k[field_level]) in TIME_NAMES
                     or (normal_name(k[ticker_level]) in TIME_NAMES)), None)
    if time_key is None:
        time_key = flat[0]
    tickers = list(dict.fromkeys(str(k[ticker_level]) for k in flat if k != time_key and str(k[ticker_level]).strip()))
    plans = []
    for ticker in tickers:
        keys = [k for k in flat if str(k[ticker_level]) == ticker and k != time_key]
        labels: dict[Hashable, object] = {k: k[field_level] for k in keys}
        labels[time_key] = "date"
        plans.append(plan_columns([time_key, *keys], f"{where} ticker {ticker}", symbol=ticker, yfinance=yfinance,
                                  time_hint=time_key, labels=labels))
    if not plans:
        raise SourceError(f"{where}: a two-row header without tickers; found {_listing([str(c) for c in flat])}")
    return time_key, plans
