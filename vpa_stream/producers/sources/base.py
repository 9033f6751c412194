"""The Source template: a subclass yields raw frames, the base turns them into validated, time-stamped bars.

Time normalisation (DOMAIN §1): intraday rows are labelled by their start and close at start + interval,
capped at the session close when the bar straddles it (the 15:30 hourly bar of a US equity closes at 16:00;
a ``24h`` session, FX or crypto, is never capped); daily rows close at the session close of their date
(weekly: the week's last session day; monthly: the month's last weekday). Naive timestamps are read in the
session time zone. Within one series the rows are sorted by close time (a file's row order is not event
order) and a repeated close time is a dead letter.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from vpa_stream.schemas.errors import VpaStreamError
from vpa_stream.schemas.models import (
    Bar,
    UnknownTimeframeError,
    is_intraday,
    iso_utc,
    normalise_timeframe,
    timeframe_seconds,
)
from vpa_stream.schemas.records import DeadLetter, check_bar, payload_text

log = logging.getLogger(__name__)

#: ratios of adjusted to raw close that mark a share split between two rows (2-for-1, 3-for-2, 1-for-10 ...)
SPLIT_FACTORS = (2.0, 3.0, 4.0, 5.0, 7.0, 8.0, 10.0, 1.5, 1.25, 20.0, 0.5, 1 / 3, 0.25, 0.2, 0.1, 2 / 3, 0.05)
SPLIT_TOLERANCE = 0.03

Item = Bar | DeadLetter


class SourceError(VpaStreamError):
    """A source that cannot be read at all (missing file, missing columns): one clear line for the CLI."""


#: session kinds: an exchange session caps intraday bars at its close; a 24h instrument's bars are never capped
SESSION_HOURS = ("exchange", "24h")


@dataclass(frozen=True, slots=True)
class Session:
    """The exchange session: it times bars whose rows carry only a date, and ends intraday bars at its close.

    ``hours`` is ``exchange`` or ``24h`` (an instrument that trades around the clock, FX or crypto: its
    intraday bars are never capped; its date-only rows still close at ``close``).
    """

    tz: str = "America/New_York"
    open: str = "09:30"
    close: str = "16:00"
    hours: str = "exchange"

    def __post_init__(self) -> None:
        if self.hours not in SESSION_HOURS:
            raise ValueError(f"session hours {self.hours!r}: use one of {', '.join(SESSION_HOURS)}")


@dataclass(frozen=True, slots=True)
class RawSeries:
    """One symbol and timeframe as read: a DatetimeIndex of row labels and open/high/low/close/volume columns.

    Optional columns: ``adj_close`` (split detection), ``split`` (the split ratio effective at that row), and
    from file readers ``_row`` (the row's line or row number in ``origin``), ``_fault`` (why the row cannot be a
    bar, found while reading it) and ``_payload`` (the row as written, for its dead letter).
    ``timeframe_origin`` says how the timeframe was found (a key of ``producers.sources.timeframes.ORIGINS``).
    """

    symbol: str
    timeframe: str
    frame: pd.DataFrame
    volume_kind: str = "shares"
    file: str = ""  # the file the rows came from, named in dead letters
    row_word: str = "row"  # "line" for text files (a line number), "row" for Parquet
    timeframe_origin: str = "given"


@dataclass(frozen=True, slots=True)
class Resolution:
    """One series of a source: where it came from, its timeframe, how that was found, and whether it is used."""

    where: str
    symbol: str
    timeframe: str
    origin: str  # a key of timeframes.ORIGINS
    used: bool = True  # False: a timeframe the run did not ask for, left out


@dataclass
class SourceOptions:
    """What to read. ``timeframe``: the timeframe of rows without a timeframe column (None: detected from the
    stamps, files only); ``timeframes``: the timeframes to keep (empty: every one)."""

    timeframe: str | None = "1d"
    timeframes: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    start: str | None = None
    end: str | None = None
    session: Session = field(default_factory=Session)
    symbol: str | None = None  # the symbol of single-symbol files
    time_unit: str | None = None  # epoch unit of numeric time columns (s, ms, us, ns); None: by magnitude
    delimiter: str | None = None  # of text files; None: detected
    back_adjusted: bool = False  # back-adjusted prices are accepted (the engine's back_adjusted, DOMAIN §1)


class Source(ABC):
    """Where bars come from. Subclasses implement ``read`` (and set ``name``); the rest is shared."""

    name: str = "source"

    def __init__(self, options: SourceOptions | None = None) -> None:
        self.options = options or SourceOptions()
        #: every series ``streams`` found, with its timeframe and how it was found (for the run summary)
        self.resolved: list[Resolution] = []
        self._polled_at: int | None = None  # live mode: the poll cycle ``_polled`` was read for
        self._polled: list[RawSeries] = []
        #: what a ``given`` timeframe came from, when it was not the run's own choice ("suffix": csv:PATH#1h)
        self.given_origin = "given"

    @abstractmethod
    def read(self) -> Iterator[RawSeries]:
        """Yield each (symbol, timeframe) series of the source once."""

    def streams(self) -> list[Iterator[Item]]:
        """One iterator per series, each in ascending close time: what the replay merges."""
        wanted = {s.upper() for s in self.options.symbols}
        out: list[Iterator[Item]] = []
        for raw in self.read():
            if wanted and raw.symbol.upper() not in wanted:
                continue
            if self.keep(self.name, raw.symbol, raw.timeframe, raw.timeframe_origin):
                out.append(series_items(raw, self.session_options(raw), self.name))
        return out

    def keep(self, where: str, symbol: str, timeframe: str, origin: str) -> bool:
        """Record a series found and say whether the run uses it (its timeframe is one asked for)."""
        used = not self.options.timeframes or timeframe in self.options.timeframes
        self.resolved.append(Resolution(where, symbol, timeframe, self.given_origin if origin == "given" else origin,
                                        used))
        return used

    def session_options(self, raw: RawSeries) -> SourceOptions:
        """The options a series' rows are timed with (a hook: a source that knows a symbol trades 24h says so)."""
        return self.options

    def poll(self, symbol: str, timeframe: str, start_ms: int, now_ms: int) -> list[Item]:
        """Live mode: the items of one series that close from ``start_ms`` on, as the source holds them now.

        This default reads the source again (a file a recorder appends whole lines to: each poll sees the
        lines written so far); a provider with a query by date (yfinance) asks for the span only. The live
        poller keeps only closed bars newer than what it emitted. ``SourceError`` when the source holds no
        row of the series."""
        if self._polled_at != now_ms:  # one read per poll cycle, however many symbols it holds
            self._polled_at, self._polled = now_ms, list(self.read())
        items = self.series_of(self._polled, symbol, timeframe, start_ms)
        if not items:
            raise SourceError(f"{self.name}: no {timeframe} rows of {symbol} from "
                              f"{iso_utc(start_ms)} on")
        return items

    def series_of(self, raws: Iterable[RawSeries], symbol: str, timeframe: str,
                  start_ms: int | None = None) -> list[Item]:
        """The items of ``symbol``'s ``timeframe`` series among ``raws`` (named as asked), closing from
        ``start_ms`` on when given: what a poll returns."""
        items: list[Item] = []
        for raw in raws:
            if raw.symbol.upper() != symbol.upper() or raw.timeframe != timeframe:
                continue
            raw = replace(raw, symbol=symbol)
            items.extend(item for item in series_items(raw, self.session_options(raw), self.name)
                         if start_ms is None or item.close_time is None or item.close_time >= start_ms)
        return items


