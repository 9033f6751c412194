"""The live poller: newly closed bars from a source that can be polled (yfinance by default, or a file a recorder
appends to), each once and in order, across failures.

Invariants, kept here and nowhere else:
  1. Only closed bars leave the poller: ``close_time <= clock.now`` (today's forming daily bar never does).
  2. Each (symbol, timeframe) has a high-water mark, the close time of the last bar it emitted; a bar is
     emitted only when it closes after it, so nothing goes out twice. Every fetch starts before the mark,
     so a bar published late, or missed during an outage, is picked up by the next successful poll.
  3. A bar at or below the mark whose OHLCV differs from what was emitted is a revision: it goes to the
     dead-letter output (once) with the reason, and the emitted bar stands.
  4. The first poll of a feed reads ``warmup_span_ms`` of history: bars at or below a resumed mark go to
     ``LiveOutput.warm`` (to rebuild the engine's window, never emitted), later ones are emitted.
  5. A provider failure (exception, timeout, empty frame, rate limit) emits nothing; the feed retries
     with exponential backoff up to a cap. It never ends the loop.
Rows become bars through the sources' own normalisation (``Source.poll``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from vpa_stream.producers.clock import DAY_MS, BarCalendar, Clock
from vpa_stream.producers.sources.base import Session, Source, SourceOptions
from vpa_stream.producers.sources.yfinance import PROVIDER_HISTORY_DAYS, YFinanceSource
from vpa_stream.schemas.models import Bar, is_intraday, iso_utc, timeframe_seconds
from vpa_stream.schemas.records import DeadLetter, payload_text

log = logging.getLogger(__name__)

Download = Callable[..., pd.DataFrame]
FeedKey = tuple[str, str]



class LiveOutput(Protocol):
    """Where the poller's bars go: embedded (engine + dataset sink) or Kafka (the bars topic)."""

    def warm(self, bar: Bar) -> None:
        """A bar already emitted before a restart: rebuild state from it, emit nothing."""

    def bar(self, bar: Bar) -> None: ...

    def dead_letter(self, letter: DeadLetter) -> None: ...

    def commit(self) -> None:
        """Make everything handed over so far durable (end of a poll cycle)."""


@dataclass(frozen=True)
class LiveOptions:
    """Schedule and retry policy. ``grace_s`` None: 15 min after a daily close, 60 s after an intraday one."""

    grace_s: float | None = None
    backoff_base_s: float = 30.0
    backoff_cap_s: float = 1800.0
    rate_limit_min_s: float = 300.0
    missing_retries: int = 4
    overlap_days: int = 7
    warmup_span_ms: int = 0
    timeout_s: float = 30.0

    def grace_ms(self, timeframe: str) -> int:
        if self.grace_s is not None:
            return int(self.grace_s * 1000)
        return 60_000 if is_intraday(timeframe) else 900_000


@dataclass
class FeedState:
    """One (symbol, timeframe): its high-water mark, schedule, retry counters and recently emitted bars."""

    symbol: str
    timeframe: str
    high_water: int | None = None
    started: bool = False
    next_due: int = 0
    failures: int = 0
    missing_for: int | None = None
    missing: int = 0
    recent: dict[int, Bar] = field(default_factory=dict)
    reported: set[str] = field(default_factory=set)

    @property
    def key(self) -> FeedKey:
        return (self.symbol, self.timeframe)

    def log_fields(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "timeframe": self.timeframe,
                "high_water": iso_utc(self.high_water) if self.high_water is not None else None}


@dataclass
class LiveStats:
    polls: int = 0
    failures: int = 0
    emitted: int = 0
    warmed: int = 0
    revisions: int = 0
    dead_letters: int = 0
    cycles: int = 0

    def lines(self) -> list[str]:
        return [f"polls          {self.polls:,} ({self.failures:,} failed, retried)",
                f"bars emitted   {self.emitted:,}", f"bars warmed    {self.warmed:,}",
                f"revisions      {self.revisions:,} (dead-lettered)", f"dead letters   {self.dead_letters:,}"]


