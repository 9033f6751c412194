"""CSV and Parquet bars from a file or a directory of files (``csv:PATH``, ``parquet:PATH``).

What a file is comes from the file itself: Parquet by its magic bytes, text (compressed or not) otherwise,
whichever prefix named it. Its layout (header, delimiter, time column and format, yfinance shapes) is found
once per file (``textfile``, ``table``, ``times``); a file that cannot be read as bars fails with one line
naming what was found, and a row that cannot be a bar becomes a dead letter naming its line.

Each file's timeframe comes from a ``timeframe`` column, else the options (a ``#1h`` suffix on the spec), else
its stamps (``producers.sources.timeframes``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from vpa_stream.producers.sources.base import (
    Item,
    RawSeries,
    SeriesReader,
    Source,
    SourceError,
    SourceOptions,
    series_items,
)
from vpa_stream.producers.sources.table import (
    ColumnPlan,
    detect_plan_time_format,
    normalise,
    padding_rows,
    plan_columns,
    restate_as_traded,
    time_text,
    wide_plans,
)
from vpa_stream.producers.sources.textfile import TextTable, file_kind
from vpa_stream.producers.sources.timeframes import DETECT_ROWS, detect_timeframe
from vpa_stream.producers.sources.times import TimeFormat, detect_time_format, parse_times, unit_name
from vpa_stream.schemas.models import UnknownTimeframeError, normalise_timeframe

__all__ = ["FileSource", "frame_series", "parse_times"]

log = logging.getLogger(__name__)

TIME_COLUMNS = ("timestamp", "datetime", "date", "time")
CHUNK_ROWS = 256
PROBE_ROWS = 1024
SUFFIXES = {
    "csv": tuple(base + comp for base in (".csv", ".txt", ".tsv", ".prn")
                 for comp in ("", ".gz", ".bz2", ".xz", ".zst", ".zstd", ".zip")),
    "parquet": (".parquet", ".pq"),
}


class FileSource(Source):
    """Bar files: a time column, open/high/low/close/volume, an optional symbol column (see README "Your own data").

    Files without a symbol column take ``--symbol``, else the file's stem less a timeframe label
    (``AAPL.csv``, ``AAPL_1h.csv`` -> AAPL).
    """

    def __init__(self, path: str | Path, fmt: str, options: SourceOptions | None = None) -> None:
        super().__init__(options)
        self.path = Path(path)
        self.fmt = fmt
        self.name = f"{fmt}:{self.path.name}"

    def files(self) -> list[Path]:
        if self.path.is_dir():
            suffixes = SUFFIXES[self.fmt]
            found = sorted(p for p in self.path.rglob("*") if p.is_file() and p.name.lower().endswith(suffixes))
            if not found:
                raise SourceError(f"{self.path}: no {self.fmt} files in this directory (looked for "
                                  f"{', '.join(SUFFIXES[self.fmt][:4])} ...)")
            return found
        if not self.path.exists():
            raise SourceError(f"{self.path}: no such file")
        if not self.path.is_file():
            raise SourceError(f"{self.path}: not a file or directory")
        return [self.path]

    def table(self, path: Path) -> TableFile:
        try:
            kind = file_kind(path)
        except OSError as exc:
            raise SourceError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
        if kind == "parquet":
            return ParquetTable(path, self.options)
        return CsvTable(path, self.options)

    def read(self) -> Iterator[RawSeries]:
        for path in self.files():
            yield from self.table(path).series()

    def streams(self) -> list[Iterator[Item]]:
        """One stream per series. A single-symbol file already in time order is read lazily in chunks of
        CHUNK_ROWS rows, so a backfill over many files holds a few rows per file, not every file, in memory;
        any other file is loaded whole and sorted (a file's row order is not event order)."""
        wanted = {s.upper() for s in self.options.symbols}
        out: list[Iterator[Item]] = []
        for path in self.files():
            table = self.table(path)
            where = f"{self.fmt}:{path.name}"
            if table.streamable():
                if not wanted or table.symbol.upper() in wanted:
                    timeframe, origin = table.timeframe()
                    if self.keep(where, table.symbol, timeframe, origin):
                        out.append(table.stream(self.name, timeframe))
                continue
            for raw in table.series():
                if (not wanted or raw.symbol.upper() in wanted) and self.keep(where, raw.symbol, raw.timeframe,
                                                                              raw.timeframe_origin):
                    out.append(series_items(raw, self.options, self.name))
        return out

    def _sorted_single_symbol_time_column(self, path: Path) -> str | None:
        """The time column of a file that can be streamed: one symbol, named time column, ascending, no NaT."""
        table = self.table(path)
        return str(table.plans[0].time) if table.streamable() else None


class TableFile:
    """One file of bars: its column plans (one, or one per ticker of a wide file), its time format, and its
    rows as standard frames, streamed in chunks or loaded whole. Subclasses read the cells."""

    row_word = "row"

    def __init__(self, path: Path, options: SourceOptions) -> None:
        self.path = path
        self.where = str(path)
        self.options = options
        self.wide = False
        self.plans: list[ColumnPlan] = []
        self._format: TimeFormat | None = None
        self._streamable: bool | None = None
        self._first_times: pd.Series | None = None  # the first DETECT_ROWS stamps, to detect the timeframe on

    @property
    def symbol(self) -> str:
        return self.options.symbol or _stem(self.path)

    # -- hooks ----------------------------------------------------------------------------------------------------
    def cell_chunks(self, size: int) -> Iterator[tuple[pd.DataFrame, np.ndarray, np.ndarray | None, dict | None]]:
        """(cells, row numbers, cells per row or None, faults found by the reader or None) per chunk."""
        raise NotImplementedError

    def time_cells(self) -> pd.DataFrame:
        """The time column (and the time-of-day column) of the whole file."""
        raise NotImplementedError

    def width(self) -> int | None:
        return None

    decimal_comma = False

    # -- shared ---------------------------------------------------------------------------------------------------
    def time_format(self) -> TimeFormat:
        """The file's time format, from its whole time column, read once (with it: whether it can stream)."""
        if self._format is None:
            plan = self.plans[0]
            text = time_text(self.time_cells(), plan)
            self._format = fmt = detect_time_format(text, self.options.time_unit, self.where)
            times = parse_times(text, fmt)
            if fmt.kind == "epoch" and times.notna().any():
                _check_epoch_years(times, fmt, self.where, self.options.time_unit)
            self._streamable = (not self.wide and plan.symbol_column is None and not plan.yfinance
                                and plan.timeframe_column is None
                                and bool(times.notna().all()) and times.is_monotonic_increasing)
            self._first_times = times.iloc[:DETECT_ROWS]
        return self._format

    def timeframe(self) -> tuple[str, str]:
        """(timeframe, origin) of a streamable file: the options', else detected from its first stamps."""
        if self.options.timeframe is not None:
            return self.options.timeframe, "given"
        self.time_format()
        assert self._first_times is not None
        return detect_timeframe(self._first_times, self.where), "detected"

    def streamable(self) -> bool:
        """One symbol, no symbol column, not a yfinance export (its splits restate the rows before them), and
        times ascending with none missing."""
        self.time_format()
        return bool(self._streamable)

    def _normalised(self, cells: pd.DataFrame, plan: ColumnPlan, rows: np.ndarray, nfields: np.ndarray | None,
                    faults: dict | None) -> pd.DataFrame:
        if self.wide:
            keep = ~padding_rows(cells, plan)
            if not keep.all():
                positions = np.flatnonzero(keep)
                remap = {int(np.searchsorted(positions, k)): v for k, v in (faults or {}).items() if keep[k]}
                cells, rows = cells.iloc[positions], rows[positions]
                nfields = nfields[positions] if nfields is not None else None
                faults = remap
        return normalise(cells, plan, self.time_format(), self.where, rows, nfields, faults, self.decimal_comma,
                         self.width())

    def stream(self, source_name: str, timeframe: str) -> Iterator[Item]:
        plan = self.plans[0]
        reader = SeriesReader(self.symbol, timeframe, plan.volume_kind, self.options, source_name,
                              file=self.where, row_word=self.row_word)
        for cells, rows, nfields, faults in self.cell_chunks(CHUNK_ROWS):
            yield from reader.items(self._normalised(cells, plan, rows, nfields, faults))
            if reader.done:
                return

    def series(self) -> Iterator[RawSeries]:
        parts: list[list[pd.DataFrame]] = [[] for _ in self.plans]
        for cells, rows, nfields, faults in self.cell_chunks(65536):
            for k, plan in enumerate(self.plans):
                parts[k].append(self._normalised(cells, plan, rows, nfields, faults))
        for plan, frames in zip(self.plans, parts, strict=True):
            frame = pd.concat(frames) if frames else pd.DataFrame()
            yield from split_series(frame, plan, self.where, self.options, plan.symbol or self.symbol,
                                    self.row_word)


class CsvTable(TableFile):
    row_word = "line"

    def __init__(self, path: Path, options: SourceOptions) -> None:
        super().__init__(path, options)
        self.text = TextTable(path, options.delimiter)
        layout = self.text.layout
        self.decimal_comma = layout.decimal_comma
        if layout.two_level:
            self.wide = True
            _, self.plans = wide_plans(pd.MultiIndex.from_tuples(layout.columns), self.where)
        else:
            self.plans = [plan_columns(list(layout.columns), self.where)]
        self._positions = {key: i for i, key in enumerate(layout.columns)}

    def width(self) -> int:
        return 1 + max(self._positions[k] for plan in self.plans for k in plan.needed)

    def cell_chunks(self, size: int) -> Iterator[tuple[pd.DataFrame, np.ndarray, np.ndarray | None, dict | None]]:
        for chunk in self.text.chunks(size):
            yield chunk.frame, chunk.rows, chunk.nfields, chunk.faults

    def time_cells(self) -> pd.DataFrame:
        plan = self.plans[0]
        keys = [plan.time] + ([plan.clock] if plan.clock is not None else [])
        parts = [chunk.frame[keys] for chunk in self.text.chunks(65536)]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({k: [] for k in keys})


class ParquetTable(TableFile):
    """A Parquet file, with the time in a column or in the stored pandas index (``df.to_parquet()`` of a
    DatetimeIndex), one ticker or several side by side (a yfinance download frame)."""

    def __init__(self, path: Path, options: SourceOptions) -> None:
        super().__init__(path, options)
        try:
            self.file = pq.ParquetFile(path, pre_buffer=False)
        except (OSError, pa.ArrowException) as exc:
            raise SourceError(f"{path}: cannot read as parquet: {exc}") from exc
        schema = self.file.schema_arrow
        meta = schema.pandas_metadata or {}
        names = list(schema.names)
        if len(meta.get("column_indexes", [])) == 2:  # MultiIndex columns: load whole, split by ticker
            self.wide = True
            self.frame = _time_as_column(self._read_pandas())
            _, self.plans = wide_plans(self.frame.columns, self.where)
            return
        index_columns = [c for c in meta.get("index_columns", []) if isinstance(c, str)]
        hint = None
        if index_columns and not any(normal in TIME_COLUMNS for normal in (n.lower() for n in names)):
            hint = index_columns[0]  # the time lives in the stored index (named or __index_level_0__)
        self.plans = [plan_columns(names, self.where, time_hint=hint,
                                   labels={c: "date" for c in index_columns if c == hint})]

    def _read_pandas(self) -> pd.DataFrame:
        try:
            return self.file.read(use_threads=False).to_pandas()
        except (OSError, pa.ArrowException, ValueError) as exc:
            raise SourceError(f"{self.where}: cannot read as parquet: {exc}") from exc

    def _batches(self, size: int, columns: list[str] | None) -> Iterator[pd.DataFrame]:
        try:
            for batch in self.file.iter_batches(batch_size=size, columns=columns, use_threads=False):
                yield pa.Table.from_batches([batch]).to_pandas(ignore_metadata=True)
        except (OSError, pa.ArrowException) as exc:
            raise SourceError(f"{self.where}: cannot read as parquet: {exc}") from exc

    def cell_chunks(self, size: int) -> Iterator[tuple[pd.DataFrame, np.ndarray, np.ndarray | None, dict | None]]:
        if self.wide:
            yield self.frame, np.arange(1, len(self.frame) + 1), None, None
            return
        seen = 0
        columns = [str(c) for c in dict.fromkeys(self.plans[0].needed)]
        for frame in self._batches(size, columns):
            yield frame, np.arange(seen + 1, seen + len(frame) + 1), None, None
            seen += len(frame)

    def time_cells(self) -> pd.DataFrame:
        plan = self.plans[0]
        if self.wide:
            return self.frame[[plan.time]]
        keys = [str(plan.time)] + ([str(plan.clock)] if plan.clock is not None else [])
        parts = list(self._batches(PROBE_ROWS * 64, keys))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({k: [] for k in keys})


def _check_epoch_years(times: pd.Series, fmt: TimeFormat, where: str, unit: str | None) -> None:
    """Epoch numbers read in the wrong unit land in 1970 or centuries ahead: say so once, with the fix."""
    years = times.dropna().dt.year
    low, high = int(years.min()), int(years.max())
    if low < 1975 or high > 2200:
        hint = "leave --time-unit out to detect the unit" if unit else "give the unit with --time-unit"
        log.warning("%s: epoch times read as %s fall in %d..%d; %s", where, unit_name(fmt.unit or "s"), low, high,
                    hint)


def split_series(frame: pd.DataFrame, plan: ColumnPlan, where: str, options: SourceOptions, default_symbol: str,
                 row_word: str = "row", volume_kind: str | None = None) -> Iterator[RawSeries]:
    """Per-symbol series of a normalised frame, with yfinance's split-adjusted prices restated as traded."""
    kind = volume_kind or plan.volume_kind
    if plan.yfinance and not frame.empty:
        frame = _yfinance_prices(frame, plan, where, options)
    fallback = options.symbol if plan.symbol is None and options.symbol else default_symbol
    keys = [k for k in ("symbol", "timeframe") if k in frame.columns]
    if not keys:
        yield _series(fallback, None, frame, kind, options, where, row_word)
        return
    for values, part in frame.groupby(keys, sort=True):
        by = dict(zip(keys, values, strict=True))
        yield _series(str(by.get("symbol", fallback)), by.get("timeframe"), part.drop(columns=keys), kind, options,
                      where, row_word)


def _series(symbol: str, column_timeframe: object, frame: pd.DataFrame, kind: str, options: SourceOptions,
            where: str, row_word: str) -> RawSeries:
    """A series whose timeframe is its timeframe column's, else the options', else detected from its stamps."""
    if column_timeframe is not None:
        return RawSeries(symbol, str(column_timeframe), frame, kind, file=where, row_word=row_word,
                         timeframe_origin="column")
    if options.timeframe is not None:
        return RawSeries(symbol, options.timeframe, frame, kind, file=where, row_word=row_word)
    detected = detect_timeframe(frame.index, f"{where} {symbol}")
    return RawSeries(symbol, detected, frame, kind, file=where, row_word=row_word, timeframe_origin="detected")


def _yfinance_prices(frame: pd.DataFrame, plan: ColumnPlan, where: str, options: SourceOptions) -> pd.DataFrame:
    """yfinance without an Adj Close column is back-adjusted (``auto_adjust=True``, its default): allowed only
    behind the explicit flag (DOMAIN §1), and then its splits are already in the prices. With Adj Close, Yahoo's
    prices are still split-adjusted: restate them as traded so the engine's point-in-time split handling holds."""
    if "adj_close" not in frame.columns:
        if not options.back_adjusted:
            raise SourceError(f"{where}: yfinance prices without an Adj Close column are back-adjusted "
                              "(auto_adjust=True, the yfinance default), which leaks later dividends and splits "
                              "into old bars; export with auto_adjust=False, or set back_adjusted = true under "
                              "[engine] in the config to use them as they are")
        return frame.drop(columns=["split"], errors="ignore")
    if "split" not in frame.columns:
        return frame
    if "symbol" in frame.columns:
        return pd.concat([restate_as_traded(part) for _, part in frame.groupby("symbol", sort=False)])
    return restate_as_traded(frame)


def _time_as_column(frame: pd.DataFrame) -> pd.DataFrame:
    """A DatetimeIndex, or an index named like a time, as the first column (a stored pandas index)."""
    name = frame.index.name
    if isinstance(frame.index, pd.DatetimeIndex) or (name is not None and str(name).lower() in
                                                     (*TIME_COLUMNS, "open_time", "date_time")):
        label: object = name if name is not None else "date"
        if isinstance(frame.columns, pd.MultiIndex):
            label = (label, *([""] * (frame.columns.nlevels - 1)))
        frame = frame.copy()
        frame.index.name = None
        frame.insert(0, label, frame.index)  # type: ignore[arg-type]
        frame = frame.reset_index(drop=True)
    return frame


def frame_series(frame: pd.DataFrame, where: str, options: SourceOptions, default_symbol: str,
                 volume_kind: str = "shares") -> Iterator[RawSeries]:
    """Split a table of bars (a DataFrame: the sample, a Parquet file, a test's frame) into per-symbol series."""
    frame = _time_as_column(frame)
    if isinstance(frame.columns, pd.MultiIndex):
        _, plans = wide_plans(frame.columns, where)
        wide = True
    else:
        plans = [plan_columns(list(frame.columns), where)]
        wide = False
    if frame.empty:
        return
    fmt = detect_plan_time_format(frame, plans[0], options.time_unit, where)
    rows = np.arange(1, len(frame) + 1)
    for plan in plans:
        cells, plan_rows = frame, rows
        if wide:
            keep = ~padding_rows(frame, plan)
            cells, plan_rows = frame[keep], rows[keep]
        part = normalise(cells, plan, fmt, where, plan_rows)
        kind = volume_kind if plan.volume_kind == "shares" else plan.volume_kind
        yield from split_series(part, plan, where, options, plan.symbol or default_symbol, volume_kind=kind)


def _stem(path: Path) -> str:
    """The symbol a file's name gives: its stem less a trailing timeframe label (``AAPL_1h`` -> AAPL)."""
    name = path.name
    stem = path.stem
    for suffix in sorted({*SUFFIXES["csv"], *SUFFIXES["parquet"]}, key=len, reverse=True):
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
