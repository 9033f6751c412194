"""The exactly-once file sink on Kafka: examples and dead letters from their topics into rotating JSONL.

One ``PartitionFiles`` owns the file lifecycle of one topic partition (as Kafka Connect's TopicPartitionWriter):
file names carry topic, partition and start offset, and each completed file records its last offset in the
manifest. Offsets are committed to Kafka only after the file holding those records is durable (the commit
order of ``sinks.jsonl``). On start the sink resumes each partition after the last offset its files hold,
whatever Kafka's committed offset says, so a crash between rename and offset commit duplicates nothing.
Examples repeated by the processor (at-least-once) are dropped by id: per key, a close-time high-water mark
that the files also record, so it survives restarts.

When files are committed (each commit keeps the same order: write -> fsync -> rename -> manifest -> offsets):
  - a file is full (``max_records`` / ``max_bytes``);
  - no record arrived for ``idle_commit_s`` (the end of a burst, such as a backfill);
  - its first record is older than ``max_file_age_s``: under a steady stream (live mode) nothing is ever
    idle, and this bounds how long an example waits before it is durable.

Broker outages: the consumer reconnects by itself; an offset commit that fails is kept and retried with capped
backoff (the files, not Kafka's offsets, say where to resume, so a late commit loses nothing), and an idle sink
probes the broker every few seconds. Only a broker that stays unreachable past ``broker_timeout_s`` ends the
sink, with ``BrokerUnavailableError`` (one line). A write failure (a full disk) ends it with
``OutputWriteError``: the open temporary files are deleted, nothing is committed, and a restart resumes from
the files.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from vpa_stream.schemas.codec import Codec, DecodeError, default_codec
from vpa_stream.schemas.records import DeadLetter, payload_text
from vpa_stream.schemas.topics import BROKER_TIMEOUT_S, RECONNECT_BACKOFF_MAX_MS, BrokerWatch, Topics
from vpa_stream.sinks.dataset import HighWaterMarks, SinkOptions
from vpa_stream.sinks.jsonl import (
    CompletedFile,
    Manifest,
    OutputWriteError,
    RotatingJsonlWriter,
    dumps,
    prepare_output_dir,
)

PROBE_EVERY_S = 5.0  # an idle sink checks the broker this often (so an outage past the deadline is reported)

log = logging.getLogger(__name__)


@dataclass
class SinkSummary:
    examples: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    files: int = 0

    def lines(self) -> list[str]:
        return [f"examples       {self.examples:,}", f"duplicates     {self.duplicates:,} (dropped by id)",
                f"dead letters   {self.dead_letters:,}", f"files          {self.files}"]


class PartitionFiles:
    """The rotating files of one topic partition, and the offsets and high-water marks they hold."""

    def __init__(self, out_dir: Path, kind: str, topic: str, partition: int, manifest: Manifest,
                 options: SinkOptions, on_commit: Callable[[CompletedFile], None]) -> None:
        self.topic = topic
        self.partition = partition
        self.kind = kind
        self.next_offset: int | None = None
        self.high_water = HighWaterMarks()
        for f in manifest.files.values():
            if f.extra.get("topic") == topic and f.extra.get("partition") == partition:
                last = int(f.extra["last_offset"])
                if self.next_offset is None or last + 1 > self.next_offset:
                    self.next_offset = last + 1
                for key, close in f.extra.get("high_water", {}).items():
                    self.high_water.raise_to(key, close)
        self._file_high_water: dict[str, str] = {}
        self.opened_at: float | None = None  # monotonic time of the open file's first record
        self.writer = RotatingJsonlWriter(
            out_dir, lambda seq, extra: f"{kind}-{topic}-{partition:03d}-{extra['first_offset']:020d}", manifest,
            options.max_records, options.max_bytes, options.compress, on_commit, snapshot=self._snapshot)

    def _snapshot(self) -> dict[str, Any]:
        """The high-water marks of the keys in the closing file: restored from the manifest on restart."""
        marks, self._file_high_water = self._file_high_water, {}
        return {"high_water": marks}

    def write(self, record_id: str, line: bytes, offset: int, key: str | None = None, close: str | None = None
              ) -> None:
        extra: dict[str, Any] = {"topic": self.topic, "partition": self.partition, "first_offset": offset,
                                 "last_offset": offset}
        if key is not None and close is not None:
            self._file_high_water[key] = close
        if self.opened_at is None:
            self.opened_at = time.monotonic()
        files_before = self.writer.sequence
        self.writer.write(record_id, line, extra)
        if self.writer.sequence != files_before:  # the write filled the file: it was committed
            self.opened_at = None

    def advance(self, offset: int) -> None:
        """A record at ``offset`` was consumed (written, or dropped as a duplicate)."""
        self.next_offset = offset + 1

    def commit(self) -> CompletedFile | None:
        self.opened_at = None
        return self.writer.commit()

    def abort(self) -> None:
        self.opened_at = None
        self.writer.abort()


def warn_if_slow_crc() -> None:
    """kafka-python checks each fetched record batch's CRC-32C; without the ``crc32c`` C extension it does so in
    pure Python, which costs more than the Avro decode of the 2.5 KB examples it guards (measured: 13.3 s
    against 5.1 s for 29,412 examples). The check stays on either way; this only says how to make it cheap."""
    try:
        from kafka.record import util
    except ImportError:  # pragma: no cover - kafka-python is a dependency
        return
    if getattr(util, "crc32c_c", None) is None:
        log.warning("kafka-python checks CRCs in pure Python here, which slows the sink several times: "
                    "pip install crc32c")


class KafkaDatasetSink:
    """``vpa-stream sink``: consume examples and dead letters, write them exactly once into ``out_dir``."""

    def __init__(self, bootstrap: str, topics: Topics, out_dir: Path, options: SinkOptions | None = None,
                 group_id: str | None = None, codec: Codec | None = None, idle_commit_s: float = 1.0,
                 max_file_age_s: float | None = 1.0, broker_timeout_s: float = BROKER_TIMEOUT_S) -> None:
        from kafka import KafkaConsumer

        self.topics = topics
        self.out_dir = out_dir
        self.manifest = prepare_output_dir(out_dir)
        self.options = options or SinkOptions()
        self.codec = codec or default_codec()
        self.idle_commit_s = idle_commit_s
        self.max_file_age_s = max_file_age_s  # None: commit only when full or idle
        self.summary = SinkSummary()
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group_id or f"{topics.prefix}sink",
            client_id="vpa-stream-sink", enable_auto_commit=False, auto_offset_reset="earliest",
            max_poll_records=2000, isolation_level="read_committed",
            reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS)
        warn_if_slow_crc()
        self.bootstrap = bootstrap
        self.broker_timeout_s = broker_timeout_s
        self.watch = BrokerWatch("sink", broker_timeout_s)
        self.partitions: dict[tuple[str, int], PartitionFiles] = {}
        self.pending_offsets: dict[Any, int] = {}  # TopicPartition -> next offset, durable in files, not committed
        self._last_probe = time.monotonic()
        self._producer: Any = None

    def _assign(self) -> None:
        """Take every partition of both topics and seek each past what the files already hold."""
        from kafka import TopicPartition

        from vpa_stream.schemas.topics import partitions_of

        tps = []
        for topic, kind in ((self.topics.examples, "examples"), (self.topics.dead_letters, "dead-letters")):
            for p in self.watch.call(partial(partitions_of, self.bootstrap, topic)):
                tp = TopicPartition(topic, p)
                tps.append(tp)
                self.partitions[(topic, p)] = PartitionFiles(self.out_dir, kind, topic, p, self.manifest,
                                                             self.options, self._on_commit)
        self.consumer.assign(tps)
        committed_offsets = {}
        for tp in tps:
            committed_offsets[tp] = self.watch.call(partial(self.consumer.committed, tp, timeout_ms=5000))
        for tp in tps:
            files = self.partitions[(tp.topic, tp.partition)]
            if files.next_offset is not None:
                self.consumer.seek(tp, files.next_offset)  # the files are the truth
            elif committed_offsets[tp] is not None:
                self.consumer.seek(tp, committed_offsets[tp])
            else:
                self.consumer.seek_to_beginning(tp)

    def _on_commit(self, completed: CompletedFile) -> None:
        """Step 5 of the commit order: the file is durable, now its offsets may be committed."""
        from kafka import TopicPartition

        self.summary.files += 1
        tp = TopicPartition(completed.extra["topic"], completed.extra["partition"])
        self.pending_offsets[tp] = int(completed.extra["last_offset"]) + 1
        if self.watch.due():
            self._commit_offsets()

    def _commit_offsets(self) -> None:
        """Commit the durable offsets; on a broker error keep them for the next try (the files are the truth)."""
        from kafka.errors import KafkaError
        from kafka.structs import OffsetAndMetadata

        if not self.pending_offsets:
            return
        offsets = {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in self.pending_offsets.items()}
        try:
            self.consumer.commit(offsets, timeout_ms=5000)
        except KafkaError as exc:
            self.watch.failed(exc)
            return
        for tp, offset in list(self.pending_offsets.items()):
            if offsets[tp].offset == offset:
                del self.pending_offsets[tp]
        self.watch.ok()

    def _probe(self) -> None:
        """An idle sink asks the broker for the end offsets now and then: an outage shows even without traffic."""
        from kafka.errors import KafkaError

        self._last_probe = time.monotonic()
        try:
            self.consumer.end_offsets(list(self.consumer.assignment()), timeout_ms=5000)
        except KafkaError as exc:
            self.watch.failed(exc)
            return
        self.watch.ok()

    def run(self, exit_when_idle_s: float | None = None, stop: Callable[[], bool] | None = None) -> SinkSummary:
        self._assign()
        last_record = time.monotonic()
        try:
            while not (stop and stop()):
                batches = self.consumer.poll(timeout_ms=self._poll_timeout_ms())
                now = time.monotonic()
                if batches:
                    last_record = now
                    for tp, records in batches.items():
                        files = self.partitions[(tp.topic, tp.partition)]
                        for rec in records:
                            self._handle(files, rec)
                idle = now - last_record
                if idle >= self.idle_commit_s:
                    self.commit_all()
                else:
                    self.commit_aged()
                if self.pending_offsets and self.watch.due():
                    self._commit_offsets()
                elif not batches and now - self._last_probe >= PROBE_EVERY_S and self.watch.due():
                    self._probe()
                if exit_when_idle_s is not None and idle >= exit_when_idle_s:
                    break
            self.commit_all()
            self._commit_offsets()
        except OutputWriteError:
            for files in self.partitions.values():
                files.abort()  # not committed: a restart consumes these records again
            raise
        finally:
            self.consumer.close(autocommit=False)
            if self._producer is not None:
                self._producer.close()
        return self.summary

    def _handle(self, files: PartitionFiles, rec: Any) -> None:
        if files.kind == "examples":
            try:
                _, record = self.codec.decode(rec.value, expect="example")
            except DecodeError as exc:
                letter = DeadLetter("sink", f"undecodable example: {exc}", payload_text(rec.value))
                self._dead_letter_from_examples(files, rec.offset, letter)
                return
            admitted = files.high_water.admit(record["id"])
            if admitted is None:
                self.summary.duplicates += 1
                files.advance(rec.offset)
                return
            key, close = admitted
            files.write(record["id"], dumps(record), rec.offset, key, close)
            self.summary.examples += 1
        else:
            try:
                _, record = self.codec.decode(rec.value, expect="dead_letter")
            except DecodeError as exc:
                record = DeadLetter("sink", f"undecodable dead letter: {exc}", payload_text(rec.value)).to_record()
            files.write(f"dead|{rec.offset}", dumps(record), rec.offset)
            self.summary.dead_letters += 1
        files.advance(rec.offset)

    def _dead_letter_from_examples(self, files: PartitionFiles, offset: int, letter: DeadLetter) -> None:
        """An undecodable example goes to the dead-letter topic (and from there into dead-letter files)."""
        if self._producer is None:
            from kafka import KafkaProducer

            self._producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True,
                                           client_id="vpa-stream-sink-dlq",
                                           delivery_timeout_ms=int(self.broker_timeout_s * 1000),
                                           max_block_ms=int(self.broker_timeout_s * 1000),
                                           reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS)
        from kafka.errors import KafkaError

        try:
            self._producer.send(self.topics.dead_letters,
                                value=self.codec.encode("dead_letter", letter.to_record())).get(self.broker_timeout_s)
        except KafkaError as exc:
            from vpa_stream.schemas.topics import BrokerUnavailableError

            raise BrokerUnavailableError("sink: dead-lettering an undecodable example", self.broker_timeout_s,
                                         exc) from exc
        log.error("undecodable example at %s[%d]@%d: %s", files.topic, files.partition, offset, letter.reason)
        files.advance(offset)

    def commit_all(self) -> None:
        for files in self.partitions.values():
            files.commit()

    def commit_aged(self) -> None:
        """Commit each open file whose first record is older than ``max_file_age_s``."""
        if self.max_file_age_s is None:
            return
        now = time.monotonic()
        for files in self.partitions.values():
            if files.opened_at is not None and now - files.opened_at >= self.max_file_age_s:
                files.commit()

    def _poll_timeout_ms(self) -> int:
        """At most 200 ms, and no longer than the oldest open file may still wait."""
        timeout = 0.2
        if self.max_file_age_s is not None:
            opened = [f.opened_at for f in self.partitions.values() if f.opened_at is not None]
            if opened:
                timeout = min(timeout, max(0.0, min(opened) + self.max_file_age_s - time.monotonic()))
        return int(timeout * 1000)
