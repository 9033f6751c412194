"""The dataset sink of an embedded run: in this process, or in a child process that merges what it is sent.

Both take lines (``sinks.dataset.Line``: an example's or a dead letter's id and JSON line) in replay order and
return the same result, so the files are byte-identical either way. No Avro here: embedded mode hands records
on as objects and renders each once, where it is made.

The child reads two kinds of input. The parent's pipe carries *routes*: batches of ``(route, lines)``. An
empty route means "write these lines in this order". Otherwise each byte of the route is one step of the
global replay order: INLINE takes the next of the batch's own lines (the parent's dead letters), and k takes
the next result of engine partition k, read from that partition's own pipe (one result per bar sent to it,
None for a bar without output). So the partitions' outputs are merged back into the global replay order
without a sort key, whatever their speed. Deadlock-free because the parent sends a route only after the bars
it covers, each partition handles its bars in order, and the child always reads the partition it waits for.

The child writes only what it is sent; if the parent (or a partition) dies, it sees its pipe close, drops
its open temporary files, and exits: nothing partial gets a final name.
"""

from __future__ import annotations

import marshal
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from vpa_stream.memory import peak_rss_mb, relax_gc
from vpa_stream.processes import (
    EngineProcessError,
    ParentGone,
    SinkProcessError,
    end_with_parent,
    spawn_context,
    start_child,
    widen,
)
from vpa_stream.sinks.dataset import DatasetSink, Line, SinkOptions

__all__ = ["INLINE", "LocalSink", "SinkProcessError", "SinkResult", "SinkWorker"]

BATCH = 256  # lines per message when this process sends every line
OUTBOX = 4  # messages queued for the child before the parent blocks
FAILURE_WAIT_S = 30.0
READ_AHEAD = 4  # result batches read ahead per engine partition
INLINE = 255  # a route step that takes the route's own next line; partitions are numbered 0..254


@dataclass
class SinkResult:
    written: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    files: list[str] = field(default_factory=list)
    peak_rss_mb: float = 0.0  # of the process the sink ran in
    cpu_s: float = 0.0  # CPU seconds of the sink's child process (0 when the sink ran in the caller's)
    #: what each engine partition reported at its end (its counts and peak memory), in partition order
    partitions: list[dict[str, Any]] = field(default_factory=list)


def _finish(sink: DatasetSink, partitions: list[dict[str, Any]] | None = None, cpu_s: float = 0.0) -> SinkResult:
    sink.commit()
    sink.finish_replacing()
    return SinkResult(sink.written, sink.duplicates, sink.dead_letters,
                      [f.name for f in sink.examples.completed + sink.dead.completed], peak_rss_mb(), cpu_s,
                      partitions or [])


def _abort(sink: DatasetSink) -> None:
    sink.examples.abort()
    sink.dead.abort()


class LocalSink:
    """The sink in this process."""

    def __init__(self, out_dir: Path, options: SinkOptions | None = None) -> None:
        self.sink = DatasetSink(out_dir, options)

    def write(self, line: Line) -> None:
        self.sink.write(line)

    def finish(self) -> SinkResult:
        return _finish(self.sink)

    def abort(self) -> None:
        _abort(self.sink)


class _PartitionFailed(Exception):
    """An engine partition reported an error or ended early (raised in the sink's child)."""


