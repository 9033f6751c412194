"""Embedded mode hands records on as objects: every example must come back unchanged from the Avro wire,
or the Kafka pipeline would write a different dataset than the embedded backfill."""

from __future__ import annotations

import copy
import math

import pytest

from tests.realdata import eurusd_bars, sample_bars
from vpa_stream.processors.engine import Engine
from vpa_stream.processors.stage import ExampleStage
from vpa_stream.schemas.codec import Codec, WireMismatchError, wire_difference
from vpa_stream.sinks.jsonl import dumps


@pytest.mark.parametrize("series", ["sample daily", "EURUSD hourly"])
def test_every_example_of_real_series_round_trips_through_the_codec_unchanged(series: str) -> None:
    bars = sample_bars() if series == "sample daily" else eurusd_bars()
    codec = Codec()
    engine = Engine()
    count = 0
    for bar in bars:
        example = engine.update(bar)
        if example is None:
            continue
        _, decoded = codec.decode(codec.encode("example", example.record), expect="example")
        assert wire_difference(example.record, decoded) is None, example.id
        assert dumps(decoded) == dumps(example.record), example.id  # the line a topic's sink would write
        count += 1
    assert count > (9000 if series == "sample daily" else 4500)


@pytest.fixture(scope="module")
def record() -> dict:
    engine = Engine()
    last = None
    for bar in sample_bars()[:600]:
        last = engine.update(bar) or last
    assert last is not None
    return last.record


def test_a_value_the_schema_would_change_is_found_with_its_path(record: dict) -> None:
    changed = copy.deepcopy(record)
    changed["input"]["current_candle"]["volume"] = 100  # an int where the schema has a double: comes back 100.0
    with pytest.raises(WireMismatchError, match=r"input\.current_candle\.volume: 100 \(int\) came back as 100\.0"):
        Codec().check_round_trip("example", changed)
    Codec().check_round_trip("example", record)


def test_wire_difference_is_stricter_than_equality() -> None:
    assert wire_difference({"a": 1, "b": [True]}, {"a": 1, "b": [True]}) is None
    assert wire_difference(1, 1.0) is not None and 1 == 1.0
    assert wire_difference([True], [1]) == "[0]: True (bool) came back as 1 (int)"
    assert "keys ['a', 'b'] came back as ['b', 'a']" in str(wire_difference({"a": 1, "b": 2}, {"b": 2, "a": 1}))
    assert wire_difference({"x": [1.0, 2.0]}, {"x": [1.0]}) == "x: 2 items came back as 1"
    assert wire_difference(math.nan, math.nan) is None


def test_the_stage_checks_the_wire_only_when_asked() -> None:
    class Broken(Codec):
        def decode(self, payload: bytes, expect: str | None = None) -> tuple[str, dict]:
            name, decoded = super().decode(payload, expect)
            decoded["output"]["explanation"] += "!"
            return name, decoded

    bars = list(sample_bars()[:300])
    plain = ExampleStage(codec=Broken())
    assert sum(1 for b in bars if plain.process_example(b) is not None) > 100
    verified = ExampleStage(codec=Broken(), verify_wire=True)
    with pytest.raises(WireMismatchError, match=r"output\.explanation: "):
        for bar in bars:
            verified.process_example(bar)
