"""The Avro contract: single-object encoding, fingerprints, schema evolution, and the record shape."""

from __future__ import annotations

import copy
import json
import re

import pytest
from fastavro.schema import fingerprint, to_parsing_canonical_form

from tests.realdata import symbol_bars
from vpa_stream.processors.engine import Engine
from vpa_stream.schemas.codec import SCHEMA_DIR, Codec, DecodeError


@pytest.fixture(scope="module")
def example_record() -> dict:
    engine = Engine()
    last = None
    for bar in symbol_bars("IBM")[:400]:
        last = engine.update(bar) or last
    assert last is not None
    return last.record


def test_payload_starts_with_marker_and_crc64_fingerprint(example_record: dict) -> None:
    codec = Codec()
    payload = codec.encode("example", example_record)
    raw = json.loads((SCHEMA_DIR / "example.v2.avsc").read_text())
    fp = fingerprint(to_parsing_canonical_form(raw), "CRC-64-AVRO")
    assert payload[:2] == b"\xc3\x01"
    assert payload[2:10] == bytes.fromhex(fp)


def test_example_round_trips_field_for_field(example_record: dict) -> None:
    codec = Codec()
    name, decoded = codec.decode(codec.encode("example", example_record))
    assert name == "example"
    assert json.dumps(decoded) == json.dumps(example_record)


def test_a_later_version_that_adds_a_defaulted_field_reads_an_earlier_payload(example_record: dict) -> None:
    v2 = json.loads((SCHEMA_DIR / "example.v2.avsc").read_text())
    v3 = copy.deepcopy(v2)
    v3["fields"].append({"name": "split", "type": "string", "default": "train"})
    writer = Codec([("example", 2, v2)])
    payload = writer.encode("example", example_record)
    reader = Codec([("example", 2, v2), ("example", 3, v3)])
    _, decoded = reader.decode(payload)
    assert decoded["split"] == "train"
    assert decoded["id"] == example_record["id"]


def _as_v1(record: dict) -> dict:
    """The record as engine 1.x wrote it: prior patterns instead of evidence, no signal reason."""
    v1 = copy.deepcopy(record)
    inp = v1["input"]
    inp.pop("evidence")
    inp["prior_patterns"] = [{"bars_ago": 1, "patterns": ["TEST"]}, {"bars_ago": 2, "patterns": []}]
    inp["trend_analysis"].pop("recent_move_atr")
    inp["trend_analysis"]["trading_range"].pop("position")
    v1["output"]["signal"].pop("reason")
    return v1


def test_a_v1_example_decodes_with_the_v2_reader_and_the_reason_gets_its_default(example_record: dict) -> None:
    v1_schema = json.loads((SCHEMA_DIR / "example.v1.avsc").read_text())
    payload = Codec([("example", 1, v1_schema)]).encode("example", _as_v1(example_record))
    name, decoded = Codec().decode(payload)
    assert name == "example"
    assert decoded["output"]["signal"]["reason"] == "UNSPECIFIED"
    assert decoded["input"]["evidence"] == []
    assert "prior_patterns" not in decoded["input"]
    assert decoded["output"]["signal"]["type"] == example_record["output"]["signal"]["type"]


@pytest.mark.parametrize("payload", [b"", b"garbage", b"\xc3\x01" + b"\x00" * 8 + b"x", b"\xc3\x01\x01"])
def test_garbage_bytes_raise_a_decode_error(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        Codec().decode(payload)


def test_truncated_body_raises_a_decode_error(example_record: dict) -> None:
    payload = Codec().encode("example", example_record)
    with pytest.raises(DecodeError):
        Codec().decode(payload[: len(payload) // 2])


def _named_records(schema: object, out: dict[str, dict]) -> dict[str, dict]:
    if isinstance(schema, list):
        for branch in schema:
            _named_records(branch, out)
    elif isinstance(schema, dict):
        if schema.get("type") == "record":
            out[schema["name"]] = schema
            for f in schema["fields"]:
                _named_records(f["type"], out)
        for key in ("items", "values", "type"):
            if isinstance(schema.get(key), dict | list):
                _named_records(schema[key], out)
    return out


def _schema_keys(schema: object, path: str = "", named: dict[str, dict] | None = None) -> dict[str, list[str]]:
    """record path -> its field names, for every record of a parsed-JSON Avro schema (named types resolved)."""
    named = _named_records(schema, {}) if named is None else named
    out: dict[str, list[str]] = {}
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    if isinstance(schema, list):
        for branch in schema:
            out.update(_schema_keys(branch, path, named))
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind == "record":
            out[path] = [f["name"] for f in schema["fields"]]
            for f in schema["fields"]:
                out.update(_schema_keys(f["type"], f"{path}.{f['name']}", named))
        elif kind == "array":
            out.update(_schema_keys(schema["items"], f"{path}[]", named))
        elif kind == "map":
            out.update(_schema_keys(schema["values"], f"{path}{{}}", named))
        elif isinstance(kind, dict | list) or (isinstance(kind, str) and kind in named):
            out.update(_schema_keys(kind, path, named))
    return out


def _record_keys(value: object, path: str = "", out: dict[str, set[str]] | None = None) -> dict[str, set[str]]:
    out = {} if out is None else out
    if isinstance(value, dict):
        out.setdefault(path, set()).update(value)
        for k, v in value.items():
            _record_keys(v, f"{path}.{k}", out)
    elif isinstance(value, list):
        for v in value:
            _record_keys(v, f"{path}[]", out)
    return out


def test_schema_declares_every_key_of_the_record_in_order(example_record: dict) -> None:
    raw = json.loads((SCHEMA_DIR / "example.v2.avsc").read_text())
    assert [f["name"] for f in raw["fields"]] == list(example_record)
    inp = next(f for f in raw["fields"] if f["name"] == "input")["type"]
    assert [f["name"] for f in inp["fields"]] == list(example_record["input"])


def test_every_key_the_engine_emits_is_a_schema_field() -> None:
    """fastavro drops keys a schema lacks without a word: a key missing from the .avsc would vanish from datasets."""
    raw = json.loads((SCHEMA_DIR / "example.v2.avsc").read_text())
    declared = _schema_keys(raw)
    engine = Engine()
    emitted: dict[str, set[str]] = {}
    for bar in symbol_bars("AAPL"):
        example = engine.update(bar)
        if example is not None:
            _record_keys(example.record, "", emitted)
    for path, keys in emitted.items():
        if path.startswith(".input.pattern_analysis.") and path.endswith(".details"):
            continue  # a map: its keys are data
        if path == ".input.multi_timeframe_context":
            continue  # a map keyed by timeframe
        normalised = re.sub(r"^\.input\.multi_timeframe_context\.[^.]+", ".input.multi_timeframe_context{}", path)
        assert normalised in declared, path
        assert keys <= set(declared[normalised]), (path, keys - set(declared[normalised]))