class _PartitionResults:
    """The results one engine partition sends, taken a batch at a time as the route asks for them.

    A thread reads the partition's pipe ahead, up to READ_AHEAD batches: the route takes the partitions in
    replay order, so without it a partition whose turn has not come blocks on a full pipe and idles while the
    other catches up (about 8% of each partition's time in a 2-worker backfill). Memory: at most READ_AHEAD
    batches of lines per partition.
    """

    def __init__(self, number: int, conn: Connection) -> None:
        self.number = number
        self.conn = conn
        self.batch: list[Line | None] = []
        self.next = 0
        self.inbox: queue.Queue[bytes | None] = queue.Queue(maxsize=READ_AHEAD)
        threading.Thread(target=self._read, name=f"partition-{number}-reader", daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = self.conn.recv_bytes()
            except (EOFError, OSError):
                self.inbox.put(None)
                return
            self.inbox.put(data)

    def _receive(self) -> Any:
        data = self.inbox.get()
        if data is None:
            self.inbox.put(None)  # every later read sees the end too
            raise _PartitionFailed(f"partition {self.number} ended without a word (killed?)")
        return marshal.loads(data)

    def take(self) -> Line | None:
        if self.next == len(self.batch):
            message = self._receive()
            if not isinstance(message, list):
                self._fail(message, "sent its end before its last result")
            self.batch = message
            self.next = 0
        item = self.batch[self.next]
        self.next += 1
        return item

    def end(self) -> dict[str, Any]:
        """The partition's final report, once every result it sent was taken."""
        message = self._receive() if self.next == len(self.batch) else None
        if not (isinstance(message, tuple) and message[0] == "end"):
            self._fail(message, "sent more results than bars were routed to it")
        return dict(message[1])

    def failure(self) -> None:
        """Read what the partition sent after its last result taken, and raise its error (or its end)."""
        while True:
            message = self._receive()
            if not isinstance(message, list):
                self._fail(message, "stopped")

    def _fail(self, message: Any, otherwise: str) -> None:
        if isinstance(message, tuple) and message[0] == "error":
            raise _PartitionFailed(f"partition {self.number}: {message[1]}")
        raise _PartitionFailed(f"partition {self.number} {otherwise}")


def _serve(conn: Connection, out_dir: Path, options: SinkOptions | None, feeds: list[Connection],
           parent_pid: int) -> None:
    relax_gc()
    sink = None
    try:
        end_with_parent(parent_pid)
        sink = DatasetSink(out_dir, options)
        _serve_routes(conn, sink, [_PartitionResults(k, feed) for k, feed in enumerate(feeds)])
    except ParentGone:  # killed with its parent: write nothing more, leave no temporary file
        if sink is not None:
            _abort(sink)
    except Exception as exc:  # tell the parent why, then leave no partial file under a final name
        if sink is not None:
            _abort(sink)
        stage = "engine" if isinstance(exc, _PartitionFailed) else "sink"
        try:
            conn.send(("error", stage, str(exc) if stage == "engine" else f"{type(exc).__name__}: {exc}"))
        except OSError:
            pass
        raise SystemExit(1) from exc


def _serve_routes(conn: Connection, sink: DatasetSink, partitions: list[_PartitionResults]) -> None:
    write = sink.write
    while True:
        try:
            message = marshal.loads(conn.recv_bytes())
        except (EOFError, OSError):  # the parent is gone: leave no partial file under a final name
            _abort(sink)
            return
        if message == "end":
            reports = [p.end() for p in partitions]
            conn.send(_finish(sink, reports, time.process_time()))
            return
        if message == "abort":
            _abort(sink)
            return
        if message[0] == "failed":  # the parent found partition k gone: say why it went
            partitions[message[1]].failure()
        route, lines = message
        if not route:
            for line in lines:
                write(line)
            continue
        inline = iter(lines)
        for step in route:
            item = next(inline) if step == INLINE else partitions[step].take()
            if item is not None:
                write(item)


class SinkWorker:
    """The sink in a child process, fed by a sender thread.

    ``feeds``: the read ends of the engine partitions' result pipes (handed to the child; closed here), when
    the parent sends routes (``send_route``); else the parent sends every line itself (``write``).
    """

    def __init__(self, out_dir: Path, options: SinkOptions | None = None,
                 feeds: list[Connection] | None = None) -> None:
        ctx = spawn_context()
        self.conn, child = ctx.Pipe()
        widen(self.conn)
        feeds = feeds or []
        self.process = ctx.Process(target=_serve, args=(child, out_dir, options, feeds, os.getpid()), daemon=True,
                                   name="vpa-stream-sink")
        start_child(self.process)
        child.close()
        for feed in feeds:
            feed.close()  # the child holds them: it alone must see a partition's pipe close
        self.batch: list[Line] = []
        self.outbox: queue.Queue[bytes | None] = queue.Queue(maxsize=OUTBOX)
        self.send_error: OSError | None = None
        self.sender = threading.Thread(target=self._send_loop, daemon=True, name="vpa-stream-sink-sender")
        self.sender.start()

    def _send_loop(self) -> None:
        """Write queued messages to the pipe (the write releases the GIL, so the engine runs meanwhile)."""
        while True:
            data = self.outbox.get()
            if data is None:
                return
            if self.send_error is None:
                try:
                    self.conn.send_bytes(data)
                except OSError as exc:  # the child died; keep draining so the parent never blocks on put
                    self.send_error = exc

    def failure(self) -> SinkProcessError | EngineProcessError:
        """The child's own account of its failure when it sent one, else how it ended. (The poll returns at
        the child's message or its exit; the timeout is for a child that hangs.)"""
        try:
            if self.conn.poll(FAILURE_WAIT_S):
                message = self.conn.recv()
                if isinstance(message, tuple) and message[:1] == ("error",):
                    kind = EngineProcessError if message[1] == "engine" else SinkProcessError
                    return kind(str(message[2]))
        except (EOFError, OSError):
            pass
        self.process.join(timeout=5)
        return SinkProcessError(f"exit code {self.process.exitcode} ({self.send_error or 'pipe closed'})")

    def _put(self, message: Any) -> None:
        if self.send_error is not None or not self.process.is_alive():
            raise self.failure()
        self.outbox.put(marshal.dumps(message))

    def write(self, line: Line) -> None:
        self.batch.append(line)
        if len(self.batch) >= BATCH:
            self._put((b"", self.batch))
            self.batch = []

    def send_route(self, route: bytes, lines: list[Line]) -> None:
        """One stretch of the replay order (see the module doc); sent after the bars it covers."""
        self._put((route, lines))

    def partition_failed(self, number: int) -> EngineProcessError | SinkProcessError:
        """Partition ``number`` is gone (its pipe broke): the child reads why from that partition's pipe."""
        try:
            self._put(("failed", number))
        except (EngineProcessError, SinkProcessError) as exc:
            return exc
        return self.failure()

    def finish(self) -> SinkResult:
        if self.batch:
            self._put((b"", self.batch))
            self.batch = []
        self._put("end")
        self.outbox.put(None)
        self.sender.join()
        if self.send_error is not None:
            raise self.failure()
        try:
            result = self.conn.recv()
        except (EOFError, OSError):
            raise self.failure() from None
        if not isinstance(result, SinkResult):
            if isinstance(result, tuple) and result[:1] == ("error",):
                raise (EngineProcessError if result[1] == "engine" else SinkProcessError)(str(result[2]))
            raise SinkProcessError(repr(result))
        self.process.join()
        return result

    def abort(self) -> None:
        self.batch = []
        while True:  # drop what is queued: nothing more is written
            try:
                self.outbox.get_nowait()
            except queue.Empty:
                break
        try:
            self.outbox.put(marshal.dumps("abort"), timeout=5)
            self.outbox.put(None, timeout=5)
        except queue.Full:
            pass
        self.sender.join(timeout=10)
        self.process.join(timeout=10)
        if self.process.is_alive():  # hung or stopped: it must not outlive us holding temporary files
            self.process.terminate()
            self.process.join(timeout=5)
            if self.process.is_alive():
                self.process.kill()
