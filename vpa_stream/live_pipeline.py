"""Live mode wiring: the poller into the embedded pipeline (engine + dataset sink) or into Kafka.

Embedded mode keeps its resume state in the dataset itself: the example ids (``SYMBOL|TF|ISO-close``) of
the directory's completed files give each series' last emitted close time, and they seed the sink's
per-key high-water mark, so a restart neither duplicates nor skips. Live files are named after their first
record (``examples-live-<close>-<symbol>-<tf>``): they sort after a backfill's ``examples-NNNNN`` files,
and a name that exists is never reused, so a restart cannot overwrite anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from vpa_stream.processors.config import VPAConfig
from vpa_stream.processors.stage import Encoded, ExampleStage
from vpa_stream.producers.clock import Clock, SystemClock
from vpa_stream.producers.live import (
    Download,
    FeedKey,
    KafkaLiveOutput,
    LiveOptions,
    LivePoller,
    LiveStats,
    kafka_resume_state,
    warmup_span_ms,
)
from vpa_stream.producers.sources.base import Session, Source
from vpa_stream.schemas.models import Bar, iso_utc
from vpa_stream.schemas.records import DeadLetter
from vpa_stream.sinks.dataset import DatasetSink, SinkOptions
from vpa_stream.sinks.jsonl import Manifest

log = logging.getLogger(__name__)

EXAMPLE_PREFIX = "examples"
LIVE_EXAMPLES = "examples-live"
LIVE_DEAD_LETTERS = "dead-letters-live"


def iso_to_ms(text: str) -> int:
    return int(pd.Timestamp(text).value // 1_000_000)


def _compact(ms: int) -> str:
    return iso_utc(ms).replace("-", "").replace(":", "")


def example_ids(out_dir: Path) -> list[str]:
    """Ids of every example in the directory's completed example files (manifest order)."""
    import gzip

    ids: list[str] = []
    for name in Manifest(out_dir).files:
        if not name.startswith(EXAMPLE_PREFIX):
            continue
        path = out_dir / name
        if not path.exists():
            continue
        data = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
        for line in data.splitlines():
            if line.startswith(b'{"id":"'):  # records are written in schema order: the id comes first
                end = line.index(b'"', 7)
                ids.append(line[7:end].decode())
            elif line.strip():
                ids.append(str(orjson.loads(line)["id"]))
    return ids


def dataset_resume_state(out_dir: Path) -> dict[FeedKey, str]:
    """Last example close time per (symbol, timeframe), as the ISO text of the ids."""
    state: dict[FeedKey, str] = {}
    for example_id in example_ids(out_dir):
        symbol, timeframe, close = example_id.rsplit("|", 2)
        key = (symbol, timeframe)
        if close > state.get(key, ""):  # ISO-8601 UTC strings order as times
            state[key] = close
    return state


def _unused_name(out_dir: Path, manifest: Manifest, base: str) -> str:
    """``base``, or ``base-2``, ``base-3`` ... when a file of that name exists (a restart never overwrites)."""
    name, n = base, 1
    while any((out_dir / f"{name}{ext}").exists() or f"{name}{ext}" in manifest.files
              for ext in (".jsonl", ".jsonl.gz")):
        n += 1
        name = f"{base}-{n}"
    return name


