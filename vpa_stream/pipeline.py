"""Embedded mode: source -> replay -> engine -> Avro -> sink without a broker, from the stages Kafka mode wires."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vpa_stream.memory import peak_rss_mb
from vpa_stream.processors.config import VPAConfig
from vpa_stream.processors.engine import Example
from vpa_stream.processors.stage import ExampleStage
from vpa_stream.producers.replay import bars_of
from vpa_stream.producers.sources.base import Source
from vpa_stream.producers.sources.specs import Timeframes
from vpa_stream.producers.sources.timeframes import summary_lines
from vpa_stream.producers.validate import DeadLetter
from vpa_stream.sinks.dataset import SinkOptions
from vpa_stream.sinks.worker import LocalSink, SinkWorker

log = logging.getLogger(__name__)


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
    peak_rss_mb: float = 0.0  # the largest process of the run (the sink's child process included)
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
            f"seconds        {self.seconds:.2f}",
            f"bars/s         {self.bars_per_second:,.0f}",
            f"peak memory    {self.peak_rss_mb:,.0f} MB (largest process)",
        ]


def timeframe_lines(sources: list[Source], primary: tuple[str, ...]) -> list[str]:
    """What the summary says about timeframes: nothing for a run of one timeframe known from the start, else
    each timeframe's role and how it was found."""
    resolved = [r for source in sources for r in source.resolved]
    if len({r.timeframe for r in resolved}) > 1 or any(r.origin != "given" or not r.used for r in resolved):
        return summary_lines(resolved, primary)
    return []


def run_backfill(
    sources: list[Source],
    out_dir: Path,
    cfg: VPAConfig | None = None,
    sink_options: SinkOptions | None = None,
    progress: Callable[[int], None] | None = None,
    parallel: bool = True,
    timeframes: Timeframes | None = None,
) -> RunSummary:
    """Build the dataset of ``sources`` into ``out_dir``, replacing an earlier run's files there.

    With ``timeframes`` only its primary timeframe makes examples, every other one is context, and a source
    must supply the primary and each context timeframe it names (``TimeframeError`` before anything is
    written); without, every timeframe makes examples. With ``parallel`` the sink (Avro decode, JSON, files,
    and Avro encoding while it keeps up) runs in a child process on the other core; the files are the same
    bytes as in one process.
    """
    started = time.perf_counter()
    summary = RunSummary()
    primary = (timeframes.primary,) if timeframes else None

    def dead(letter: DeadLetter) -> None:
        summary.rejected += 1
        if letter.stage == "producer":
            summary.bars += 1  # a rejected input row still counts as read
        sink.dead_letter(letter)

    bars = bars_of(sources, dead, timeframes.required if timeframes else ())  # raises before a file is touched
    summary.timeframes = timeframe_lines(sources, primary or ())
    sink = SinkWorker(out_dir, sink_options) if parallel else LocalSink(out_dir, sink_options)
    stage = ExampleStage(cfg, primary_timeframes=primary)
    try:
        for bar in bars:
            summary.bars += 1
            result = stage.process_example(bar)
            if isinstance(result, Example):
                sink.accept_example(result)  # Avro-encoded here or in the sink process, the same bytes
            elif isinstance(result, DeadLetter):
                dead(result)
            if progress is not None and summary.bars % 2048 == 0:
                progress(2048)
        done = sink.finish()
    except BaseException:
        sink.abort()
        raise
    summary.examples = done.written
    summary.warmup = stage.warmup
    summary.context = stage.context
    summary.duplicates = done.duplicates
    summary.files = done.files
    summary.seconds = time.perf_counter() - started
    summary.peak_rss_mb = max(peak_rss_mb(), done.peak_rss_mb)
    if progress is not None:
        progress(summary.bars % 2048)
    return summary
