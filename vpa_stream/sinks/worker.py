"""The dataset sink behind a pipe: in a child process (decode, JSON and files on the other core) or in-process.

Both classes take examples and dead letters in replay order and return the same result, so the files are
byte-identical either way. The child writes only what the parent sends; if the parent dies (kill -9) the
child sees the pipe close, drops its open temporary files, and exits: nothing partial gets a final name.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vpa_stream.producers.validate import DeadLetter
from vpa_stream.sinks.dataset import DatasetSink, SinkOptions

BATCH = 256


@dataclass
class SinkResult:
    written: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    files: list[str] = field(default_factory=list)


def _result(sink: DatasetSink) -> SinkResult:
    return SinkResult(sink.written, sink.duplicates, sink.dead_letters,
                      [f.name for f in sink.examples.completed + sink.dead.completed])


def _finish(sink: DatasetSink) -> SinkResult:
    sink.commit()
    sink.finish_replacing()
    return _result(sink)


def _abort(sink: DatasetSink) -> None:
    sink.examples.abort()
    sink.dead.abort()


class LocalSink:
    """The sink in this process."""

    def __init__(self, out_dir: Path, options: SinkOptions | None = None) -> None:
        self.sink = DatasetSink(out_dir, options)

    def accept(self, payload: bytes) -> None:
        self.sink.accept(payload)

    def dead_letter(self, letter: DeadLetter) -> None:
        self.sink.dead_letter(letter)

    def finish(self) -> SinkResult:
        return _finish(self.sink)

    def abort(self) -> None:
        _abort(self.sink)


def _serve(conn: Any, out_dir: Path, options: SinkOptions | None) -> None:
    sink = DatasetSink(out_dir, options)
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
            else:
                sink.dead_letter(item)


class SinkWorker:
    """The sink in a child process, fed in batches of BATCH records over a pipe."""

    def __init__(self, out_dir: Path, options: SinkOptions | None = None) -> None:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold Arrow threads
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, out_dir, options), daemon=True,
                                   name="vpa-stream-sink")
        self.process.start()
        child.close()
        self.batch: list[tuple[str, Any]] = []

    def _flush(self) -> None:
        if self.batch:
            self.conn.send(self.batch)
            self.batch = []

    def accept(self, payload: bytes) -> None:
        self.batch.append(("x", payload))
        if len(self.batch) >= BATCH:
            self._flush()

    def dead_letter(self, letter: DeadLetter) -> None:
        self.batch.append(("d", letter))
        if len(self.batch) >= BATCH:
            self._flush()

    def finish(self) -> SinkResult:
        self._flush()
        self.conn.send("end")
        result: SinkResult = self.conn.recv()
        self.process.join()
        return result

    def abort(self) -> None:
        try:
            self.batch = []
            self.conn.send("abort")
        except (BrokenPipeError, OSError):
            pass
        self.process.join(timeout=30)