def same_bar(a: Bar, b: Bar) -> bool:
    """Equal OHLCV (relative 1e-9: a provider's float round trip is not a revision)."""
    for x, y in ((a.open, b.open), (a.high, b.high), (a.low, b.low), (a.close, b.close), (a.volume, b.volume)):
        if abs(x - y) > 1e-9 * max(abs(x), abs(y), 1.0):
            return False
    return a.open_time == b.open_time


class LivePoller:
    """Polls each (symbol, timeframe) shortly after each scheduled close and hands new closed bars to ``output``."""

    def __init__(
        self,
        symbols: Iterable[str],
        timeframe: str,
        output: LiveOutput,
        clock: Clock,
        download: Download | None = None,
        session: Session | None = None,
        options: LiveOptions | None = None,
        resume: dict[FeedKey, int] | None = None,
        source: Source | None = None,
    ) -> None:
        """``source``: what to poll (any ``Source``: its ``poll`` gives a series' rows from a time on); None
        polls yfinance, one download per symbol (``download`` stands in for ``yfinance.download``)."""
        self.timeframe = timeframe
        self.output = output
        self.clock = clock
        self.session = session or Session()
        self.options = options or LiveOptions()
        self.calendar = BarCalendar(timeframe, self.session)
        self.grace_ms = self.options.grace_ms(timeframe)
        self.stats = LiveStats()
        resume = resume or {}
        self.feeds = [FeedState(s, timeframe, resume.get((s, timeframe))) for s in dict.fromkeys(symbols)]
        self.sources: dict[str, Source] = {
            f.symbol: source or YFinanceSource(SourceOptions(timeframe=timeframe, symbols=(f.symbol,),
                                                             session=self.session),
                                               download=download, timeout=self.options.timeout_s)
            for f in self.feeds}

    # -- the loop -------------------------------------------------------------------------------------------

    def run(self, stop: Callable[[], bool] | None = None, until_ms: int | None = None) -> LiveStats:
        """Poll until ``stop()`` is true or the clock passes ``until_ms``; each cycle ends with a commit."""
        while stop is None or not stop():
            wake = self.run_once()
            now = self.clock.now_ms()
            if until_ms is not None and wake > until_ms:
                if until_ms > now:
                    self.clock.sleep((until_ms - now) / 1000)
                break
            self.clock.sleep(max(0, wake - now) / 1000)
        return self.stats

    def run_once(self) -> int:
        """Poll every due feed, emit their new bars in replay order, commit; the time of the next due poll."""
        now = self.clock.now_ms()
        fresh: list[Bar] = []
        for feed in self.feeds:
            if feed.next_due <= now:
                fresh.extend(self._poll(feed, now))
        fresh.sort(key=Bar.replay_key)
        for bar in fresh:
            self.output.bar(bar)
        self.output.commit()
        if fresh:
            log.info("emitted %d bar(s), newest close %s", len(fresh), iso_utc(fresh[-1].close_time),
                     extra={"bars": len(fresh)})
        self.stats.emitted += len(fresh)
        self.stats.cycles += 1
        return min(f.next_due for f in self.feeds)

    # -- one feed --------------------------------------------------------------------------------------------

    def _poll(self, feed: FeedState, now: int) -> list[Bar]:
        self.stats.polls += 1
        start_ms = self._fetch_from(feed, now)
        try:
            items = self._fetch(feed, start_ms, now)
        except Exception as exc:  # provider trouble of any kind: back off, never crash, emit nothing
            self._failed(feed, now, exc)
            return []
        feed.failures = 0
        fresh: list[Bar] = []
        for item in items:
            if isinstance(item, DeadLetter):
                self._provider_dead_letter(feed, item, now)
                continue
            bar = item
            if bar.close_time > now:
                continue  # still forming (invariant 1)
            if feed.high_water is not None and bar.close_time <= feed.high_water:
                self._seen(feed, bar)
                continue
            if fresh and bar.close_time <= fresh[-1].close_time:
                continue  # series_items already dead-letters repeats; keep the emitted order strict anyway
            fresh.append(bar)
        feed.started = True
        if fresh:
            feed.high_water = fresh[-1].close_time
            for bar in fresh:
                feed.recent[bar.close_time] = bar
            self._prune(feed)
        self._schedule(feed, now)
        return fresh

    def _fetch_from(self, feed: FeedState, now: int) -> int:
        if not feed.started or feed.high_water is None:
            return (feed.high_water if feed.high_water is not None else now) - self.options.warmup_span_ms
        return feed.high_water - self.options.overlap_days * DAY_MS

    def _fetch(self, feed: FeedState, start_ms: int, now: int) -> list[Bar | DeadLetter]:
        return self.sources[feed.symbol].poll(feed.symbol, feed.timeframe, start_ms, now)

    def _seen(self, feed: FeedState, bar: Bar) -> None:
        """A bar at or below the mark: warm-up on the first poll after a resume, else a possible revision."""
        emitted = feed.recent.get(bar.close_time)
        if emitted is None:
            if not feed.started:
                self.output.warm(bar)
                self.stats.warmed += 1
                feed.recent[bar.close_time] = bar  # the baseline for later revisions
            return
        if same_bar(emitted, bar):
            return
        key = f"revised|{bar.close_time}|{bar.open}|{bar.high}|{bar.low}|{bar.close}|{bar.volume}"
        if key in feed.reported:
            return
        feed.reported.add(key)
        reason = (f"revised bar: the provider changed the bar closing {iso_utc(bar.close_time)} after it was "
                  f"emitted (emitted o/h/l/c/v {emitted.open}/{emitted.high}/{emitted.low}/{emitted.close}/"
                  f"{emitted.volume}); the emitted bar stands")
        log.warning("revised bar dead-lettered", extra=feed.log_fields() | {"close_time": iso_utc(bar.close_time)})
        self.stats.revisions += 1
        self._dead(DeadLetter("producer", reason, payload_text(bar.to_record()), bar.symbol, bar.timeframe,
                              bar.close_time))

    def _provider_dead_letter(self, feed: FeedState, letter: DeadLetter, now: int) -> None:
        ct = letter.close_time
        if ct is not None and (ct > now or (feed.high_water is not None and ct <= feed.high_water)):
            return  # a forming row, or one reported before the mark passed it
        key = f"dead|{ct}|{letter.reason}"
        if key in feed.reported:
            return
        feed.reported.add(key)
        self._dead(letter)

    def _dead(self, letter: DeadLetter) -> None:
        self.stats.dead_letters += 1
        self.output.dead_letter(letter)

    def _failed(self, feed: FeedState, now: int, exc: Exception) -> None:
        feed.failures += 1
        self.stats.failures += 1
        o = self.options
        delay = min(o.backoff_base_s * 2 ** (feed.failures - 1), o.backoff_cap_s)
        text = f"{type(exc).__name__}: {exc}"
        if "ratelimit" in text.lower().replace(" ", "") or "too many requests" in text.lower():
            delay = max(delay, o.rate_limit_min_s)
        feed.next_due = now + int(delay * 1000)
        log.warning("provider failed (%s); retry %d in %.0f s", text, feed.failures, delay,
                    extra=feed.log_fields() | {"attempt": feed.failures, "retry_in_s": delay})

    def _schedule(self, feed: FeedState, now: int) -> None:
        """Next poll: the next scheduled close + grace; sooner (with backoff) when a due daily bar is late."""
        cal, hw = self.calendar, feed.high_water
        anchor = hw if cal.intraday else None
        last = feed.recent.get(hw) if cal.intraday and hw is not None else None
        if last is not None:  # the vendor's grid runs on the bars' starts: a session's last bar may end capped
            anchor = last.open_time + cal.step_ms
        latest_due = cal.last_close(now - self.grace_ms, anchor)
        behind = hw is not None and hw < latest_due
        if behind and not cal.intraday:
            if feed.missing_for != latest_due:
                feed.missing_for, feed.missing = latest_due, 0
            feed.missing += 1
            if feed.missing <= self.options.missing_retries:  # late publication (or a holiday): look again soon
                delay = min(self.options.backoff_base_s * 2 ** (feed.missing - 1), self.options.backoff_cap_s)
                feed.next_due = now + int(delay * 1000)
                log.info("bar closing %s not published yet; retry in %.0f s", iso_utc(latest_due), delay,
                         extra=feed.log_fields())
                return
        base = latest_due if hw is None else max(hw, latest_due)
        feed.next_due = cal.next_close(base, anchor) + self.grace_ms

    def _prune(self, feed: FeedState, keep: int = 64) -> None:
        if len(feed.recent) > keep:
            for ct in sorted(feed.recent)[:-keep]:
                del feed.recent[ct]


