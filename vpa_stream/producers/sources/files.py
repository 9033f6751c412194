"""CSV and Parquet bars from a file or a directory of files (``csv:PATH``, ``parquet:PATH``)."""

from __future__ import annotations

from collections.abc import Iterator
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

TIME_COLUMNS = ("timestamp", "datetime", "date", "time")
CHUNK_ROWS = 256
PROBE_ROWS = 1024


class FileSource(Source):
    """Rows with a date|datetime|timestamp column, open/high/low/close/volume, and an optional symbol column.

    Files without a symbol column take ``--symbol``, else the file's stem (``AAPL.csv`` -> AAPL).
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
            symbol = self.options.symbol or _stem(path)
            time_col = self._sorted_single_symbol_time_column(path)
            if time_col is not None:
                if not wanted or symbol.upper() in wanted:
                    out.append(self._chunked(path, symbol))
                continue
            for raw in frame_series(self._load(path), str(path), self.options, default_symbol=_stem(path)):
                if not wanted or raw.symbol.upper() in wanted:
                    out.append(series_items(raw, self.options, self.name))
        return out

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
        if "symbol" in lower or "ticker" in lower:
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

    def _chunked(self, path: Path, symbol: str) -> Iterator[Item]:
        reader = SeriesReader(symbol, self.options.timeframe, "shares", self.options, self.name)
        for chunk in self._chunks(path):
            for raw in frame_series(chunk, str(path), self.options, default_symbol=symbol):
                yield from reader.items(raw.frame)
            if reader.done:
                return


def frame_series(frame: pd.DataFrame, where: str, options: SourceOptions, default_symbol: str,
                 volume_kind: str = "shares") -> Iterator[RawSeries]:
    """Split a table of bars into per-symbol series indexed by their time column."""
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
    frame = standard_columns(frame, where)
    symbol_key = str(symbol_col).strip().lower() if symbol_col is not None else None
    if symbol_key and symbol_key in frame.columns:
        for symbol, part in frame.groupby(symbol_key, sort=True):
            yield RawSeries(str(symbol), options.timeframe, part.drop(columns=[symbol_key]), volume_kind)
    else:
        yield RawSeries(options.symbol or default_symbol, options.timeframe, frame, volume_kind)


def parse_times(values: pd.Series) -> pd.Series:
    """Row labels as datetimes: naive stays naive (read later in the session zone), offsets become UTC."""
    times = pd.to_datetime(values, errors="coerce", utc=False, format="mixed")
    if times.dt.tz is None and values.astype(str).str.contains(r"[+-]\d\d:?\d\d$|Z$", regex=True).any():
        times = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
    return times


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".csv.gz", ".parquet", ".csv", ".txt", ".pq"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem
