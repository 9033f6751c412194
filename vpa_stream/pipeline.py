"""Embedded mode: source -> replay -> engine -> sink without a broker, from the stages Kafka mode wires.

A chained topology, as Kafka Streams and Flink chain operators: records travel between the stages of a run as
objects, and each example is rendered to its JSON line once, where it is made. Avro encoding happens only where
a record crosses a topic (Kafka mode); ``verify_wire`` checks at run time that every example would cross one
unchanged. Three wirings of the same stages, writing byte-identical files:

- one process (``parallel=False``): replay -> stage -> sink;
- one worker: replay -> stage in this process, the sink (hashing, files) in a child process;
- N workers: replay here, the bars partitioned by symbol over N engine processes (``engine_processes``), whose
  lines the sink's child process merges back into the replay order (``sinks.worker``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from vpa_stream.engine_processes import (
    MAX_PARTITIONS,
    BarFields,
    EngineProcesses,
    PartitionGone,
    bar_fields,
    least_loaded,
    result_line,
)
from vpa_stream.memory import peak_rss_mb
from vpa_stream.processors.config import VPAConfig
from vpa_stream.processors.stage import ExampleStage
from vpa_stream.producers.replay import bars_of
from vpa_stream.producers.sources.base import Source
from vpa_stream.producers.sources.specs import Timeframes
from vpa_stream.producers.sources.timeframes import summary_lines
from vpa_stream.schemas.models import Bar
from vpa_stream.schemas.records import DeadLetter
from vpa_stream.sinks.dataset import Line, SinkOptions, dead_letter_line
from vpa_stream.sinks.worker import INLINE, LocalSink, SinkResult, SinkWorker

log = logging.getLogger(__name__)

ROUTE_BARS = 512  # bars per stretch of the route: each partition gets about ROUTE_BARS / N bars per message


def available_cores() -> int:
    """The cores this process may run on (``taskset`` and container limits included)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass
class RunSummary:
    bars: int = 0
    examples: int = 0
    warmup: int = 0
    context: int = 0  # bars of context-only timeframes
    rejected: int = 0
    duplicates: int = 0
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0
    peak_rss_mb: float = 0.0  # the largest process of the run (the sink's and the engines' processes included)
    total_rss_mb: float = 0.0  # the peaks of all the run's processes added up (an upper bound of the total)
    workers: int = 1  # engine processes (1: the engine ran in the main process)
    #: CPU seconds per process of the run: main, each engine partition, the sink's child
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    #: per timeframe: primary or context, which sources supplied it and how its timeframe was found
    timeframes: list[str] = field(default_factory=list)

    @property
    def bars_per_second(self) -> float:
        return self.bars / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        return [
            *(f"{'timeframes' if i == 0 else '':<15}{line}" for i, line in enumerate(self.timeframes)),
            f"bars read      {self.bars:,}",
            f"examples       {self.examples:,}",
            f"warm-up bars   {self.warmup:,}",
            *([f"context bars   {self.context:,}"] if self.context else []),
            f"rejected       {self.rejected:,} (see dead-letters-*.jsonl)" if self.rejected else "rejected       0",
            f"files          {len(self.files)}",
            f"workers        {self.workers}",
            f"seconds        {self.seconds:.2f}",
            f"bars/s         {self.bars_per_second:,.0f}",
            f"peak memory    {self.peak_rss_mb:,.0f} MB (largest process; {self.total_rss_mb:,.0f} MB all processes)",
        ]


def timeframe_lines(sources: list[Source], primary: tuple[str, ...]) -> list[str]:
    """What the summary says about timeframes: nothing for a run of one timeframe known from the start, else
    each timeframe's role and how it was found."""
    resolved = [r for source in sources for r in source.resolved]
    if len({r.timeframe for r in resolved}) > 1 or any(r.origin != "given" or not r.used for r in resolved):
        return summary_lines(resolved, primary)
    return []


@dataclass
class ChainResult:
    sink: SinkResult
    #: per engine (one, or one per partition): warmup, context, rejected (processor dead letters), peak_rss_mb
    engines: list[dict[str, Any]]
    peak_rss_mb: list[float]  # of every process of the chain but the sink's


class Chain(Protocol):
    """The stages after the replay: bars and the replay's dead letters in, in replay order."""

    def bar(self, bar: Bar) -> None: ...

    def dead_letter(self, letter: DeadLetter) -> None: ...

    def finish(self) -> ChainResult: ...

    def abort(self) -> None: ...


class LocalChain:
    """The engine in this process; the sink here (``LocalSink``) or in a child process (``SinkWorker``)."""

    def __init__(self, sink: LocalSink | SinkWorker, cfg: VPAConfig | None, primary: tuple[str, ...] | None,
                 verify_wire: bool) -> None:
        self.sink = sink
        self.stage = ExampleStage(cfg, primary_timeframes=primary, verify_wire=verify_wire)
        self.rejected = 0

    def bar(self, bar: Bar) -> None:
        result = self.stage.process_example(bar)
        if result is not None:
            if isinstance(result, DeadLetter):
                self.rejected += 1
            self.sink.write(result_line(result))

    def dead_letter(self, letter: DeadLetter) -> None:
        self.sink.write(dead_letter_line(letter))

    def finish(self) -> ChainResult:
        done = self.sink.finish()
        stage = self.stage
        return ChainResult(done, [{"warmup": stage.warmup, "context": stage.context, "rejected": self.rejected}],
                           [peak_rss_mb()])

    def abort(self) -> None:
        self.sink.abort()


