"""The Kafka processor's stateful step without a broker: ring state, restart, redelivery, dead letters."""

from __future__ import annotations

import json

from tests.realdata import symbol_bars
from vpa_stream.processors.stage import Encoded, ExampleStage
from vpa_stream.processors.stream import StreamProcessor
from vpa_stream.producers.validate import DeadLetter
from vpa_stream.schemas.codec import default_codec

CODEC = default_codec()


def payloads(symbol: str, n: int) -> list[bytes]:
    return [CODEC.encode("bar", b.to_record()) for b in symbol_bars(symbol)[:n]]


def embedded(symbol: str, n: int) -> dict[str, bytes]:
    stage = ExampleStage()
    out = {}
    for b in symbol_bars(symbol)[:n]:
        r = stage.process(b)
        if isinstance(r, Encoded):
            out[r.id] = r.payload
    return out


def test_a_restarted_processor_resumes_from_the_table_with_identical_examples() -> None:
    table: dict = {}
    reference = embedded("IBM", 1200)
    first = StreamProcessor(table)
    got = {}
    stream = payloads("IBM", 1200)
    for p in stream[:700]:
        r = first.process(p)
        if isinstance(r, Encoded):
            got[r.id] = r.payload
    second = StreamProcessor(table)  # a new worker: only the table survived
    for p in stream[700:]:
        r = second.process(p)
        if isinstance(r, Encoded):
            got[r.id] = r.payload
    assert got == reference


def test_changelog_writes_per_bar_are_constant() -> None:
    class CountingTable(dict):
        writes = 0

        def __setitem__(self, key, value) -> None:
            CountingTable.writes += 1
            super().__setitem__(key, value)

    table = CountingTable()
    proc = StreamProcessor(table)
    stream = payloads("MSFT", 2000)
    for p in stream[:1000]:
        proc.process(p)
    early = CountingTable.writes
    for p in stream[1000:]:
        proc.process(p)
    assert CountingTable.writes - early == 1000  # one slot per bar, whatever the window length
    assert len(table) <= proc.ring.capacity("1d") + 1


def test_a_redelivered_bar_reproduces_its_example_and_a_revised_one_is_a_dead_letter() -> None:
    table: dict = {}
    proc = StreamProcessor(table)
    stream = payloads("AAPL", 600)
    results = [proc.process(p) for p in stream]
    again = StreamProcessor(table).process(stream[590])
    assert isinstance(again, Encoded) and again.payload == results[590].payload
    bar = json.loads(json.dumps(CODEC.decode(stream[595])[1]))
    bar["close"] = bar["close"] * 1.01
    bar["high"] = max(bar["high"], bar["close"])
    revised = proc.process(CODEC.encode("bar", bar))
    assert isinstance(revised, DeadLetter) and "revised bar" in revised.reason


def test_garbage_and_invalid_bars_become_dead_letters_and_processing_continues() -> None:
    proc = StreamProcessor({})
    stream = payloads("IBM", 80)
    bad = CODEC.decode(stream[10])[1] | {"high": 0.5}
    out = [proc.process(b"\x00\x01garbage"), proc.process(CODEC.encode("bar", bad))]
    assert all(isinstance(r, DeadLetter) for r in out)
    results = [proc.process(p) for p in stream]
    assert sum(isinstance(r, Encoded) for r in results) == 80 - 50 + 1  # from the 50th bar on