def warmup_span_ms(timeframe: str, window_bars: int, derived: Iterable[str] = ()) -> int:
    """History a fresh engine needs: ``window_bars`` primary bars and ``window_bars`` + 2 of each derived timeframe.

    Calendar time per primary bar is inflated for weekends (and, intraday, for the ~6.5 h equity session);
    intraday spans are capped to what yfinance serves for the interval.
    """
    step = timeframe_seconds(timeframe) * 1000
    per_bar = step * 7 / 5 * (24 / 6.5 if is_intraday(timeframe) else 1.0)
    span = int(window_bars * per_bar) + 4 * DAY_MS
    for htf in derived:
        htf_ms = timeframe_seconds(htf) * 1000
        per_htf = htf_ms * 7 / 5 if htf == "1d" else htf_ms  # derived days are session days
        span = max(span, int((window_bars + 2) * per_htf) + 4 * DAY_MS)
    cap = PROVIDER_HISTORY_DAYS.get(timeframe)
    if cap is not None and span > cap * DAY_MS:
        log.warning("warm-up capped to %d days of %s history: derived context may differ from a full backfill "
                    "until enough bars have been seen", cap, timeframe, extra={"timeframe": timeframe})
        span = cap * DAY_MS
    return span


# -- Kafka mode ------------------------------------------------------------------------------------------------


