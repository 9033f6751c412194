"""Live mode on a simulated market: real IBM daily bars revealed as a simulated clock advances, no network."""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import itertools
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.realdata import symbol_bars
from vpa_stream.cli.live import then_live
from vpa_stream.live_pipeline import EmbeddedLiveOutput, dataset_resume_state, live_options, run_embedded
from vpa_stream.pipeline import run_backfill
from vpa_stream.processors.config import VPAConfig
from vpa_stream.producers.clock import BarCalendar, SimulatedClock
from vpa_stream.producers.live import LiveOptions, LivePoller
from vpa_stream.producers.sources.base import Session, SourceOptions
from vpa_stream.producers.sources.yfinance import YFinanceSource
from vpa_stream.producers.validate import DeadLetter
from vpa_stream.schemas.models import Bar, iso_utc
from vpa_stream.sinks.dataset import SinkOptions

HOUR_MS = 3_600_000
NY = "America/New_York"
CFG = VPAConfig()
OPTIONS = live_options(CFG, "1d")
IBM = symbol_bars("IBM")[:360]
AS_SERVED = [dataclasses.replace(b, source="yfinance") for b in IBM]  # what the poller makes of them


def session_date(bar: Bar) -> str:
    return pd.Timestamp(bar.close_time, unit="ms", tz="UTC").tz_convert(NY).strftime("%Y-%m-%d")


class SimulatedMarket:
    """A yfinance ``download`` stand-in serving real bars as of the simulated clock.

    Frames are shaped like yfinance 1.x output: (Price, Ticker) MultiIndex columns with Adj Close, Close,
    Dividends, High, Low, Open, Stock Splits, Volume, and an index of session dates; prices and volumes are
    split-adjusted as of the fetch, as Yahoo's are with ``auto_adjust=False``. A bar is final once its
    close has passed; during its session it is served partially formed; ``outages`` (ms ranges) raise.
    """

    def __init__(self, bars: Sequence[Bar], clock: SimulatedClock, outages: Sequence[tuple[int, int]] = (),
                 empty: Sequence[tuple[int, int]] = ()) -> None:
        self.bars = list(bars)
        self.dates = [session_date(b) for b in self.bars]
        self.by_symbol: dict[str, tuple[list[str], list[int]]] = {}  # symbol -> (sorted dates, bar indexes)
        for i, (bar, day) in enumerate(zip(self.bars, self.dates, strict=True)):
            days, idx = self.by_symbol.setdefault(bar.symbol, ([], []))
            days.append(day)
            idx.append(i)
        self.clock = clock
        self.outages = list(outages)
        self.empty = list(empty)
        self.calls: list[tuple[int, dict[str, Any]]] = []
        self.partial_served = 0
        self.revised: dict[int, float] = {}  # bar index -> volume override (a provider revision)

    def download(self, **kwargs: Any) -> pd.DataFrame:
        now = self.clock.now_ms()
        self.calls.append((now, kwargs))
        assert kwargs["auto_adjust"] is False and kwargs["actions"] is True
        if any(a <= now < b for a, b in self.outages):
            raise ConnectionError("simulated outage: connection reset by peer")
        start, end = kwargs.get("start"), kwargs.get("end")
        tickers = [t.upper() for t in kwargs["tickers"]]
        table: dict[tuple[str, str], list[float]] = {}
        for i in self._rows(tickers, start, end):
            bar, day = self.bars[i], self.dates[i]
            if bar.open_time > now:
                continue
            o, h, lo, c, v = bar.open, bar.high, bar.low, bar.close, self.revised.get(i, bar.volume)
            later = self._splits_after(i, now)  # Yahoo's prices are split-adjusted to the day of the fetch
            o, h, lo, c, v = o / later, h / later, lo / later, c / later, v * later
            if bar.close_time > now:  # today's bar, still forming: partial OHLCV
                frac = (now - bar.open_time) / (bar.close_time - bar.open_time)
                c = round(o + (c - o) * frac, 2)
                h, lo, v = max(o, c), min(o, c), round(v * frac)
                self.partial_served += 1
            split = 0.0 if bar.split_ratio == 1.0 else bar.split_ratio
            table[(day, bar.symbol)] = [c, c, 0.0, h, lo, o, split, v]
        if any(a <= now < b for a, b in self.empty) or not table:
            return pd.DataFrame()
        prices = ["Adj Close", "Close", "Dividends", "High", "Low", "Open", "Stock Splits", "Volume"]
        columns = pd.MultiIndex.from_product([prices, sorted(tickers)], names=["Price", "Ticker"])
        days = sorted({d for d, _ in table})
        nan = [float("nan")] * len(prices)
        # columns run price-major: (Adj Close, A), (Adj Close, B), (Close, A) ...
        data = [[table.get((d, t), nan)[p] for p in range(len(prices)) for t in sorted(tickers)] for d in days]
        index = pd.DatetimeIndex([pd.Timestamp(d) for d in days], name="Date")
        return pd.DataFrame(data, index=index, columns=columns)


    def _splits_after(self, i: int, now: int) -> float:
        """The product of the splits of bar ``i``'s symbol after it that have happened by ``now``."""
        factor = 1.0
        for j in self.by_symbol[self.bars[i].symbol][1]:
            if j > i and self.bars[j].open_time <= now and self.bars[j].split_ratio != 1.0:
                factor *= self.bars[j].split_ratio
        return factor

    def _rows(self, tickers: list[str], start: str | None, end: str | None) -> list[int]:
        rows: list[int] = []
        for t in tickers:
            days, idx = self.by_symbol.get(t, ([], []))
            lo = bisect.bisect_left(days, start) if start else 0
            hi = bisect.bisect_left(days, end) if end else len(days)
            rows.extend(idx[lo:hi])
        return rows


