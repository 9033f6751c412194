"""The record's accessors read the fields the engine writes and the schema declares, and copy without mutating."""

from __future__ import annotations

import copy
import json

import pytest

from tests.realdata import symbol_bars
from vpa_stream.processors.engine import Engine
from vpa_stream.schemas import example_record as rec
from vpa_stream.schemas.codec import SCHEMA_DIR
from vpa_stream.schemas.models import Example


@pytest.fixture(scope="module")
def example() -> Example:
    engine = Engine()
    last = None
    for bar in symbol_bars("MSFT")[:300]:
        last = engine.update(bar) or last
    assert last is not None
    return last


def _schema_fields(name: str) -> dict:
    return {f["name"]: f for f in name_fields(json.loads((SCHEMA_DIR / "example.v2.avsc").read_text()), name)}


def name_fields(schema: dict, path: str) -> list[dict]:
    """The fields of the record reached by the dotted ``path`` of field names (``""``: the top record)."""
    fields = schema["fields"]
    for part in filter(None, path.split(".")):
        kind = next(f["type"] for f in fields if f["name"] == part)
        kind = next(t for t in kind if isinstance(t, dict)) if isinstance(kind, list) else kind
        fields = kind["fields"]
    return list(fields)


def test_each_accessor_reads_the_engine_record(example: Example) -> None:
    r = example.record
    assert rec.id_of(r) == example.id
    assert rec.ticker_of(r) == example.symbol
    assert rec.timeframe_of(r) == example.timeframe
    assert example.id == f"{rec.ticker_of(r)}|{rec.timeframe_of(r)}|{rec.timestamp_of(r)}"
    assert rec.candle_of(r) is rec.inputs_of(r)["current_candle"]
    assert rec.signal_type_of(r) in ("BUY", "SELL", "HOLD")
    assert rec.strength_of(r) in ("STRONG", "MODERATE", "WEAK")
    assert rec.signal_of(r)["type"] == rec.signal_type_of(r)
    assert rec.explanation_of(r) and isinstance(rec.explanation_of(r), str)


def test_the_fields_the_accessors_read_are_schema_fields() -> None:
    assert {"id", "input", "output"} <= set(_schema_fields(""))
    assert {"ticker", "primary_timeframe", "timestamp", "current_candle"} <= set(_schema_fields("input"))
    assert {"signal", "explanation"} <= set(_schema_fields("output"))
    assert {"type", "strength", "reason"} <= set(_schema_fields("output.signal"))


def test_copies_replace_one_part_and_leave_the_record_as_it_was(example: Example) -> None:
    r = example.record
    before = copy.deepcopy(r)
    relabelled = rec.with_signal(r, {"type": "BUY", "strength": "WEAK"})
    assert rec.signal_type_of(relabelled) == "BUY" and rec.explanation_of(relabelled) == rec.explanation_of(r)
    assert rec.explanation_of(rec.with_explanation(r, "")) == ""
    assert rec.inputs_of(rec.with_inputs(r, {"ticker": "X"})) == {"ticker": "X"}
    assert r == before


def test_example_keeps_its_old_import_path() -> None:
    from vpa_stream.processors.engine import Example as OldExample

    assert OldExample is Example