def series_items(raw: RawSeries, options: SourceOptions, source_name: str) -> Iterator[Item]:
    """Validated bars (or dead letters) of one raw series, sorted by close time."""
    reader = SeriesReader(raw.symbol, raw.timeframe, raw.volume_kind, options, source_name,
                          file=raw.file, row_word=raw.row_word)
    yield from reader.items(raw.frame, sort=True)


class SeriesReader:
    """Turns the rows of one series into bars, in one frame or in consecutive chunks of a time-sorted file.

    Carries across chunks what a row needs from the row before it: the previous close time (duplicates) and
    the previous adjusted-close factor (split detection), so chunked reading gives the same items as one frame.
    """

    def __init__(self, symbol: str, timeframe: str, volume_kind: str, options: SourceOptions,
                 source_name: str, file: str = "", row_word: str = "row") -> None:
        self.file = file
        self.row_word = row_word
        self.symbol = symbol
        self.raw_timeframe = timeframe
        self.volume_kind = volume_kind
        self.options = options
        self.source_name = source_name
        self.prev_close: int | None = None
        self.prev_factor: float | None = None
        self.done = False
        self.start_ms = _bound(options.start, options.session)
        self.end_ms = _bound(options.end, options.session, end=True)

    def items(self, frame: pd.DataFrame, sort: bool = False) -> Iterator[Item]:
        try:
            timeframe = normalise_timeframe(self.raw_timeframe)
        except UnknownTimeframeError as exc:
            for row in frame.reset_index().to_dict("records"):
                yield DeadLetter("producer", str(exc), payload_text(row), self.symbol, self.raw_timeframe)
            return
        if frame.empty or self.done:
            return
        open_ms, close_ms = bar_times(pd.DatetimeIndex(frame.index), timeframe, self.options.session)
        if sort:
            order = np.argsort(close_ms, kind="stable")
            frame = frame.iloc[order]
            open_ms, close_ms = open_ms[order], close_ms[order]
        splits, self.prev_factor = _split_ratios(frame, self.prev_factor)
        cols = [frame[c].to_numpy(dtype="float64", na_value=np.nan) for c in ("open", "high", "low", "close", "volume")]
        labels = frame.index
        faults = frame["_fault"].to_numpy() if "_fault" in frame.columns else None
        rows = frame["_row"].to_numpy() if "_row" in frame.columns else None
        start_ms, end_ms = self.start_ms, self.end_ms
        for i, (o, h, lo, c, v) in enumerate(zip(*cols, strict=True)):
            ct = int(close_ms[i])
            if faults is not None and isinstance(faults[i], str):  # found while reading: the cell or the row is bad
                yield self._dead(frame, i, str(faults[i]), rows, ct if ct >= 0 else None)
                continue
            if ct < 0:  # before the bounds: a row whose time is unknown may be inside them
                yield self._dead(frame, i, f"unparseable or non-existent time {labels[i]!s}", rows, None)
                continue
            if start_ms is not None and ct < start_ms:
                continue
            if end_ms is not None and ct > end_ms:
                self.done = True
                return
            bar = Bar(self.symbol, timeframe, int(open_ms[i]), ct, float(o), float(h), float(lo), float(c),
                      float(v), self.volume_kind, float(splits[i]), self.source_name)
            reason = check_bar(bar)
            if reason is None and self.prev_close is not None and ct <= self.prev_close:
                reason = f"duplicate close time {labels[i]!s}"
            if reason is not None:
                yield self._dead(frame, i, reason, rows, ct)
                continue
            self.prev_close = ct
            yield bar

    def _dead(self, frame: pd.DataFrame, i: int, reason: str, rows: np.ndarray | None,
              close_time: int | None) -> DeadLetter:
        """A dead letter for row ``i``, its reason led by the file and row it came from."""
        if rows is not None and self.file:
            reason = f"{self.file} {self.row_word} {int(rows[i])}: {reason}"
        payload = frame["_payload"].iat[i] if "_payload" in frame.columns else None
        if not isinstance(payload, str):
            payload = _row_payload(frame, i)
        return DeadLetter("producer", reason, payload, self.symbol, self.timeframe_label, close_time)

    @property
    def timeframe_label(self) -> str:
        try:
            return normalise_timeframe(self.raw_timeframe)
        except UnknownTimeframeError:
            return self.raw_timeframe