def after(bar: Bar, hours: float = 1.0) -> int:
    return bar.close_time + int(hours * HOUR_MS)


def example_lines(root: Path) -> list[str]:
    """Every example line of the directory, sorted by id (file layout aside)."""
    lines = [line for f in sorted(root.glob("examples-*.jsonl")) for line in f.read_text().splitlines()]
    return sorted(lines, key=lambda line: json.loads(line)["id"])


def backfill(bars: Sequence[Bar], out: Path, at_ms: int) -> None:
    """The embedded backfill of what the market shows at ``at_ms``, through the yfinance source."""
    clock = SimulatedClock(at_ms)
    market = SimulatedMarket(bars, clock)
    symbols = tuple(sorted({b.symbol for b in bars}))
    source = YFinanceSource(SourceOptions(timeframe="1d", symbols=symbols), download=market.download)
    run_backfill([source], out, CFG, SinkOptions(max_records=100))


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = tmp_path_factory.mktemp("reference")
    backfill(IBM, out, after(IBM[-1]))
    lines = example_lines(out)
    assert len(lines) == len(IBM) - CFG.warmup_bars + 1
    return lines


def outage_over(i: int, j: int) -> tuple[int, int]:
    return (after(IBM[i], -2), after(IBM[j], 2))


def test_live_grown_dataset_equals_the_backfill_of_the_same_period(tmp_path: Path, reference: list[str]) -> None:
    clock = SimulatedClock(after(IBM[199]))
    market = SimulatedMarket(IBM, clock, outages=[outage_over(250, 258)], empty=[outage_over(300, 302)])
    stats = run_embedded(["IBM"], "1d", tmp_path, cfg=CFG, clock=clock, download=market.download,
                         options=OPTIONS, until_ms=after(IBM[-1]))
    assert example_lines(tmp_path) == reference
    assert market.partial_served > 0  # the forming bar was on offer (polls during the session) and not taken
    assert stats.failures > 0 and stats.emitted == len(IBM)
    assert not list(tmp_path.glob("dead-letters-*"))


