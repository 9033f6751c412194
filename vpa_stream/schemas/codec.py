"""Avro single-object encoding (C3 01 + CRC-64-AVRO fingerprint + body) of bars, examples and dead letters.

Every ``<name>.v<N>.avsc`` in this folder is a known writer schema; a payload names its writer by fingerprint,
and is read with the newest version of the same record (Avro schema resolution fills added fields from their
defaults). Bytes that do not start with the marker, or name an unknown fingerprint, raise ``DecodeError``.
"""

from __future__ import annotations

import io
import json
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, to_parsing_canonical_form

from vpa_stream.schemas.errors import VpaStreamError

MARKER = b"\xc3\x01"
HEADER_LEN = 10
SCHEMA_DIR = Path(__file__).parent
_FILE = re.compile(r"^(?P<name>[a-z_]+)\.v(?P<version>\d+)\.avsc$")


class DecodeError(ValueError):
    """Bytes that are not a single-object-encoded record of any known schema."""


class EncodeError(ValueError):
    """A record that does not fit its schema (a key the schema lacks, a missing field without default)."""


class WireMismatchError(VpaStreamError, ValueError):
    """A record that does not come back unchanged from its Avro encoding: the schema and the record disagree,
    so the same record would read differently from a topic than from the stage that made it."""

    def __init__(self, name: str, record_id: str, difference: str) -> None:
        super().__init__(f"{name} {record_id} does not survive the Avro round trip: {difference}")
        self.record_id = record_id
        self.difference = difference


@dataclass(frozen=True)
class KnownSchema:
    name: str  # bar | example | dead_letter
    version: int
    parsed: Any
    fingerprint: bytes


class Codec:
    """Encoder and decoder over a set of schema versions (by default: every .avsc in schemas/)."""

    def __init__(self, schemas: list[tuple[str, int, dict[str, Any]]] | None = None) -> None:
        if schemas is None:
            schemas = _bundled()
        self.by_fingerprint: dict[bytes, KnownSchema] = {}
        self.latest: dict[str, KnownSchema] = {}
        for name, version, raw in schemas:
            self.register(name, version, raw)

    def register(self, name: str, version: int, raw: dict[str, Any]) -> KnownSchema:
        parsed = parse_schema(raw)
        fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
        known = KnownSchema(name, version, parsed, fp)
        self.by_fingerprint[fp] = known
        if name not in self.latest or version > self.latest[name].version:
            self.latest[name] = known
        return known

    def encode(self, name: str, record: dict[str, Any], version: int | None = None) -> bytes:
        schema = self.latest[name] if version is None else self._version(name, version)
        buf = io.BytesIO()
        buf.write(MARKER)
        buf.write(schema.fingerprint)
        try:  # strict: a key the schema lacks is an error, never silently dropped from every dataset
            schemaless_writer(buf, schema.parsed, record, strict=True, strict_allow_default=True)
        except ValueError as exc:
            raise EncodeError(f"{name} record does not match schema v{schema.version}: {exc}") from exc
        return buf.getvalue()

    def decode(self, payload: bytes, expect: str | None = None) -> tuple[str, dict[str, Any]]:
        """(schema name, record) of a payload, read with the newest version of its schema."""
        if len(payload) < HEADER_LEN or payload[:2] != MARKER:
            raise DecodeError("not Avro single-object encoding (missing C3 01 marker)")
        writer = self.by_fingerprint.get(bytes(payload[2:HEADER_LEN]))
        if writer is None:
            raise DecodeError(f"unknown schema fingerprint {bytes(payload[2:HEADER_LEN]).hex()}")
        if expect is not None and writer.name != expect:
            raise DecodeError(f"expected a {expect} record, got {writer.name}")
        reader = self.latest[writer.name]
        try:
            record = schemaless_reader(io.BytesIO(payload[HEADER_LEN:]), writer.parsed,
                                       reader.parsed if reader is not writer else None)
        except Exception as exc:  # fastavro raises EOFError, ValueError, UnicodeDecodeError ... on bad bodies
            raise DecodeError(f"corrupt {writer.name} body: {type(exc).__name__}: {exc}") from exc
        if not isinstance(record, dict):
            raise DecodeError(f"{writer.name} body did not decode to a record")
        return writer.name, record

    def check_round_trip(self, name: str, record: dict[str, Any]) -> None:
        """Encode and decode ``record``; raise ``WireMismatchError`` unless it comes back the same, key order and
        value types included (what its JSON line is made of)."""
        _, decoded = self.decode(self.encode(name, record), expect=name)
        difference = wire_difference(record, decoded)
        if difference is not None:
            raise WireMismatchError(name, str(record.get("id", "")), difference)

    def _version(self, name: str, version: int) -> KnownSchema:
        for known in self.by_fingerprint.values():
            if known.name == name and known.version == version:
                return known
        raise KeyError(f"no schema {name} v{version}")


def wire_difference(sent: Any, received: Any, path: str = "") -> str | None:
    """Where ``received`` differs from ``sent`` (a path and both values), or None when they are the same tree.

    Stricter than ``==``: 1 and 1.0, or True and 1, are different values here (they render differently in
    JSON), and mappings must list their keys in the same order. NaN equals NaN.
    """
    where = path or "the record"
    if type(sent) is not type(received):
        return f"{where}: {sent!r} ({type(sent).__name__}) came back as {received!r} ({type(received).__name__})"
    if isinstance(sent, dict):
        if list(sent) != list(received):
            return f"{where}: keys {list(sent)} came back as {list(received)}"
        for key, value in sent.items():
            found = wire_difference(value, received[key], f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
        return None
    if isinstance(sent, list):
        if len(sent) != len(received):
            return f"{where}: {len(sent)} items came back as {len(received)}"
        for i, (a, b) in enumerate(zip(sent, received, strict=True)):
            found = wire_difference(a, b, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    if sent != received and not (isinstance(sent, float) and math.isnan(sent) and math.isnan(received)):
        return f"{where}: {sent!r} came back as {received!r}"
    return None


def _bundled() -> list[tuple[str, int, dict[str, Any]]]:
    out = []
    for path in sorted(SCHEMA_DIR.glob("*.avsc")):
        m = _FILE.match(path.name)
        if m:
            out.append((m["name"], int(m["version"]), json.loads(path.read_text())))
    return out


@cache
def default_codec() -> Codec:
    return Codec()
