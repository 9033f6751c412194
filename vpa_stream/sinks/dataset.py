"""The dataset sink both wirings share: examples in (Avro from a topic, JSON lines from an embedded stage),
deduplicated rotating JSONL (and dead letters) out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vpa_stream.schemas.codec import Codec, DecodeError, default_codec
from vpa_stream.schemas.records import DeadLetter, payload_text
from vpa_stream.sinks.jsonl import CompletedFile, RotatingJsonlWriter, dumps, prepare_output_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SinkOptions:
    max_records: int = 100_000
    max_bytes: int = 256 * 1024 * 1024
    compress: bool = False


#: one output record ready for a file: kind (EXAMPLE or DEAD_LETTER), its id, its JSON line (no newline)
Line = tuple[str, str, bytes]
EXAMPLE = "e"
DEAD_LETTER = "d"


def example_line(record_id: str, record: dict[str, Any]) -> Line:
    return (EXAMPLE, record_id, dumps(record))


def dead_letter_line(letter: DeadLetter) -> Line:
    return (DEAD_LETTER, f"{letter.symbol}|{letter.timeframe}|{letter.reason[:40]}", dumps(letter.to_record()))


def sequence_name(prefix: str) -> Callable[[int, dict[str, Any]], str]:
    return lambda seq, extra: f"{prefix}-{seq:05d}"


class HighWaterMarks:
    """The sinks' one de-duplication rule: an example id is ``SYMBOL|TIMEFRAME|CLOSE``, and an example is a repeat
    when its close is at or before the last one written for its series (ISO-8601 UTC strings order as times).
    The examples of a series arrive in close order (the engine's per-series order, kept by the replay, the
    partitions and the topics), so the mark drops exactly the repeats a restart re-delivers."""

    def __init__(self) -> None:
        self.marks: dict[str, str] = {}  # "SYMBOL|TIMEFRAME" -> last close written

    def admit(self, record_id: str) -> tuple[str, str] | None:
        """(series, close) of a new example, its mark raised; None for a repeat."""
        series, close = record_id.rsplit("|", 1)
        if close <= self.marks.get(series, ""):
            return None
        self.marks[series] = close
        return series, close

    def raise_to(self, series: str, close: str) -> None:
        """What was written before (a file's recorded marks, a dataset resumed): never lowers a mark."""
        if close > self.marks.get(series, ""):
            self.marks[series] = close


class DatasetSink:
    """Decodes example payloads, drops repeats by id (per-key close-time high-water mark), writes JSONL.

    ``examples`` names the example files, ``dead_letters`` the dead-letter files; both keep manifest.json.
    """

    def __init__(
        self,
        out_dir: Path,
        options: SinkOptions | None = None,
        codec: Codec | None = None,
        example_names: Callable[[int, dict[str, Any]], str] | None = None,
        dead_letter_names: Callable[[int, dict[str, Any]], str] | None = None,
        on_commit: Callable[[CompletedFile], None] | None = None,
    ) -> None:
        self.out_dir = out_dir
        self.manifest = prepare_output_dir(out_dir)
        self.options = options or SinkOptions()
        self.codec = codec or default_codec()
        o = self.options
        self.examples = RotatingJsonlWriter(out_dir, example_names or sequence_name("examples"), self.manifest,
                                            o.max_records, o.max_bytes, o.compress, on_commit)
        self.dead = RotatingJsonlWriter(out_dir, dead_letter_names or sequence_name("dead-letters"), self.manifest,
                                        o.max_records, o.max_bytes, o.compress, on_commit)
        self.high_water = HighWaterMarks()
        self.written = 0
        self.duplicates = 0
        self.dead_letters = 0

    def accept(self, payload: bytes, extra: dict[str, Any] | None = None) -> bool:
        """Write one Avro example; False when it was a repeat (already written) or undecodable."""
        try:
            _, record = self.codec.decode(payload, expect="example")
        except DecodeError as exc:
            self.dead_letter(DeadLetter("sink", f"undecodable example: {exc}", payload_text(payload)), extra)
            return False
        return self.accept_line(record["id"], dumps(record), extra)

    def accept_line(self, record_id: str, line: bytes, extra: dict[str, Any] | None = None) -> bool:
        """Write one example's JSON line; False when it was a repeat (already written)."""
        if self.high_water.admit(record_id) is None:
            self.duplicates += 1
            return False
        self.examples.write(record_id, line, extra)
        self.written += 1
        return True

    def dead_letter(self, letter: DeadLetter, extra: dict[str, Any] | None = None) -> None:
        self.write(dead_letter_line(letter), extra)

    def write(self, item: Line, extra: dict[str, Any] | None = None) -> None:
        """Write one line made by ``example_line`` or ``dead_letter_line``."""
        kind, record_id, line = item
        if kind == EXAMPLE:
            self.accept_line(record_id, line, extra)
        else:
            self.dead.write(record_id, line, extra)
            self.dead_letters += 1

    def commit(self) -> list[CompletedFile]:
        done = [f for f in (self.examples.commit(), self.dead.commit()) if f is not None]
        return done

    def finish_replacing(self) -> None:
        """End of a full backfill: forget and delete files of an earlier run that this run did not write."""
        keep = {f.name for f in self.examples.completed + self.dead.completed}
        for name in list(self.manifest.files):
            if name not in keep:
                stale = self.out_dir / name
                if stale.exists():
                    stale.unlink()
        self.manifest.retain(keep)
