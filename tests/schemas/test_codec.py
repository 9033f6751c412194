"""The Avro contract: single-object encoding, fingerprints, schema evolution, and the record shape."""

from __future__ import annotations

import copy
import json

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
    raw = json.loads((SCHEMA_DIR / "example.v1.avsc").read_text())
    fp = fingerprint(to_parsing_canonical_form(raw), "CRC-64-AVRO")
    assert payload[:2] == b"\xc3\x01"
    assert payload[2:10] == bytes.fromhex(fp)


def test_example_round_trips_field_for_field(example_record: dict) -> None:
    codec = Codec()
    name, decoded = codec.decode(codec.encode("example", example_record))
    assert name == "example"
    assert json.dumps(decoded) == json.dumps(example_record)


def test_v1_example_decodes_with_a_v2_reader_that_adds_a_defaulted_field(example_record: dict) -> None:
    v1 = json.loads((SCHEMA_DIR / "example.v1.avsc").read_text())
    v2 = copy.deepcopy(v1)
    v2["fields"].append({"name": "split", "type": "string", "default": "train"})
    writer = Codec([("example", 1, v1)])
    payload = writer.encode("example", example_record)
    reader = Codec([("example", 1, v1), ("example", 2, v2)])
    _, decoded = reader.decode(payload)
    assert decoded["split"] == "train"
    assert decoded["id"] == example_record["id"]


@pytest.mark.parametrize("payload", [b"", b"garbage", b"\xc3\x01" + b"\x00" * 8 + b"x", b"\xc3\x01\x01"])
def test_garbage_bytes_raise_a_decode_error(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        Codec().decode(payload)


def test_truncated_body_raises_a_decode_error(example_record: dict) -> None:
    payload = Codec().encode("example", example_record)
    with pytest.raises(DecodeError):
        Codec().decode(payload[: len(payload) // 2])


def test_schema_declares_every_key_of_the_record(example_record: dict) -> None:
    raw = json.loads((SCHEMA_DIR / "example.v1.avsc").read_text())
    assert [f["name"] for f in raw["fields"]] == list(example_record)
    inp = next(f for f in raw["fields"] if f["name"] == "input")["type"]
    assert [f["name"] for f in inp["fields"]] == list(example_record["input"])
