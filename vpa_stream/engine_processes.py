"""Engine partitions: the example stage in N processes, each symbol in one of them.

A symbol goes, when the replay first meets it, to the partition that has been given the fewest bars so far
(``least_loaded``; ties to the lowest number): the replay's order is deterministic, so the placement is too,
and symbols that start together are dealt out in turn. Kafka mode places a key by murmur2 instead
(``partition_of``, its default partitioner), which the embedded backfill used to copy: it split the
benchmark's 40 symbols 16/24, so the larger partition set the pace (1.67 engines' work on 2 cores). No state
crosses between the modes, so nothing depends on their placing a symbol alike. Every bar of a symbol goes to
one partition, in replay order, so each partition's engine sees exactly the bars, in exactly the order, that
one engine would see for those symbols: by purity (DOMAIN §1) its examples are the same bytes. A partition sends
one result per bar it is given (a line, or None), which is what lets the sink merge the partitions back into
the global replay order (``sinks.worker``).

Memory: each partition holds the windows of its symbols only, and at most one batch of bars and one of
results is in flight per partition.
"""

from __future__ import annotations

import marshal
import os
import time
from collections.abc import Iterable
from dataclasses import fields
from multiprocessing.connection import Connection
from typing import Any

from vpa_stream.memory import peak_rss_mb, relax_gc
from vpa_stream.processes import ParentGone, end_with_parent, spawn_context, start_child, widen
from vpa_stream.processors.config import VPAConfig
from vpa_stream.processors.stage import ExampleStage
from vpa_stream.schemas.models import Bar, Example
from vpa_stream.schemas.records import DeadLetter
from vpa_stream.sinks.dataset import Line, dead_letter_line, example_line

#: the most partitions: a route step is one byte, and sinks.worker.INLINE (255) is not a partition
MAX_PARTITIONS = 254

BarFields = tuple[str, str, int, int, float, float, float, float, float, str, float, str]


def murmur2(data: bytes) -> int:
    """32-bit MurmurHash2 as Kafka's Java client computes it (``Utils.murmur2``, seed 0x9747b28c)."""
    m = 0x5BD1E995
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = data[whole:]
    if tail:
        h ^= int.from_bytes(tail, "little")
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def partition_of(symbol: str, partitions: int) -> int:
    """The partition of ``symbol`` among ``partitions``: Kafka's default partitioner for the key ``symbol``."""
    return (murmur2(symbol.encode()) & 0x7FFFFFFF) % partitions


def least_loaded(load: list[int]) -> int:
    """The partition with the least work so far (``load``: bars given to each); ties to the lowest number."""
    return min(range(len(load)), key=load.__getitem__)


def bar_fields(bar: Bar) -> BarFields:
    """A bar as a tuple of plain values (marshal writes it at a fraction of pickle's cost); ``Bar(*fields)``."""
    return (bar.symbol, bar.timeframe, bar.open_time, bar.close_time, bar.open, bar.high, bar.low, bar.close,
            bar.volume, bar.volume_kind, bar.split_ratio, bar.source)


def result_line(result: Example | DeadLetter) -> Line:
    """The line a stage result becomes in the dataset (the in-process chains render theirs the same way)."""
    if isinstance(result, Example):
        return example_line(result.id, result.record)
    return dead_letter_line(result)


def config_fields(cfg: VPAConfig | None) -> dict[str, Any] | None:
    """The config as its constructor's arguments, values as they are (tuples stay tuples): the compiled,
    frozen ``VPAConfig`` does not survive pickling itself."""
    if cfg is None:
        return None
    return {f.name: getattr(cfg, f.name) for f in fields(cfg) if f.init}