class EmbeddedLiveOutput:
    """Embedded mode: bars through the shared ExampleStage into a DatasetSink that continues the dataset."""

    def __init__(self, out_dir: Path, cfg: VPAConfig | None, clock: Clock,
                 sink_options: SinkOptions | None = None,
                 on_commit: Callable[[list[str]], None] | None = None) -> None:
        self.out_dir = out_dir
        self.clock = clock
        self.stage = ExampleStage(cfg)
        self.resume_iso = dataset_resume_state(out_dir) if out_dir.exists() else {}
        self._first_id = ""
        self.sink = DatasetSink(out_dir, sink_options, example_names=self._example_name,
                                dead_letter_names=self._dead_letter_name)
        for (symbol, timeframe), close in self.resume_iso.items():
            self.sink.high_water.raise_to(f"{symbol}|{timeframe}", close)
        self.on_commit = on_commit
        self._pending_ids: list[str] = []
        self.examples = 0

    def resume_state(self) -> dict[FeedKey, int]:
        return {key: iso_to_ms(close) for key, close in self.resume_iso.items()}

    def _example_name(self, seq: int, extra: dict[str, Any]) -> str:
        symbol, timeframe, close = self._first_id.rsplit("|", 2)
        base = f"{LIVE_EXAMPLES}-{_compact(iso_to_ms(close))}-{symbol}-{timeframe}"
        return _unused_name(self.out_dir, self.sink.manifest, base)

    def _dead_letter_name(self, seq: int, extra: dict[str, Any]) -> str:
        return _unused_name(self.out_dir, self.sink.manifest, f"{LIVE_DEAD_LETTERS}-{_compact(self.clock.now_ms())}")

    def warm(self, bar: Bar) -> None:
        self.stage.process(bar)  # rebuilds the engine's windows; its example is already in the dataset

    def bar(self, bar: Bar) -> None:
        result = self.stage.process(bar)
        if isinstance(result, Encoded):
            self._first_id = result.id  # names the file when this record opens one
            if self.sink.accept(result.payload):
                self.examples += 1
                self._pending_ids.append(result.id)
        elif isinstance(result, DeadLetter):
            self.sink.dead_letter(result)

    def dead_letter(self, letter: DeadLetter) -> None:
        self.sink.dead_letter(letter)

    def commit(self) -> None:
        self.sink.commit()  # write -> fsync -> rename -> manifest (sinks/jsonl.py): durable on return
        if self._pending_ids and self.on_commit is not None:
            self.on_commit(self._pending_ids)
        self._pending_ids = []

    def abort(self) -> None:
        self.sink.examples.abort()
        self.sink.dead.abort()


def live_options(cfg: VPAConfig, timeframe: str, grace_s: float | None = None) -> LiveOptions:
    derived = dict(cfg.derive_timeframes).get(timeframe, ())
    return LiveOptions(grace_s=grace_s, warmup_span_ms=warmup_span_ms(timeframe, cfg.window_bars, derived))


def run_embedded(symbols: list[str], timeframe: str, out_dir: Path, *, cfg: VPAConfig | None = None,
                 clock: Clock | None = None, download: Download | None = None, session: Session | None = None,
                 sink_options: SinkOptions | None = None, options: LiveOptions | None = None,
                 stop: Callable[[], bool] | None = None, until_ms: int | None = None,
                 on_commit: Callable[[list[str]], None] | None = None, source: Source | None = None) -> LiveStats:
    """Grow the dataset in ``out_dir`` from newly closed bars, resuming from its example ids."""
    cfg = cfg or VPAConfig()
    clock = clock or SystemClock()
    output = EmbeddedLiveOutput(out_dir, cfg, clock, sink_options, on_commit)
    resume = output.resume_state()
    now = clock.now_ms()
    for (symbol, tf), close in resume.items():
        if close > now:
            log.error("%s %s: the dataset holds a bar closing %s, after now: a backfill wrote a forming bar; "
                      "live mode will not emit that close time again", symbol, tf, iso_utc(close),
                      extra={"symbol": symbol, "timeframe": tf})
    poller = LivePoller(symbols, timeframe, output, clock, download, session,
                        options or live_options(cfg, timeframe), resume, source)
    try:
        return poller.run(stop, until_ms)
    except BaseException:
        output.abort()
        raise


def run_kafka(symbols: list[str], timeframe: str, bootstrap: str, topic_prefix: str, *,
              cfg: VPAConfig | None = None, clock: Clock | None = None, download: Download | None = None,
              session: Session | None = None, options: LiveOptions | None = None,
              stop: Callable[[], bool] | None = None, until_ms: int | None = None,
              source: Source | None = None) -> LiveStats:
    """Publish newly closed bars to the bars topic, resuming from the topic's last bars."""
    from vpa_stream.producers.kafka_replay import BarPublisher, make_producer
    from vpa_stream.schemas.topics import Topics, create_topics

    cfg = cfg or VPAConfig()
    topics = Topics(topic_prefix)
    create_topics(bootstrap, topics)
    resume = kafka_resume_state(bootstrap, topics.bars)
    producer = make_producer(bootstrap, client_id="vpa-stream-live", linger_ms=5)
    publisher = BarPublisher(producer, topics)
    poller = LivePoller(symbols, timeframe, KafkaLiveOutput(publisher), clock or SystemClock(), download,
                        session, options or live_options(cfg, timeframe), resume, source)
    try:
        return poller.run(stop, until_ms)
    finally:
        publisher.flush()
        producer.close()  # type: ignore[attr-defined]
