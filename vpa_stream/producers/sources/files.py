"""CSV and Parquet bars from a file or a directory of files (``csv:PATH``, ``parquet:PATH``).

Each file's timeframe comes from a ``timeframe`` column, else the options (a ``#1h`` suffix on the spec), else
its stamps (``producers.sources.timeframes``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from vpa_stream.producers.sources.base import (
    Item,
    RawSeries,
    SeriesReader,
    Source,
    SourceError,
    SourceOptions,
    series_items,
    standard_columns,
)
from vpa_stream.producers.sources.timeframes import (
    DETECT_ROWS,
    TIMEFRAME_COLUMNS,
    column_timeframes,
    detect_timeframe,
)
from vpa_stream.schemas.models import UnknownTimeframeError, normalise_timeframe

TIME_COLUMNS = ("timestamp", "datetime", "date", "time")
CHUNK_ROWS = 256
PROBE_ROWS = 1024


class FileSource(Source):
    """Rows with a date|datetime|timestamp column, open/high/low/close/volume, an optional symbol column and an
    optional timeframe column.

    Files without a symbol column take ``--symbol``, else the file's stem less a timeframe label
    (``AAPL.csv``, ``AAPL_1h.csv`` -> AAPL).
    """

    def __init__(self, path: str | Path, fmt: str, options: SourceOptions | None = None) -> None:
        super().__init__(options)
        self.path = Path(path)
        self.fmt = fmt
        self.name = f"{fmt}:{self.path.name}"

    def files(self) -> list[Path]:
        suffixes = {"csv": (".csv", ".csv.gz", ".txt"), "parquet": (".parquet", ".pq")}[self.fmt]
        if self.path.is_dir():
            found = sorted(p for p in self.path.rglob("*") if p.is_file() and p.name.lower().endswith(suffixes))
            if not found:
                raise SourceError(f"{self.path}: no {self.fmt} files in this directory")
            return found
        if not self.path.exists():
            raise SourceError(f"{self.path}: no such file")
        return [self.path]

    def _load(self, path: Path) -> pd.DataFrame:
        try:
            if self.fmt == "parquet":
                return pd.read_parquet(path)
            return pd.read_csv(path)
        except (OSError, ValueError) as exc:
            raise SourceError(f"{path}: cannot read as {self.fmt}: {exc}") from exc

    def read(self) -> Iterator[RawSeries]:
        for path in self.files():
            frame = self._load(path)
            yield from frame_series(frame, str(path), self.options, default_symbol=_stem(path))

    def streams(self) -> list[Iterator[Item]]:
        """One stream per series. A single-symbol file already in time order is read lazily in chunks of
        CHUNK_ROWS rows, so a backfill over many files holds a few rows per file, not every file, in memory;
        any other file is loaded whole and sorted (a file's row order is not event order)."""
        wanted = {s.upper() for s in self.options.symbols}
        out: list[Iterator[Item]] = []
        for path in self.files():
            where = f"{self.fmt}:{path.name}"
            symbol = self.options.symbol or _stem(path)
            time_col = self._sorted_single_symbol_time_column(path)
            if time_col is not None:
                if not wanted or symbol.upper() in wanted:
                    timeframe, origin = self._file_timeframe(path, time_col)
                    if self.keep(where, symbol, timeframe, origin):
                        out.append(self._chunked(path, symbol, timeframe))
                continue
            for raw in frame_series(self._load(path), str(path), self.options, default_symbol=_stem(path)):
                if (not wanted or raw.symbol.upper() in wanted) and self.keep(where, raw.symbol, raw.timeframe,
                                                                              raw.timeframe_origin):
                    out.append(series_items(raw, self.options, self.name))
        return out

    def _file_timeframe(self, path: Path, time_col: str) -> tuple[str, str]:
        """(timeframe, origin) of a streamed file: the options', else detected from its first stamps."""
        if self.options.timeframe is not None:
            return self.options.timeframe, "given"
        try:
            if self.fmt == "parquet":
                batch = next(pq.ParquetFile(path, pre_buffer=False).iter_batches(
                    batch_size=DETECT_ROWS, columns=[time_col], use_threads=False), None)
                head = batch.column(0).to_pandas() if batch is not None else pd.Series([], dtype=object)
            else:
                head = pd.read_csv(path, usecols=[time_col], nrows=DETECT_ROWS)[time_col]
        except (OSError, ValueError) as exc:
            raise SourceError(f"{path}: cannot read as {self.fmt}: {exc}") from exc
        return detect_timeframe(parse_times(head), str(path)), "detected"

    def _columns(self, path: Path) -> list[str]:
        try:
            if self.fmt == "parquet":
                return list(pq.read_schema(path).names)
            return [str(c) for c in pd.read_csv(path, nrows=0).columns]
        except (OSError, ValueError) as exc:
            raise SourceError(f"{path}: cannot read as {self.fmt}: {exc}") from exc

    def _sorted_single_symbol_time_column(self, path: Path) -> str | None:
        """The time column of a file that can be streamed: one symbol, named time column, ascending, no NaT."""
        columns = self._columns(path)
        lower = {c.strip().lower(): c for c in columns}
        if "symbol" in lower or "ticker" in lower or any(c in lower for c in TIMEFRAME_COLUMNS):
            return None
        time_col = next((lower[c] for c in TIME_COLUMNS if c in lower), None)
        if time_col is None:
            return None
        if self.fmt == "parquet":  # batch by batch, never the whole column at once (it stays resident)
            parquet = pq.ParquetFile(path, pre_buffer=False)
            raws: Iterator[pd.Series] = (b.column(0).to_pandas() for b in parquet.iter_batches(
                batch_size=PROBE_ROWS, columns=[time_col], use_threads=False))
        else:
            raws = iter([pd.read_csv(path, usecols=[time_col])[time_col]])
        last = None
        for raw in raws:
            times = parse_times(raw)
            if times.isna().any() or not times.is_monotonic_increasing:
                return None
            if len(times):
                try:
                    if last is not None and times.iloc[0] < last:
                        return None
                except TypeError:  # naive in one batch, UTC in another: not streamable
                    return None
                last = times.iloc[-1]
        return time_col

    def _chunks(self, path: Path) -> Iterator[pd.DataFrame]:
        if self.fmt == "parquet":
            parquet = pq.ParquetFile(path, pre_buffer=False)  # read one row group at a time, not the file
            for batch in parquet.iter_batches(batch_size=CHUNK_ROWS, use_threads=False):
                yield batch.to_pandas()
        else:
            yield from pd.read_csv(path, chunksize=CHUNK_ROWS)

    def _chunked(self, path: Path, symbol: str, timeframe: str) -> Iterator[Item]:
        reader = SeriesReader(symbol, timeframe, "shares", self.options, self.name)
        options = replace(self.options, timeframe=timeframe)  # found once for the file, not again per chunk
        for chunk in self._chunks(path):
            for raw in frame_series(chunk, str(path), options, default_symbol=symbol):
                yield from reader.items(raw.frame)
            if reader.done:
                return


def frame_series(frame: pd.DataFrame, where: str, options: SourceOptions, default_symbol: str,
                 volume_kind: str = "shares") -> Iterator[RawSeries]:
    """Split a table of bars into per-symbol (and per-timeframe, with a timeframe column) series indexed by their
    time column. Without a timeframe column or ``options.timeframe``, a series' timeframe is its stamps'."""
    frame = frame.copy()
    lower = {str(c).strip().lower(): c for c in frame.columns}
    time_col = next((lower[c] for c in TIME_COLUMNS if c in lower), None)
    if time_col is None:
        if isinstance(frame.index, pd.DatetimeIndex) or str(frame.index.name or "").lower() in TIME_COLUMNS:
            frame = frame.reset_index()
            time_col = frame.columns[0]
        elif str(frame.columns[0]).startswith("Unnamed") or str(frame.columns[0]) == "":
            time_col = frame.columns[0]  # an unnamed first column of times (pandas' to_csv of a DatetimeIndex)
        else:
            raise SourceError(f"{where}: no date, datetime or timestamp column")
    times = parse_times(frame[time_col])
    frame = frame.drop(columns=[time_col])
    frame.index = pd.DatetimeIndex(times)
    symbol_col = lower.get("symbol") or lower.get("ticker")
    tf_col = next((lower[c] for c in TIMEFRAME_COLUMNS if c in lower), None)
    frame = standard_columns(frame, where)
    symbol_key = str(symbol_col).strip().lower() if symbol_col is not None else None
    tf_key = str(tf_col).strip().lower() if tf_col is not None else None
    if tf_key and tf_key in frame.columns:
        frame[tf_key] = column_timeframes(frame[tf_key])
    keys = [k for k in (symbol_key, tf_key) if k and k in frame.columns]
    if not keys:
        yield _series(options.symbol or default_symbol, None, frame, options, where, volume_kind)
        return
    for values, part in frame.groupby(keys, sort=True):
        by = dict(zip(keys, values if isinstance(values, tuple) else (values,), strict=True))
        symbol = str(by[symbol_key]) if symbol_key in by else options.symbol or default_symbol
        yield _series(symbol, by.get(tf_key) if tf_key else None, part.drop(columns=keys), options, where,
                      volume_kind)


def _series(symbol: str, column_timeframe: object, frame: pd.DataFrame, options: SourceOptions, where: str,
            volume_kind: str) -> RawSeries:
    """A series whose timeframe is its column's, else the options', else detected from its stamps."""
    if column_timeframe is not None:
        return RawSeries(symbol, str(column_timeframe), frame, volume_kind, timeframe_origin="column")
    if options.timeframe is not None:
        return RawSeries(symbol, options.timeframe, frame, volume_kind)
    detected = detect_timeframe(frame.index, f"{where} {symbol}")
    return RawSeries(symbol, detected, frame, volume_kind, timeframe_origin="detected")


def parse_times(values: pd.Series) -> pd.Series:
    """Row labels as datetimes: naive stays naive (read later in the session zone), offsets become UTC."""
    times = pd.to_datetime(values, errors="coerce", utc=False, format="mixed")
    if times.dt.tz is None and values.astype(str).str.contains(r"[+-]\d\d:?\d\d$|Z$", regex=True).any():
        times = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
    return times


def _stem(path: Path) -> str:
    """The symbol a file's name gives: its stem less a trailing timeframe label (``AAPL_1h`` -> AAPL)."""
    name = path.name
    stem = path.stem
    for suffix in (".csv.gz", ".parquet", ".csv", ".txt", ".pq"):
        if name.lower().endswith(suffix):
            stem = name[: -len(suffix)]
            break
    head, sep, label = max(stem.rpartition("_"), stem.rpartition("-"), key=lambda parts: len(parts[0]))
    if sep and head and label[:1].isdigit():
        try:
            normalise_timeframe(label)
            return head
        except UnknownTimeframeError:
            pass
    return stem