def serve_partition(number: int, bars_in: Connection, results_out: Connection, cfg_fields: dict[str, Any] | None,
                    primary: tuple[str, ...] | None, verify_wire: bool, parent_pid: int) -> None:
    """One partition's process: batches of bars in, one batch of results (a line or None per bar) out; at the
    end its counts; on an error the error's text, then exit code 1. It ends with its parent."""
    relax_gc()
    try:
        end_with_parent(parent_pid)
    except ParentGone:
        return
    cfg = VPAConfig(**cfg_fields) if cfg_fields is not None else None
    stage = ExampleStage(cfg, primary_timeframes=primary, verify_wire=verify_wire)
    process = stage.process_example
    rejected = 0
    try:
        while True:
            try:
                message = marshal.loads(bars_in.recv_bytes())
            except (EOFError, OSError):  # the parent is gone: nothing to finish
                return
            if message == "end":
                report = {"warmup": stage.warmup, "context": stage.context, "rejected": rejected,
                          "peak_rss_mb": peak_rss_mb(), "cpu_s": time.process_time()}
                results_out.send_bytes(marshal.dumps(("end", report)))
                return
            out: list[Line | None] = []
            for fields in message:
                result = process(Bar(*fields))
                if result is None:
                    out.append(None)
                    continue
                if isinstance(result, DeadLetter):
                    rejected += 1
                out.append(result_line(result))
            results_out.send_bytes(marshal.dumps(out))
    except ParentGone:
        return
    except Exception as exc:  # any failure is reported to the sink, which tells the parent
        try:
            results_out.send_bytes(marshal.dumps(("error", f"{type(exc).__name__}: {exc}")))
        except OSError:
            pass
        raise SystemExit(1) from exc


class PartitionGone(Exception):
    """A partition's process is gone (its input pipe broke); the sink's child can read why."""

    def __init__(self, number: int) -> None:
        super().__init__(f"engine partition {number} is gone")
        self.number = number


class EngineProcesses:
    """``count`` partition processes. ``outputs`` are the read ends of their result pipes, for the sink's child
    (hand them over, then call ``outputs_handed_over``)."""

    def __init__(self, count: int, cfg: VPAConfig | None = None, primary: Iterable[str] | None = None,
                 verify_wire: bool = False) -> None:
        if not 1 <= count <= MAX_PARTITIONS:
            raise ValueError(f"partitions must be between 1 and {MAX_PARTITIONS}, not {count}")
        ctx = spawn_context()
        self.count = count
        self.inputs: list[Connection] = []
        self.outputs: list[Connection] = []
        self.processes: list[Any] = []
        primary_tuple = tuple(primary) if primary is not None else None
        for number in range(count):
            bars_r, bars_w = ctx.Pipe(duplex=False)
            results_r, results_w = ctx.Pipe(duplex=False)
            widen(bars_w)
            widen(results_w)
            process = ctx.Process(target=serve_partition, name=f"vpa-stream-engine-{number}", daemon=True,
                                  args=(number, bars_r, results_w, config_fields(cfg), primary_tuple, verify_wire,
                                        os.getpid()))
            start_child(process)
            bars_r.close()
            results_w.close()
            self.inputs.append(bars_w)
            self.outputs.append(results_r)
            self.processes.append(process)

    def outputs_handed_over(self) -> None:
        for conn in self.outputs:
            conn.close()
        self.outputs = []

    def send(self, number: int, bars: list[BarFields]) -> None:
        """Queue a batch of bars for a partition; ``PartitionGone`` when its process is."""
        try:
            self.inputs[number].send_bytes(marshal.dumps(bars))
        except OSError:
            raise PartitionGone(number) from None

    def finish(self) -> None:
        """Tell every partition its bars are done (each then reports its counts to the sink)."""
        for number, conn in enumerate(self.inputs):
            try:
                conn.send_bytes(marshal.dumps("end"))
            except OSError:
                raise PartitionGone(number) from None
            conn.close()

    def join(self, timeout: float | None = None) -> None:
        for process in self.processes:
            process.join(timeout)

    def abort(self) -> None:
        """Stop every partition: closing its input ends it; one that does not end is terminated."""
        for conn in self.inputs:
            try:
                conn.close()
            except OSError:
                pass
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
                if process.is_alive():
                    process.kill()
