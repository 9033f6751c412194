"""The Faust wiring of the processor: bars topic -> StreamProcessor (changelog-backed table) -> examples topic.

Thin by design: all logic is in ``processors.stream`` and the pure engine. Deliberately no windowed tables:
Faust windows expire by wall clock, which is wrong for replayed history; the table here is a plain
changelog-backed Table holding each series' ring buffer of raw bars, co-partitioned with the bars topic
(key = symbol), so a rebalanced partition brings its symbols' state along.

The agent takes the bars in batches (``stream.take_events``): each bar still goes through the engine on its own,
in offset order, but its outputs (the example or dead letter, and its one changelog record) are collected and
produced per batch, one Kafka record batch per topic partition, instead of through Faust's per-message send
path. The at-least-once order is kept by waiting, per batch:

    1. process every bar of the batch (table writes go to the local store and to the batch's changelog list);
    2. produce the changelog records (to the bar's own partition, as Faust's Table would) and the outputs;
    3. wait until the broker has acknowledged all of them;
    4. only then let ``take_events`` ack the batch's events, so a committed offset never covers a bar whose
       changelog record or example is not durable. A crash before 4 redelivers the batch: the bars find
       themselves in the ring and recompute the same examples, which the sink drops by id.

If anything fails in 1-3 (a produce error, a bug), the worker stops at once with exit code 1 (``fail_stop``):
``take_events`` acks a batch's events however its body ends, and Faust commits acked offsets, so an exception
let through would commit bars whose outputs were never written, and leave in the local store ring writes the
changelog never got. A crash is the path that is tested to lose nothing: the restarted worker rebuilds its
state from the changelog and is given the batch again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, MutableMapping
from pathlib import Path
from typing import Any, NoReturn

from vpa_stream.processors.config import VPAConfig
from vpa_stream.processors.stage import Encoded
from vpa_stream.processors.stream import StreamProcessor
from vpa_stream.producers.validate import DeadLetter
from vpa_stream.schemas.codec import default_codec
from vpa_stream.schemas.topics import Topics

log = logging.getLogger(__name__)

BATCH_MAX_BARS = 1000
BATCH_WITHIN_S = 0.05  # a lone bar (live mode) waits at most this long for company
MAX_RECORD_BATCH_BYTES = 512 * 1024  # below the broker's default message.max.bytes (1 MiB)


def default_datadir(app_id: str) -> Path:
    """Faust's data directory outside the working tree: the state lives in the changelog, this holds nothing
    a restart needs (the store is in memory)."""
    return Path(tempfile.gettempdir()) / "vpa-stream" / f"{app_id}-data"


class ChangelogWrites(MutableMapping[bytes, Any]):
    """The table as the processor sees it during a batch: reads and writes go to Faust's local store, and every
    write is also kept, with the partition of the bar that made it, to be produced to the changelog topic."""

    def __init__(self, store: MutableMapping[Any, Any]) -> None:
        self.store = store
        self.partition = 0
        self.pending: list[tuple[int, bytes, bytes]] = []

    def __getitem__(self, key: bytes) -> Any:
        return self.store[key]

    def get(self, key: bytes, default: Any = None) -> Any:
        return self.store.get(key, default)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.store[key] = value
        self.pending.append((self.partition, key, value))

    def __delitem__(self, key: bytes) -> None:
        raise NotImplementedError("the bar ring never deletes")

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.store)

    def __len__(self) -> int:
        return len(self.store)


class BatchProducer:
    """Produces keyed records as one Kafka record batch per topic partition and waits for their delivery."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.partitions: dict[str, list[int]] = {}
        self.key_partition: dict[tuple[str, bytes], int] = {}

    async def _partition_of(self, producer: Any, topic: str, key: bytes) -> int:
        """The partition aiokafka's default partitioner (murmur2 of the key, as Kafka's Java client) picks."""
        from aiokafka.partitioner import DefaultPartitioner

        partition = self.key_partition.get((topic, key))
        if partition is None:
            if topic not in self.partitions:
                self.partitions[topic] = sorted(await producer.partitions_for(topic))
            partition = DefaultPartitioner()(key, self.partitions[topic], self.partitions[topic])
            self.key_partition[(topic, key)] = partition
        return partition

    async def send_and_wait(self, records: list[tuple[str, int | None, bytes, bytes]]) -> None:
        """Send ``(topic, partition or None for the key's, key, value)`` records, in order per partition."""
        if not records:
            return
        producer = self.app.producer._ensure_producer()  # Faust's aiokafka producer: flushed before commits
        by_tp: dict[tuple[str, int], list[tuple[bytes, bytes]]] = {}
        for topic, partition, key, value in records:
            if partition is None:
                partition = await self._partition_of(producer, topic, key)
            by_tp.setdefault((topic, partition), []).append((key, value))
        futures = []
        for (topic, partition), messages in by_tp.items():
            batch = producer.create_batch()
            for key, value in messages:
                if batch.append(key=key, value=value, timestamp=None) is None:  # full: send it, start another
                    futures.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None)  # an empty batch takes any record
            futures.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*futures)