class KafkaLiveOutput:
    """Kafka mode: bars to the bars topic, dead letters to theirs; a cycle ends with a flush (acks=all)."""

    def __init__(self, publisher: Any) -> None:
        self.publisher = publisher

    def warm(self, bar: Bar) -> None:
        """Nothing to rebuild: the stream processor keeps its windows in its changelog."""

    def bar(self, bar: Bar) -> None:
        self.publisher.bar(bar)

    def dead_letter(self, letter: DeadLetter) -> None:
        self.publisher.dead_letter(letter)

    def commit(self) -> None:
        self.publisher.flush()


def kafka_resume_state(bootstrap: str, topic: str, tail: int = 20_000, timeout_s: float = 30.0) -> dict[FeedKey, int]:
    """Last close time per (symbol, timeframe) in the bars topic, from the last ``tail`` messages of each partition.

    A symbol whose last bar is older than the tail of its partition is not found and starts fresh (it reads
    its warm-up history again): raise ``tail`` when many symbols share few partitions.
    """
    import time

    from kafka import KafkaConsumer, TopicPartition

    from vpa_stream.schemas.codec import DecodeError, default_codec

    codec = default_codec()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="vpa-stream-live-resume",
                             enable_auto_commit=False, group_id=None)
    state: dict[FeedKey, int] = {}
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return state
        consumer.assign(tps)
        ends = consumer.end_offsets(tps)
        begins = consumer.beginning_offsets(tps)
        pending = {tp for tp in tps if ends[tp] > begins[tp]}
        for tp in pending:
            consumer.seek(tp, max(begins[tp], ends[tp] - tail))
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            for messages in consumer.poll(timeout_ms=500).values():
                for msg in messages:
                    try:
                        _, record = codec.decode(msg.value, expect="bar")
                    except DecodeError:
                        continue
                    key = (str(record["symbol"]), str(record["timeframe"]))
                    state[key] = max(state.get(key, 0), int(record["close_time"]))
            pending = {tp for tp in pending if consumer.position(tp) < ends[tp]}
        if pending:
            log.warning("resume read timed out on %d partition(s) of %s", len(pending), topic)
    finally:
        consumer.close()
    return state