def test_two_symbols_with_a_split_grow_like_their_backfill(tmp_path: Path) -> None:
    from vpa_stream.producers.replay import replay

    bars = [b for b in replay([iter(symbol_bars("AAPL")[:300]), iter(IBM[:300])], lambda d: None)]
    assert any(b.split_ratio == 2.0 for b in bars)  # AAPL's 2-for-1 of June 2000, from "Stock Splits"
    expected = tmp_path / "expected"
    backfill(bars, expected, after(bars[-1]))
    clock = SimulatedClock(after(bars[100], 2))  # the split arrives live
    market = SimulatedMarket(bars, clock, outages=[(after(bars[400], -30), after(bars[420], 30))])
    out = tmp_path / "live"
    stats = run_embedded(["AAPL", "IBM"], "1d", out, cfg=CFG, clock=clock, download=market.download,
                         options=OPTIONS, until_ms=after(bars[-1]))
    assert stats.emitted == len(bars) and stats.failures > 0
    assert example_lines(out) == example_lines(expected)
    assert {tuple(k) for k in dataset_resume_state(out)} == {("AAPL", "1d"), ("IBM", "1d")}


def test_only_closed_bars_are_emitted_each_once_shortly_after_the_close() -> None:
    clock = SimulatedClock(after(IBM[99]))
    market = SimulatedMarket(IBM[:200], clock)
    seen: list[tuple[int, Bar]] = []

    class Recorder:
        def warm(self, bar: Bar) -> None:
            raise AssertionError("nothing to warm on a fresh start")

        def bar(self, bar: Bar) -> None:
            seen.append((clock.now_ms(), bar))

        def dead_letter(self, letter: DeadLetter) -> None:
            raise AssertionError(letter)

        def commit(self) -> None:
            pass

    poller = LivePoller(["IBM"], "1d", Recorder(), clock, market.download, options=OPTIONS)
    poller.run(until_ms=after(IBM[199]))
    assert [b for _, b in seen] == AS_SERVED[:200]
    assert all(b.close_time <= t for t, b in seen)
    grace = OPTIONS.grace_ms("1d")
    live = [(t, b) for t, b in seen if b.close_time > after(IBM[99])]
    assert all(t == b.close_time + grace for t, b in live)  # polled on the session schedule, not busy-waiting
    assert len(market.calls) < 1.3 * 100  # about one poll per session (holidays cost a few retries)


class RecordingOutput:
    """A live output that keeps the emitted bars and fails on any dead letter."""

    def __init__(self) -> None:
        self.emitted: list[Bar] = []

    def warm(self, bar: Bar) -> None: ...

    def bar(self, bar: Bar) -> None:
        self.emitted.append(bar)

    def dead_letter(self, letter: DeadLetter) -> None:
        raise AssertionError(letter)

    def commit(self) -> None: ...


def test_polls_in_the_middle_of_sessions_never_take_the_forming_bar() -> None:
    clock = SimulatedClock(after(IBM[99], 20))
    market = SimulatedMarket(IBM[:200], clock)
    sink = RecordingOutput()
    emitted = sink.emitted

    options = LiveOptions(grace_s=20 * 3600, warmup_span_ms=OPTIONS.warmup_span_ms)  # polls at noon, next day
    LivePoller(["IBM"], "1d", sink, clock, market.download, options=options).run(until_ms=after(IBM[199], 20))
    assert emitted == AS_SERVED[:200]
    assert market.partial_served >= 75  # every poll on a session day (a Friday's falls on Saturday)


