"""The dataset sink behind a pipe: in a child process (Avro, JSON and files on the other core) or in-process.

Both classes take examples and dead letters in replay order and return the same result, so the files are
byte-identical either way. The child writes only what the parent sends; if the parent dies (kill -9) the
child sees the pipe close, drops its open temporary files, and exits: nothing partial gets a final name.

The two processes share the Avro encoding: the parent sends an example's record (marshalled) for the child
to encode while the child keeps up, and encodes it itself while the child is behind (a batch waits in the
outbox).
Encoding is deterministic, so where it ran never changes a byte.
"""

from __future__ import annotations

import marshal
import multiprocessing
import pickle
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vpa_stream.memory import peak_rss_mb, relax_gc
from vpa_stream.processors.engine import Example
from vpa_stream.producers.validate import DeadLetter
from vpa_stream.schemas.codec import Codec, default_codec
from vpa_stream.sinks.dataset import DatasetSink, SinkOptions

BATCH = 256
OUTBOX = 4  # batches queued for the child before the parent blocks


@dataclass
class SinkResult:
    written: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    files: list[str] = field(default_factory=list)
    peak_rss_mb: float = 0.0  # of the process the sink ran in


def _result(sink: DatasetSink) -> SinkResult:
    return SinkResult(sink.written, sink.duplicates, sink.dead_letters,
                      [f.name for f in sink.examples.completed + sink.dead.completed], peak_rss_mb())


def _finish(sink: DatasetSink) -> SinkResult:
    sink.commit()
    sink.finish_replacing()
    return _result(sink)


def _abort(sink: DatasetSink) -> None:
    sink.examples.abort()
    sink.dead.abort()


class LocalSink:
    """The sink in this process."""

    def __init__(self, out_dir: Path, options: SinkOptions | None = None, codec: Codec | None = None) -> None:
        self.sink = DatasetSink(out_dir, options, codec)
        self.codec = self.sink.codec

    def accept_example(self, example: Example) -> None:
        self.sink.accept(self.codec.encode("example", example.record))

    def dead_letter(self, letter: DeadLetter) -> None:
        self.sink.dead_letter(letter)

    def finish(self) -> SinkResult:
        return _finish(self.sink)

    def abort(self) -> None:
        _abort(self.sink)


class SinkProcessError(RuntimeError):
    """The sink's child process failed; ``cause`` is what it reported (or how it ended)."""

    def __init__(self, cause: str) -> None:
        super().__init__(f"the sink process failed: {cause}")
        self.cause = cause


def _serve(conn: Any, out_dir: Path, options: SinkOptions | None) -> None:
    relax_gc()
    sink = DatasetSink(out_dir, options)
    try:
        _serve_batches(conn, sink)
    except Exception as exc:  # tell the parent why, then leave no partial file under a final name
        _abort(sink)
        try:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        except OSError:
            pass
        raise SystemExit(1) from exc


def _serve_batches(conn: Any, sink: DatasetSink) -> None:
    codec = sink.codec
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent is gone: leave no partial file under a final name
            _abort(sink)
            return
        if message == "end":
            conn.send(_finish(sink))
            return
        if message == "abort":
            _abort(sink)
            return
        for kind, item in message:
            if kind == "x":
                sink.accept(item)
            elif kind == "r":
                sink.accept(codec.encode("example", marshal.loads(item)))
            else:
                sink.dead_letter(item)


class SinkWorker:
    """The sink in a child process, fed in pickled batches of BATCH items by a sender thread."""

    def __init__(self, out_dir: Path, options: SinkOptions | None = None) -> None:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold Arrow threads
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, out_dir, options), daemon=True,
                                   name="vpa-stream-sink")
        self.process.start()
        child.close()
        self.codec = default_codec()  # the child's codec too: either process encodes the same bytes
        self.batch: list[tuple[str, Any]] = []
        self.outbox: queue.Queue[bytes | None] = queue.Queue(maxsize=OUTBOX)
        self.send_error: OSError | None = None
        self.sender = threading.Thread(target=self._send_loop, daemon=True, name="vpa-stream-sink-sender")
        self.sender.start()

    def _send_loop(self) -> None:
        """Write queued batches to the pipe (the write releases the GIL, so the engine runs meanwhile)."""
        while True:
            data = self.outbox.get()
            if data is None:
                return
            if self.send_error is None:
                try:
                    self.conn.send_bytes(data)
                except OSError as exc:  # the child died; keep draining so the parent never blocks on put
                    self.send_error = exc

    def _failure(self) -> SinkProcessError:
        """The child's own account of its failure when it sent one, else how it ended."""
        try:
            if self.conn.poll(1.0):
                message = self.conn.recv()
                if isinstance(message, tuple) and message[:1] == ("error",):
                    return SinkProcessError(str(message[1]))
        except (EOFError, OSError):
            pass
        self.process.join(timeout=5)
        return SinkProcessError(f"exit code {self.process.exitcode} ({self.send_error or 'pipe closed'})")

    def _put(self, message: Any) -> None:
        if self.send_error is not None:
            raise self._failure()
        self.outbox.put(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    def _add(self, item: tuple[str, Any]) -> None:
        self.batch.append(item)
        if len(self.batch) >= BATCH:
            self._put(self.batch)
            self.batch = []

    def accept_example(self, example: Example) -> None:
        if self.child_keeps_up():
            try:  # marshal: half the cost of pickle for a tree of plain values (same interpreter both ends)
                self._add(("r", marshal.dumps(example.record)))
                return
            except ValueError:  # a value marshal cannot write: encode it here instead
                pass
        self._add(("x", self.codec.encode("example", example.record)))

    def child_keeps_up(self) -> bool:
        """No batch waiting for the child: it has time to encode."""
        return self.outbox.empty()

    def dead_letter(self, letter: DeadLetter) -> None:
        self._add(("d", letter))

    def finish(self) -> SinkResult:
        if self.batch:
            self._put(self.batch)
            self.batch = []
        self._put("end")
        self.outbox.put(None)
        self.sender.join()
        if self.send_error is not None:
            raise self._failure()
        try:
            result = self.conn.recv()
        except (EOFError, OSError):
            raise self._failure() from None
        if not isinstance(result, SinkResult):
            raise SinkProcessError(str(result[1]) if isinstance(result, tuple) else repr(result))
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
            self.outbox.put(pickle.dumps("abort"), timeout=5)
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
