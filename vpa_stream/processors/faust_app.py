"""The Faust wiring of the processor: bars topic -> StreamProcessor (changelog-backed table) -> examples topic.

Thin by design: all logic is in ``processors.stream`` and the pure engine. Deliberately no windowed tables:
Faust windows expire by wall clock, which is wrong for replayed history; the table here is a plain
changelog-backed Table holding each series' ring buffer of raw bars, co-partitioned with the bars topic
(key = symbol), so a rebalanced partition brings its symbols' state along.

The agent takes the bars in batches (``stream.take_events``): each bar still goes through the engine on its own,
in offset order, but its outputs (the example or dead letter, and its one changelog record) are collected and
produced per batch, one Kafka record batch per topic partition, instead of through Faust's per-message send
path. The exactly-once order, per batch (or per slice of a batch, see below):

    1. process the bars (table writes go to the local store and to the batch's changelog list);
    2. produce the examples and dead letters, and wait until the broker has acknowledged all of them;
    3. only then produce the changelog records (to the bar's own partition, as Faust's Table would), and wait;
    4. only then let ``take_events`` ack the batch's events, so a committed offset never covers a bar whose
       example or changelog record is not durable.

What a kill -9 can leave, per bar of the batch it interrupts (everything before the batch is complete):
    a. nothing written: the redelivered bar is new to the ring and is processed as new;
    b. its example written, not its ring record (2 done, 3 not): processed as new again, the same bytes
       (the engine is pure and the ring before it is complete), and the sink drops the repeat by id;
    c. both written, the offset not committed (4 not done): the bar is in its ring, so its example is
       durable (3 follows 2): ``StreamProcessor`` skips it in O(1);
    d. its ring record written, not its example: impossible, 3 starts only after 2 is acknowledged.
Each (topic, partition) gets its record batches one after the other, each acknowledged before the next is
sent: a failed batch can never leave a later one of the same partition written (a hole in a ring would
replay a wrong window; a hole in the examples would let the sink's high-water mark drop the late example).

A batch never holds the event loop for long: the agent hands it back every ``YIELD_EVERY_S`` (20 ms: heartbeats,
fetches; a symbol's rebuild after an assignment yields too), and a batch whose processing passes
``SLICE_SECONDS`` is flushed (steps 2-3) in slices, so its outputs never wait for the whole batch.

A broker outage makes step 2 or 3 wait (the producer retries and reconnects by itself); the worker waits up
to ``broker_timeout_s`` for the acknowledgements, then stops with one line and exit code 1. If anything else
fails in 1-3 (a bug), it stops the same way (``fail_stop``): ``take_events`` acks a batch's events however its
body ends, and Faust commits acked offsets, so an exception let through would commit bars whose outputs were
never written. A crash is the path that is tested to lose nothing: the restarted worker rebuilds its state
from the changelog and is given the batch again. The same holds for a stop in the middle of a batch, and for
a record handed over past a gap in its partition's offsets (``OffsetGuard``: Faust can drop records around a
rebalance).
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, MutableMapping
from pathlib import Path
from typing import Any, NoReturn

from vpa_stream.processors.config import VPAConfig
from vpa_stream.processors.faust_rebalance import RING_STORE, OffsetGuard, register_ring_store
from vpa_stream.processors.stage import Encoded
from vpa_stream.processors.stream import StreamProcessor
from vpa_stream.schemas.codec import default_codec
from vpa_stream.schemas.models import Bar
from vpa_stream.schemas.records import DeadLetter
from vpa_stream.schemas.topics import BROKER_TIMEOUT_S, BrokerUnavailableError, Topics

log = logging.getLogger(__name__)

BATCH_MAX_BARS = 1000
BATCH_WITHIN_S = 0.05  # a lone bar (live mode) waits at most this long for company
MAX_RECORD_BATCH_BYTES = 512 * 1024  # below the broker's default message.max.bytes (1 MiB)
YIELD_EVERY_S = 0.02  # the longest the agent holds the event loop (a heartbeat needs a few turns; session 6 s)
SLICE_SECONDS = 1.0  # a batch whose processing takes longer is flushed in slices of about this long


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

    def __init__(self, app: Any, broker_timeout_s: float = BROKER_TIMEOUT_S) -> None:
        self.app = app
        self.broker_timeout_s = broker_timeout_s
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

    async def send_and_wait(self, records: list[tuple[str, int | None, bytes, bytes]]) -> dict[tuple[str, int], int]:
        """Send ``(topic, partition or None for the key's, key, value)`` records, in order per partition: a
        partition's record batches go out one after the other, each acknowledged before the next is sent.
        Returns the offset of the last record written to each (topic, partition)."""
        if not records:
            return {}
        producer = self.app.producer._ensure_producer()  # Faust's aiokafka producer: flushed before commits
        by_tp: dict[tuple[str, int], list[tuple[bytes, bytes]]] = {}
        for topic, partition, key, value in records:
            if partition is None:
                partition = await self._partition_of(producer, topic, key)
            by_tp.setdefault((topic, partition), []).append((key, value))
        tps = list(by_tp)
        last = await asyncio.gather(*(self._send_partition(producer, topic, partition, by_tp[(topic, partition)])
                                      for topic, partition in tps))
        return dict(zip(tps, last, strict=True))

    async def _send_partition(self, producer: Any, topic: str, partition: int,
                              messages: list[tuple[bytes, bytes]]) -> int:
        batch, count = producer.create_batch(), 0
        for key, value in messages:
            if batch.append(key=key, value=value, timestamp=None) is None:  # full: send it, start another
                await self._send_batch(producer, batch, topic, partition)
                batch, count = producer.create_batch(), 0
                batch.append(key=key, value=value, timestamp=None)  # an empty batch takes any record
            count += 1
        return await self._send_batch(producer, batch, topic, partition) + count - 1

    async def _send_batch(self, producer: Any, batch: Any, topic: str, partition: int) -> int:
        """One record batch, acknowledged; returns its base offset. The producer retries a lost connection by
        itself; this gives up (``BrokerUnavailableError``) when the broker has not acknowledged within
        ``broker_timeout_s``."""
        future = await producer.send_batch(batch, topic, partition=partition)
        try:
            metadata = await asyncio.wait_for(asyncio.shield(future), self.broker_timeout_s)
        except TimeoutError:
            raise BrokerUnavailableError(f"processor: producing to {topic}[{partition}]", self.broker_timeout_s,
                                         "no acknowledgement") from None
        return int(metadata.offset)


class Pacer:
    """Says when a long batch should hand the event loop back, and when it should flush a slice."""

    def __init__(self, yield_every_s: float = YIELD_EVERY_S, slice_s: float = SLICE_SECONDS,
                 clock: Any = time.monotonic) -> None:
        self.yield_every_s = yield_every_s
        self.slice_s = slice_s
        self.clock = clock
        self.yielded = self.sliced = clock()
        self.longest_hold = 0.0  # the longest stretch without a yield, for the tests and the logs

    async def pause(self) -> None:
        """Yield to the event loop if the agent has held it for ``yield_every_s``."""
        now = self.clock()
        if now - self.yielded >= self.yield_every_s:
            self.longest_hold = max(self.longest_hold, now - self.yielded)
            await asyncio.sleep(0)
            self.yielded = self.clock()

    def slice_due(self) -> bool:
        return self.clock() - self.sliced >= self.slice_s

    def sliced_now(self) -> None:
        self.sliced = self.yielded = self.clock()


def fail_stop(exc: BaseException, why: str = "processor batch failed") -> NoReturn:
    """End the worker process now, before Faust can ack (and commit) the batch that failed: one line (the
    traceback only with debug logging, ``--loglevel DEBUG``)."""
    log.critical("%s, stopping the worker so the batch is redelivered: %s: %s", why, type(exc).__name__, exc)
    log.debug("the failure", exc_info=exc)
    logging.shutdown()
    os._exit(1)


def build_app(bootstrap: str, topics: Topics, cfg: VPAConfig | None = None, partitions: int = 6,
              app_id: str | None = None, commit_interval_s: float = 0.5, datadir: Path | None = None,
              batch_max_bars: int = BATCH_MAX_BARS, batch_within_s: float = BATCH_WITHIN_S,
              broker_timeout_s: float = BROKER_TIMEOUT_S, primary_timeframes: Iterable[str] | None = None) -> Any:
    """A Faust app with one agent; run it with ``run_worker`` (or ``faust.Worker(app)``).

    ``primary_timeframes``: the timeframes that make examples, the others being context (None: every one).
    """
    import faust
    from faust.types import TP

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
        table_standby_replicas=0,  # see faust_rebalance.ring_store_class
        key_serializer="raw",
        value_serializer="raw",
    )
    bars = app.topic(topics.bars, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    # keys and values are bytes with the app's raw serializers
    register_ring_store()
    table = app.Table("bar-windows", default=None, key_type=bytes, value_type=bytes, partitions=partitions,
                      store=RING_STORE)
    store: Any = table.data  # faust_rebalance's ring store
    writes = ChangelogWrites(store)
    processor = StreamProcessor(writes, cfg, codec, primary_timeframes)
    producer = BatchProducer(app, broker_timeout_s)
    app.vpa_processor = processor  # type: ignore[attr-defined]

    guard = OffsetGuard()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # mode types want a union mypy cannot match
    async def on_revoked(app: Any, *args: Any, **kwargs: Any) -> None:  # (app, revoked, signal=...)
        processor.forget()  # the table is the truth: engines are rebuilt from it on next use
        guard.revoked()

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(app: Any, *args: Any, **kwargs: Any) -> None:  # (app, assigned, signal=...)
        guard.assigned(args[0] if args else kwargs.get("assigned", ()))

    async def flush(out: list[tuple[str, int | None, bytes, bytes]]) -> None:
        """Steps 2 and 3: the outputs acknowledged first, then the ring records."""
        await producer.send_and_wait(out)
        out.clear()
        changelog = table.changelog_topic.get_topic_name()
        written = await producer.send_and_wait([(changelog, partition, key, value)
                                                for partition, key, value in writes.pending])
        writes.pending.clear()
        for (topic, partition), offset in written.items():  # the store holds the ring up to here
            store.set_persisted_offset(TP(topic, partition), offset)

    async def handle(events: list[Any]) -> None:
        out: list[tuple[str, int | None, bytes, bytes]] = []
        pacer = Pacer()
        for event in events:
            guard.check(event.message.tp, event.message.offset)
            writes.partition = event.message.partition
            payload = bytes(event.value)
            bar = processor.decode(payload)
            if isinstance(bar, Bar):
                for _ in processor.restore_steps(bar.symbol):  # O(window), once per symbol per assignment
                    await pacer.pause()
                result = processor.process_bar(bar, payload)
            else:
                result = bar
            if isinstance(result, Encoded):
                out.append((topics.examples, None, result.key.encode(), result.payload))
            elif isinstance(result, DeadLetter):
                out.append((topics.dead_letters, None, result.symbol.encode(),
                            codec.encode("dead_letter", result.to_record())))
            if pacer.slice_due():
                await flush(out)
                pacer.sliced_now()
            else:
                await pacer.pause()
        await flush(out)

    @app.agent(bars)
    async def process(stream: Any) -> None:
        async for events in stream.take_events(batch_max_bars, within=batch_within_s):
            try:
                await handle(events)
            except asyncio.CancelledError as exc:  # a stop in the middle of a batch: take_events would ack it
                fail_stop(exc, "the worker was stopped in the middle of a batch")
            except Exception as exc:  # any failure: stop before the batch is acked
                fail_stop(exc)

    return app


def run_worker(app: Any, loglevel: str = "WARNING") -> None:
    """Run a worker until SIGTERM/SIGINT (blocking); offsets are committed on a clean stop."""
    import faust

    worker = faust.Worker(app, loglevel=loglevel, quiet=True, override_logging=False, redirect_stdouts=False)
    worker.spinner = None
    worker.execute_from_commandline()
