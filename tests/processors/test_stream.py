"""The Kafka processor's stateful step without a broker: ring state, restart, redelivery, dead letters."""

from __future__ import annotations

import json

import pytest

from tests.realdata import symbol_bars
from vpa_stream.processors.stage import Encoded, ExampleStage
from vpa_stream.processors.stream import StreamProcessor, history_bars
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


def run(proc: StreamProcessor, stream: list[bytes], got: dict[str, bytes]) -> list[Encoded | DeadLetter | None]:
    results = [proc.process(p) for p in stream]
    got.update((r.id, r.payload) for r in results if isinstance(r, Encoded))
    return results


class CountingEngine:
    """Counts the engine updates a processor makes (the cost a redelivered bar must not pay).

    It stands in for the processor's engine and delegates to it: the compiled engine's methods cannot be
    patched on the instance."""

    def __init__(self, proc: StreamProcessor) -> None:
        self.calls = 0
        self.engine = proc.stage.engine
        proc.stage.engine = self  # type: ignore[assignment]

    def update(self, bar):
        self.calls += 1
        return self.engine.update(bar)

    def __getattr__(self, name: str):
        return getattr(self.engine, name)


def test_a_restarted_processor_resumes_from_the_table_with_identical_examples() -> None:
    table: dict = {}
    reference = embedded("IBM", 1200)
    got: dict[str, bytes] = {}
    stream = payloads("IBM", 1200)
    run(StreamProcessor(table), stream[:700], got)
    run(StreamProcessor(table), stream[700:], got)  # a new worker: only the table survived
    assert got == reference


@pytest.mark.parametrize("symbol", ["AAPL", "IBM"])  # AAPL: two splits inside the history
def test_a_restart_with_full_rings_rebuilds_from_the_last_history_only_and_matches_embedded(symbol: str) -> None:
    stream = payloads(symbol, 3000)
    reference = embedded(symbol, 3000)
    table: dict = {}
    got: dict[str, bytes] = {}
    first = StreamProcessor(table)
    run(first, stream[:2600], got)
    assert len(table) == first.ring.capacity("1d") + 1, "the ring wrapped (it is full)"
    second = StreamProcessor(table)
    engine = CountingEngine(second)
    run(second, stream[2600:2601], got)
    assert engine.calls == history_bars(second.cfg, "1d") + 1  # O(window) once, not O(ring)
    run(second, stream[2601:], got)
    assert got == reference


def test_redelivered_bars_after_a_restart_are_skipped_without_the_engine_and_the_next_bar_is_exact() -> None:
    stream = payloads("MSFT", 2500)
    reference = embedded("MSFT", 2500)
    table: dict = {}
    got: dict[str, bytes] = {}
    run(StreamProcessor(table), stream[:2400], got)
    restarted = StreamProcessor(table)
    for _ in restarted.restore_steps("MSFT"):
        pass
    engine = CountingEngine(restarted)
    redelivered = run(restarted, stream[1700:2400], {})  # a long redelivered tail (uncommitted offsets)
    assert redelivered == [None] * 700 and restarted.redelivered == 700
    assert engine.calls == 0
    run(restarted, stream[2400:], got)
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


def test_a_revised_bar_and_a_bar_older_than_the_ring_are_dead_letters_even_after_a_restart() -> None:
    table: dict = {}
    stream = payloads("AAPL", 2400)
    run(StreamProcessor(table), stream, {})
    proc = StreamProcessor(table)
    bar = json.loads(json.dumps(CODEC.decode(stream[2395])[1]))
    bar["close"] = bar["close"] * 1.01
    bar["high"] = max(bar["high"], bar["close"])
    revised = proc.process(CODEC.encode("bar", bar))
    assert isinstance(revised, DeadLetter) and "revised bar" in revised.reason
    too_old = proc.process(stream[10])  # long evicted from the ring: cannot be told from a bar out of order
    assert isinstance(too_old, DeadLetter) and "out of order" in too_old.reason
    assert proc.process(stream[2399]) is None  # the same bar again is a redelivery


def test_garbage_and_invalid_bars_become_dead_letters_and_processing_continues() -> None:
    proc = StreamProcessor({})
    stream = payloads("IBM", 80)
    bad = CODEC.decode(stream[10])[1] | {"high": 0.5}
    out = [proc.process(b"\x00\x01garbage"), proc.process(CODEC.encode("bar", bad))]
    assert all(isinstance(r, DeadLetter) for r in out)
    results = [proc.process(p) for p in stream]
    assert sum(isinstance(r, Encoded) for r in results) == 80 - 50 + 1  # from the 50th bar on