def _row_payload(frame: pd.DataFrame, i: int) -> str:
    row = {"time": str(frame.index[i])}
    row.update({str(k): (None if pd.isna(v) else v) for k, v in frame.iloc[i].to_dict().items()
                if not str(k).startswith("_")})
    if "_row" in frame.columns:
        row["row"] = int(frame["_row"].iat[i])
    return payload_text(row)


def _bound(value: str | None, session: Session, end: bool = False) -> int | None:
    if not value:
        return None
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize(session.tz)
    if end and ts == ts.normalize():
        ts = ts + pd.Timedelta(days=1) - pd.Timedelta(milliseconds=1)  # an end date includes that whole day
    return int(ts.tz_convert("UTC").value // 1_000_000)


def bar_times(index: pd.DatetimeIndex, timeframe: str, session: Session) -> tuple[np.ndarray, np.ndarray]:
    """(open_ms, close_ms) per row; -1 where a time cannot be placed (NaT, a non-existent local time)."""
    if is_intraday(timeframe):
        if index.tz is None:
            index = index.tz_localize(session.tz, ambiguous="NaT", nonexistent="NaT")
        starts = index.tz_convert("UTC")
        ends = starts + pd.Timedelta(seconds=timeframe_seconds(timeframe))
        if session.hours != "24h":
            ends = _capped_at_session_close(starts, ends, session)
        return _ms(starts), _ms(ends)
    # date-labelled bars: the session date is the row's local date
    local = index.tz_convert(session.tz) if index.tz is not None else index
    days = pd.DatetimeIndex(local.normalize().tz_localize(None) if local.tz is not None else local.normalize())
    first_day = days
    if timeframe == "1wk":
        last_day = days + pd.to_timedelta((4 - days.weekday) % 7, unit="D")
    elif timeframe == "1mo":
        month_end = days + pd.offsets.MonthEnd(0)
        last_day = month_end - pd.to_timedelta(np.maximum(month_end.weekday - 4, 0), unit="D")
    else:
        last_day = days
    o_h, o_m = (int(x) for x in session.open.split(":"))
    c_h, c_m = (int(x) for x in session.close.split(":"))
    opens = (first_day + pd.Timedelta(hours=o_h, minutes=o_m)).tz_localize(
        session.tz, ambiguous="NaT", nonexistent="NaT")
    closes = (last_day + pd.Timedelta(hours=c_h, minutes=c_m)).tz_localize(
        session.tz, ambiguous="NaT", nonexistent="NaT")
    return _ms(opens.tz_convert("UTC")), _ms(closes.tz_convert("UTC"))


def _capped_at_session_close(starts: pd.DatetimeIndex, ends: pd.DatetimeIndex, session: Session) -> pd.DatetimeIndex:
    """A bar that starts before its day's session close and would end after it ends at the close: no trade
    happens after the close, and the daily bar closing then must see it (DOMAIN §1). The close is local wall
    time, so it moves in UTC with daylight saving."""
    c_h, c_m = (int(x) for x in session.close.split(":"))
    local_days = starts.tz_convert(session.tz).tz_localize(None).normalize()
    closes = (local_days + pd.Timedelta(hours=c_h, minutes=c_m)).tz_localize(
        session.tz, ambiguous="NaT", nonexistent="NaT").tz_convert("UTC")
    straddles = np.asarray((starts < closes) & (closes < ends))
    return ends.where(~straddles, closes) if straddles.any() else ends


def _ms(index: pd.DatetimeIndex) -> np.ndarray:
    values = index.as_unit("ms").asi8.copy()
    values[index.isna()] = -1
    return values


def _split_ratios(frame: pd.DataFrame, prev_factor: float | None = None) -> tuple[np.ndarray, float | None]:
    """Split ratio effective at each row (from an explicit column, else from jumps of adj_close / close) and
    the last row's adj_close / close factor, which the next chunk of the same series compares with."""
    n = len(frame)
    if "split" in frame.columns:
        ratios = frame["split"].to_numpy(dtype="float64", na_value=0.0)
        return np.where(ratios > 0, ratios, 1.0), None
    out = np.ones(n)
    if "adj_close" not in frame.columns or n == 0:
        return out, None
    factor = frame["adj_close"].to_numpy(dtype="float64", na_value=np.nan) / frame["close"].to_numpy(
        dtype="float64", na_value=np.nan)
    chained = np.concatenate([[np.nan if prev_factor is None else prev_factor], factor])
    with np.errstate(invalid="ignore", divide="ignore"):
        jump = chained[1:] / chained[:-1]
    for i in np.flatnonzero(np.isfinite(jump) & (np.abs(jump - 1.0) > 0.2)):
        for f in SPLIT_FACTORS:
            if abs(jump[i] / f - 1.0) <= SPLIT_TOLERANCE:
                out[i] = f
                log.info("split %s detected from adjusted close", f, extra={"row": int(i)})
                break
    last = factor[-1]
    return out, (float(last) if np.isfinite(last) else prev_factor)


def standard_columns(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """Lower-case, map adj close and split columns, and fail clearly when a price column is missing."""
    rename = {}
    for col in frame.columns:
        key = str(col).strip().lower().replace(" ", "_")
        if key in ("adj_close", "adjclose", "adjusted_close"):
            key = "adj_close"
        elif key in ("stock_splits", "splits", "split_ratio"):
            key = "split"
        rename[col] = key
    frame = frame.rename(columns=rename)
    missing = [c for c in ("open", "high", "low", "close", "volume") if c not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns))
        raise SourceError(f"{where}: missing column(s) {', '.join(missing)}; found {found}")
    return frame