def fail_stop(exc: BaseException) -> NoReturn:
    """End the worker process now, before Faust can ack (and commit) the batch that failed."""
    log.critical("processor batch failed, stopping the worker so the batch is redelivered: %s: %s",
                 type(exc).__name__, exc, exc_info=exc)
    logging.shutdown()
    os._exit(1)


def build_app(bootstrap: str, topics: Topics, cfg: VPAConfig | None = None, partitions: int = 6,
              app_id: str | None = None, commit_interval_s: float = 0.5, datadir: Path | None = None,
              batch_max_bars: int = BATCH_MAX_BARS, batch_within_s: float = BATCH_WITHIN_S,
              primary_timeframes: Iterable[str] | None = None) -> Any:
    """A Faust app with one agent; run it with ``run_worker`` (or ``faust.Worker(app)``).

    ``primary_timeframes``: the timeframes that make examples, the others being context (None: every one).
    """
    import faust

    codec = default_codec()
    app_id = app_id or f"{topics.prefix}processor"
    datadir = datadir or default_datadir(app_id)
    datadir.parent.mkdir(parents=True, exist_ok=True)  # Faust makes the directory itself, not its parents
    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",  # recovered from the changelog topic on start: the changelog is the state
        datadir=str(datadir),
        topic_partitions=partitions,
        topic_replication_factor=1,
        web_enabled=False,
        broker_session_timeout=6.0,  # a killed worker's partitions move on within seconds
        broker_heartbeat_interval=1.0,
        broker_commit_interval=commit_interval_s,
        producer_acks=-1,
        producer_max_batch_size=MAX_RECORD_BATCH_BYTES,
        producer_max_request_size=2 * MAX_RECORD_BATCH_BYTES,
        key_serializer="raw",
        value_serializer="raw",
    )
    bars = app.topic(topics.bars, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    # keys and values are bytes with the app's raw serializers
    table = app.Table("bar-windows", default=None, key_type=bytes, value_type=bytes, partitions=partitions)
    writes = ChangelogWrites(table.data)
    processor = StreamProcessor(writes, cfg, codec, primary_timeframes)
    producer = BatchProducer(app)
    app.vpa_processor = processor  # type: ignore[attr-defined]

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # mode types want a union mypy cannot match
    async def on_revoked(app: Any, *args: Any, **kwargs: Any) -> None:  # (app, revoked, signal=...)
        processor.forget()  # the table is the truth: engines are rebuilt from it on next use

    @app.agent(bars)
    async def process(stream: Any) -> None:
        changelog = table.changelog_topic.get_topic_name()
        async for events in stream.take_events(batch_max_bars, within=batch_within_s):
            try:
                out: list[tuple[str, int | None, bytes, bytes]] = []
                for event in events:
                    writes.partition = event.message.partition
                    result = processor.process(bytes(event.value))
                    if isinstance(result, Encoded):
                        out.append((topics.examples, None, result.key.encode(), result.payload))
                    elif isinstance(result, DeadLetter):
                        out.append((topics.dead_letters, None, result.symbol.encode(),
                                    codec.encode("dead_letter", result.to_record())))
                records = [(changelog, partition, key, value) for partition, key, value in writes.pending]
                await producer.send_and_wait(records + out)
                writes.pending.clear()
            except asyncio.CancelledError:  # a stop or a rebalance: Faust waits for the batch, never cancels it
                raise
            except Exception as exc:  # any failure: stop before the batch is acked
                fail_stop(exc)

    return app


def run_worker(app: Any, loglevel: str = "WARNING") -> None:
    """Run a worker until SIGTERM/SIGINT (blocking); offsets are committed on a clean stop."""
    import faust

    worker = faust.Worker(app, loglevel=loglevel, quiet=True, override_logging=False, redirect_stdouts=False)
    worker.spinner = None
    worker.execute_from_commandline()