class PartitionedChain:
    """The bars of each symbol to its engine partition; the route of every bar (which partition holds its
    result) and the replay's dead letters, in replay order, to the sink's child process, which merges."""

    def __init__(self, workers: int, out_dir: Path, sink_options: SinkOptions | None, cfg: VPAConfig | None,
                 primary: tuple[str, ...] | None, verify_wire: bool) -> None:
        self.workers = workers
        self.engines = EngineProcesses(workers, cfg, primary, verify_wire)
        try:
            self.sink = SinkWorker(out_dir, sink_options, feeds=self.engines.outputs)
        except BaseException:
            self.engines.abort()
            raise
        self.engines.outputs_handed_over()
        self.partition: dict[str, int] = {}
        self.load = [0] * workers  # bars given to each partition so far
        self.pending: list[list[BarFields]] = [[] for _ in range(workers)]
        self.route = bytearray()
        self.lines: list[Line] = []

    def bar(self, bar: Bar) -> None:
        number = self.partition.get(bar.symbol)
        if number is None:
            number = self.partition[bar.symbol] = least_loaded(self.load)
        self.load[number] += 1
        self.pending[number].append(bar_fields(bar))
        self.route.append(number)
        if len(self.route) >= ROUTE_BARS:
            self.flush()

    def dead_letter(self, letter: DeadLetter) -> None:
        self.route.append(INLINE)
        self.lines.append(dead_letter_line(letter))
        if len(self.route) >= ROUTE_BARS:
            self.flush()

    def flush(self) -> None:
        """The stretch's bars to their partitions, then its route to the sink (never the other way round)."""
        try:
            for number, bars in enumerate(self.pending):
                if bars:
                    self.engines.send(number, bars)
                    self.pending[number] = []
        except PartitionGone as gone:  # the sink's child can read why
            raise self.sink.partition_failed(gone.number) from None
        if self.route:
            self.sink.send_route(bytes(self.route), self.lines)
            self.route = bytearray()
            self.lines = []

    def finish(self) -> ChainResult:
        self.flush()
        try:
            self.engines.finish()
        except PartitionGone as gone:
            raise self.sink.partition_failed(gone.number) from None
        done = self.sink.finish()
        self.engines.join()
        return ChainResult(done, done.partitions, [peak_rss_mb()] + [p["peak_rss_mb"] for p in done.partitions])

    def abort(self) -> None:
        self.engines.abort()
        self.sink.abort()


def run_backfill(
    sources: list[Source],
    out_dir: Path,
    cfg: VPAConfig | None = None,
    sink_options: SinkOptions | None = None,
    progress: Callable[[int], None] | None = None,
    parallel: bool = True,
    timeframes: Timeframes | None = None,
    workers: int | None = None,
    verify_wire: bool = False,
) -> RunSummary:
    """Build the dataset of ``sources`` into ``out_dir``, replacing an earlier run's files there.

    With ``timeframes`` only its primary timeframe makes examples, every other one is context, and a source
    must supply the primary and each context timeframe it names (``TimeframeError`` before anything is
    written); without, every timeframe makes examples. ``workers``: engine processes (default: the cores
    available; 1 runs the engine in this process); ``parallel=False`` runs everything in this process (one
    worker). ``verify_wire``: round-trip every example through its Avro schema (``WireMismatchError``, in an
    ``EngineProcessError`` from a partition). The files are the same bytes in every wiring.
    """
    count = (available_cores() if parallel else 1) if workers is None else int(workers)
    if not 1 <= count <= MAX_PARTITIONS:
        raise ValueError(f"workers must be between 1 and {MAX_PARTITIONS}, not {count}")
    if not parallel and count != 1:
        raise ValueError("one process runs one engine: workers must be 1 when parallel is False")
    started, cpu_started = time.perf_counter(), time.process_time()
    summary = RunSummary(workers=count)
    primary = (timeframes.primary,) if timeframes else None
    replay_rejected = 0

    def dead(letter: DeadLetter) -> None:
        nonlocal replay_rejected
        replay_rejected += 1
        summary.bars += 1  # a rejected input row still counts as read
        chain.dead_letter(letter)

    bars = bars_of(sources, dead, timeframes.required if timeframes else ())  # raises before a file is touched
    summary.timeframes = timeframe_lines(sources, primary or ())
    chain: Chain
    if count > 1:
        chain = PartitionedChain(count, out_dir, sink_options, cfg, primary, verify_wire)
    else:
        sink = SinkWorker(out_dir, sink_options) if parallel else LocalSink(out_dir, sink_options)
        chain = LocalChain(sink, cfg, primary, verify_wire)
    try:
        for bar in bars:
            summary.bars += 1
            chain.bar(bar)
            if progress is not None and summary.bars % 2048 == 0:
                progress(2048)
        done = chain.finish()
    except BaseException:
        chain.abort()
        raise
    summary.examples = done.sink.written
    summary.warmup = sum(int(e["warmup"]) for e in done.engines)
    summary.context = sum(int(e["context"]) for e in done.engines)
    summary.rejected = replay_rejected + sum(int(e["rejected"]) for e in done.engines)
    summary.duplicates = done.sink.duplicates
    summary.files = done.sink.files
    summary.seconds = time.perf_counter() - started
    peaks = [*done.peak_rss_mb, done.sink.peak_rss_mb]
    summary.peak_rss_mb = max(peaks)
    summary.total_rss_mb = sum(peaks) if parallel else peaks[0]
    summary.cpu_seconds = {"main": time.process_time() - cpu_started,
                           **{f"engine {k}": float(p["cpu_s"]) for k, p in enumerate(done.sink.partitions)},
                           **({"sink": done.sink.cpu_s} if done.sink.cpu_s else {})}
    log.info("cpu seconds: %s", ", ".join(f"{k} {v:.2f}" for k, v in summary.cpu_seconds.items()),
             extra={"cpu_seconds": summary.cpu_seconds})
    if progress is not None:
        progress(summary.bars % 2048)
    return summary
