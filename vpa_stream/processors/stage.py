"""The processing stage both wirings share: a bar in, an example (Avro-encoded for a topic) or a dead letter out."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from vpa_stream.processors.config import VPAConfig
from vpa_stream.processors.engine import Engine, OutOfOrderBarError
from vpa_stream.schemas.codec import Codec, DecodeError, default_codec
from vpa_stream.schemas.models import Bar, Example
from vpa_stream.schemas.records import DeadLetter, check_bar, payload_text

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Encoded:
    """An example ready for a topic or a sink: key (symbol), idempotency id, event time, Avro payload."""

    key: str
    id: str
    close_time: int
    payload: bytes


class ExampleStage:
    """Wraps the pure engine with validation and the Avro contract. One instance owns a set of symbols.

    ``primary_timeframes``: the timeframes that make examples; bars of the others are context only (None:
    every timeframe makes examples). ``verify_wire``: round-trip every example through its Avro schema as it is
    made and raise ``WireMismatchError`` if it does not come back unchanged (embedded mode hands records on as
    objects; this checks at run time that a topic would carry the same record).
    """

    def __init__(self, cfg: VPAConfig | None = None, codec: Codec | None = None,
                 primary_timeframes: Iterable[str] | None = None, verify_wire: bool = False) -> None:
        self.engine = Engine(cfg, primary_timeframes)
        self.codec = codec or default_codec()
        self.verify_wire = verify_wire
        self.warmup = 0  # primary bars without an example (their series was warming up)
        self.context = 0  # bars of context-only timeframes

    def process_bytes(self, payload: bytes) -> Encoded | DeadLetter | None:
        """Decode an Avro bar and process it; undecodable bytes become a dead letter."""
        try:
            _, record = self.codec.decode(payload, expect="bar")
            bar = Bar.from_record(record)
        except (DecodeError, KeyError, TypeError, ValueError) as exc:
            return DeadLetter("processor", f"undecodable bar: {exc}", payload_text(payload))
        return self.process(bar)

    def process(self, bar: Bar) -> Encoded | DeadLetter | None:
        result = self.process_example(bar)
        return self.encode(result) if isinstance(result, Example) else result

    def process_example(self, bar: Bar) -> Example | DeadLetter | None:
        """The example of ``bar`` as an object (embedded mode: no Avro between stages of one run)."""
        reason = check_bar(bar)
        if reason is not None:
            return DeadLetter("processor", reason, payload_text(bar.to_record()), bar.symbol, bar.timeframe,
                              bar.close_time)
        try:
            example = self.engine.update(bar)
        except OutOfOrderBarError as exc:
            return DeadLetter("processor", str(exc), payload_text(bar.to_record()), bar.symbol, bar.timeframe,
                              bar.close_time)
        if example is None:
            if self.engine.makes_examples(bar.timeframe):
                self.warmup += 1
            else:
                self.context += 1
        elif self.verify_wire:
            self.codec.check_round_trip("example", example.record)
        return example

    def encode(self, example: Example) -> Encoded:
        return Encoded(example.symbol, example.id, example.close_time, self.codec.encode("example", example.record))