def test_a_provider_outage_backs_off_exponentially_and_loses_nothing(caplog: pytest.LogCaptureFixture) -> None:
    clock = SimulatedClock(after(IBM[99]))
    outage = outage_over(120, 140)
    market = SimulatedMarket(IBM[:200], clock, outages=[outage])
    sink = RecordingOutput()
    emitted = sink.emitted

    options = LiveOptions(backoff_base_s=30, backoff_cap_s=3600, warmup_span_ms=OPTIONS.warmup_span_ms)
    with caplog.at_level(logging.WARNING, logger="vpa_stream.producers.live"):
        LivePoller(["IBM"], "1d", sink, clock, market.download, options=options).run(until_ms=after(IBM[199]))
    assert emitted == AS_SERVED[:200]
    failed = [t for t, _ in market.calls if outage[0] <= t < outage[1]]
    gaps = [(b - a) // 1000 for a, b in itertools.pairwise(failed)]
    assert gaps[:7] == [30, 60, 120, 240, 480, 960, 1920] and set(gaps[7:]) == {3600}
    assert any("provider failed" in r.message for r in caplog.records)


def test_a_restart_in_the_middle_changes_nothing(tmp_path: Path, reference: list[str]) -> None:
    clock = SimulatedClock(after(IBM[199]))
    market = SimulatedMarket(IBM, clock, outages=[outage_over(250, 258)])
    run_embedded(["IBM"], "1d", tmp_path, cfg=CFG, clock=clock, download=market.download, options=OPTIONS,
                 until_ms=after(IBM[290], 5))
    middle = example_lines(tmp_path)
    assert json.loads(middle[-1])["id"] == f"IBM|1d|{iso_utc(IBM[290].close_time)}"
    files_before = {p.name: p.read_bytes() for p in tmp_path.glob("*.jsonl")}
    # a new process: fresh engine, sink and poller, resuming from the dataset alone
    clock.advance_to(after(IBM[296], 3))
    stats = run_embedded(["IBM"], "1d", tmp_path, cfg=CFG, clock=clock, download=market.download,
                         options=OPTIONS, until_ms=after(IBM[-1]))
    assert stats.warmed == 291 and stats.emitted == len(IBM) - 291
    assert example_lines(tmp_path) == reference
    assert all((tmp_path / name).read_bytes() == data for name, data in files_before.items())


def test_a_crash_before_commit_is_redone_on_restart(tmp_path: Path, reference: list[str]) -> None:
    clock = SimulatedClock(after(IBM[199]))
    market = SimulatedMarket(IBM, clock)
    cycles = {"n": 0}

    def crash_on_the_tenth_cycle() -> bool:
        cycles["n"] += 1
        assert cycles["n"] < 500, "the power cut never came"
        return False

    original = EmbeddedLiveOutput.commit

    def failing_commit(self: EmbeddedLiveOutput) -> None:
        if cycles["n"] >= 10 and self.sink.examples.open_records:  # the first commit with data after cycle 10
            raise RuntimeError("power cut")
        original(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(EmbeddedLiveOutput, "commit", failing_commit)
        with pytest.raises(RuntimeError, match="power cut"):
            run_embedded(["IBM"], "1d", tmp_path, cfg=CFG, clock=clock, download=market.download,
                         options=OPTIONS, stop=crash_on_the_tenth_cycle)
    assert not list(tmp_path.glob(".tmp-*"))
    run_embedded(["IBM"], "1d", tmp_path, cfg=CFG, clock=clock, download=market.download, options=OPTIONS,
                 until_ms=after(IBM[-1]))
    assert example_lines(tmp_path) == reference


def test_resume_after_years_warms_on_the_capped_history_and_matches_a_full_backfill(tmp_path: Path) -> None:
    bars = symbol_bars("IBM")[:900]
    expected = tmp_path / "expected"
    backfill(bars, expected, after(bars[-1]))
    out = tmp_path / "live"
    backfill(bars[:800], out, after(bars[799]))
    clock = SimulatedClock(after(bars[799], 2))
    market = SimulatedMarket(bars, clock)
    stats = run_embedded(["IBM"], "1d", out, cfg=CFG, clock=clock, download=market.download, options=OPTIONS,
                         until_ms=after(bars[-1]))
    assert stats.warmed < 700  # (W + 2) weeks of history, not the whole series
    assert example_lines(out) == example_lines(expected)


def test_the_handover_from_backfill_has_no_gap_and_no_duplicate(tmp_path: Path, reference: list[str]) -> None:
    backfill(IBM[:250], tmp_path, after(IBM[249], 3))  # at 19:00 NY; the next bar opens the next day
    before = {p.name for p in tmp_path.glob("examples-*")}
    assert dataset_resume_state(tmp_path) == {("IBM", "1d"): iso_utc(IBM[249].close_time)}
    clock = SimulatedClock(after(IBM[262], -3))  # later, in the middle of a session: a gap of 12 bars + a forming one
    market = SimulatedMarket(IBM, clock)
    args = argparse.Namespace(source="yfinance", symbols="IBM", timeframe="1d", out=str(tmp_path),
                              tz=NY, session_open="09:30", session_close="16:00", max_records=100,
                              max_bytes=1 << 20, gzip=False)
    assert then_live(args, {}, clock=clock, download=market.download, until_ms=after(IBM[-1])) == 0
    lines = example_lines(tmp_path)
    ids = [json.loads(line)["id"] for line in lines]
    assert len(ids) == len(set(ids))
    assert lines == reference
    assert before <= {p.name for p in tmp_path.glob("examples-*")}  # the backfill's files are kept as they were
    first_live = min(p.name for p in tmp_path.glob("examples-live-*"))
    assert first_live == f"examples-live-{iso_utc(IBM[250].close_time).replace('-', '').replace(':', '')}-IBM-1d.jsonl"


def test_a_revision_seen_while_running_is_dead_lettered_once(tmp_path: Path, reference: list[str]) -> None:
    clock = SimulatedClock(after(IBM[199]))
    market = SimulatedMarket(IBM, clock)
    revise_at = after(IBM[301], 5)

    def stop() -> bool:
        if clock.now_ms() >= revise_at:
            market.revised[299] = IBM[299].volume * 1.5
        return False

    run_embedded(["IBM"], "1d", tmp_path, cfg=CFG, clock=clock, download=market.download, options=OPTIONS,
                 stop=stop, until_ms=after(IBM[-1]))
    assert example_lines(tmp_path) == reference
    letters = [json.loads(line) for f in sorted(tmp_path.glob("dead-letters-live-*.jsonl"))
               for line in f.read_text().splitlines()]
    assert len(letters) == 1
    assert letters[0]["reason"].startswith("revised bar") and letters[0]["close_time"] == iso_utc(IBM[299].close_time)


def test_the_calendar_places_daily_closes_at_the_session_close_across_dst() -> None:
    cal = BarCalendar("1d", Session())
    friday_close = int(pd.Timestamp("2024-03-08 16:00", tz=NY).value // 1_000_000)
    assert iso_utc(cal.next_close(friday_close)) == "2024-03-11T20:00:00Z"  # Monday, after the DST change
    assert cal.last_close(friday_close - 1) == friday_close - 86_400_000


def test_the_live_subcommand_parses_and_reports_bad_flags_as_usage_errors() -> None:
    from vpa_stream.cli import UsageError
    from vpa_stream.cli.live import handler, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["live", "--symbols", "IBM,MSFT", "--interval", "60m", "--out", "d"])
    assert args.handler is handler and args.bootstrap_servers is None and args.grace is None
    with pytest.raises(UsageError, match="unknown timeframe"):
        handler(parser.parse_args(["live", "--symbols", "IBM", "--interval", "7d"]), {})
    with pytest.raises(UsageError, match="needs --symbols"):
        handler(parser.parse_args(["live", "--symbols", " , "]), {})


class Recorder(SimulatedClock):
    """A clock whose passing time writes each bar to a CSV file once it has closed, as a bar recorder would."""

    def __init__(self, start_ms: int, bars: Sequence[Bar], path: Path) -> None:
        super().__init__(start_ms)
        self.bars, self.path, self.written = list(bars), path, 0
        self.path.write_text("Date,Open,High,Low,Close,Volume\n")
        self.record()

    def record(self) -> None:
        with self.path.open("a") as fh:
            while self.written < len(self.bars) and self.bars[self.written].close_time <= self.now:
                b = self.bars[self.written]
                fh.write(f"{session_date(b)},{b.open!r},{b.high!r},{b.low!r},{b.close!r},{b.volume!r}\n")
                self.written += 1

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        self.record()


def test_live_mode_polls_a_file_a_recorder_appends_to_and_grows_like_its_backfill(tmp_path: Path) -> None:
    """``live --source csv:IBM.csv``: the file is read again at each poll; the dataset grown from it, across
    the handover from a backfill of its first rows, equals the backfill of the whole file."""
    from vpa_stream.producers.sources.files import FileSource

    bars = IBM[:300]
    whole = tmp_path / "whole" / "IBM.csv"
    whole.parent.mkdir()
    Recorder(after(bars[-1]), bars, whole)
    expected = tmp_path / "expected"
    run_backfill([FileSource(whole, "csv")], expected, CFG, SinkOptions(max_records=100))
    growing = tmp_path / "growing" / "IBM.csv"
    growing.parent.mkdir()
    clock = Recorder(after(bars[199]), bars, growing)
    out = tmp_path / "live"
    run_backfill([FileSource(growing, "csv")], out, CFG, SinkOptions(max_records=100))
    stats = run_embedded(["IBM"], "1d", out, cfg=CFG, clock=clock, options=OPTIONS, until_ms=after(bars[-1]),
                         source=FileSource(growing, "csv", SourceOptions(symbols=("IBM",))))
    assert clock.written == len(bars) and stats.emitted == 100
    assert example_lines(out) == example_lines(expected)
    assert not list(out.glob("dead-letters-*"))


def test_live_mode_refuses_a_file_without_the_series_asked_for(tmp_path: Path) -> None:
    from vpa_stream.cli.live import polled_source
    from vpa_stream.cli.usage import UsageError

    path = tmp_path / "IBM.csv"
    Recorder(after(IBM[20]), IBM, path)
    session = Session(NY, "09:30", "16:00")
    assert polled_source(f"csv:{path}", ["IBM"], "1d", session) is not None
    assert polled_source("yfinance", ["IBM"], "1d", session) is None
    with pytest.raises(UsageError, match=r"holds no 1d bars of MSFT \(it holds IBM 1d\)"):
        polled_source(f"csv:{path}", ["IBM", "MSFT"], "1d", session)
    with pytest.raises(UsageError, match="no such file"):
        polled_source(f"csv:{tmp_path / 'nope.csv'}", ["IBM"], "1d", session)


def test_a_file_holding_bars_past_now_gives_none_of_them_early(tmp_path: Path) -> None:
    """A file already holding later rows (a whole history polled in a simulated present): live mode emits only
    the bars closed by each poll, so the dataset at a time equals the backfill of the rows closed by then."""
    from vpa_stream.producers.sources.files import FileSource

    bars = IBM[:260]
    path = tmp_path / "full" / "IBM.csv"
    path.parent.mkdir()
    Recorder(after(bars[-1]), bars, path)  # every row written up front
    expected = tmp_path / "expected"
    head = tmp_path / "head" / "IBM.csv"
    head.parent.mkdir()
    Recorder(after(bars[239]), bars, head)
    run_backfill([FileSource(head, "csv")], expected, CFG, SinkOptions(max_records=100))
    out = tmp_path / "live"
    prefix = tmp_path / "prefix" / "IBM.csv"
    prefix.parent.mkdir()
    Recorder(after(bars[199]), bars, prefix)
    run_backfill([FileSource(prefix, "csv")], out, CFG, SinkOptions(max_records=100))
    clock = SimulatedClock(after(bars[199], 2))
    stats = run_embedded(["IBM"], "1d", out, cfg=CFG, clock=clock, options=OPTIONS, until_ms=after(bars[239]),
                         source=FileSource(path, "csv", SourceOptions(symbols=("IBM",))))
    assert stats.emitted == 40
    assert example_lines(out) == example_lines(expected)
