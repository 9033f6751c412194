"""The rotating JSONL writer: rotation, atomic completion, manifest, determinism, and path safety."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from vpa_stream.sinks.jsonl import Manifest, RotatingJsonlWriter, UnsafePathError, safe_child


def _writer(tmp_path: Path, **kw) -> RotatingJsonlWriter:
    return RotatingJsonlWriter(tmp_path, lambda seq, extra: f"part-{seq:03d}", Manifest(tmp_path), **kw)


def test_rotates_on_max_records_and_lists_files_in_the_manifest(tmp_path: Path) -> None:
    w = _writer(tmp_path, max_records=3)
    for i in range(7):
        w.write(f"id{i}", json.dumps({"i": i}))
    w.commit()
    assert sorted(p.name for p in tmp_path.glob("part-*")) == ["part-000.jsonl", "part-001.jsonl", "part-002.jsonl"]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [f["records"] for f in manifest["files"]] == [3, 3, 1]
    for entry in manifest["files"]:
        data = (tmp_path / entry["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(data) == entry["bytes"]


def test_rotates_on_max_bytes(tmp_path: Path) -> None:
    w = _writer(tmp_path, max_bytes=50)
    for i in range(10):
        w.write(f"id{i}", json.dumps({"value": "x" * 20, "i": i}))
    w.commit()
    files = sorted(tmp_path.glob("part-*.jsonl"))
    line = len(json.dumps({"value": "x" * 20, "i": 0})) + 1
    assert len(files) == 5  # a file is closed once it reaches max_bytes: two 34-byte lines each
    assert all(f.stat().st_size < 50 + line for f in files)


def test_an_open_file_is_invisible_under_its_final_name(tmp_path: Path) -> None:
    w = _writer(tmp_path)
    w.write("a", "{}")
    assert not list(tmp_path.glob("part-*"))
    assert len(list(tmp_path.glob(".tmp-*"))) == 1
    w.commit()
    assert [p.name for p in tmp_path.glob("part-*")] == ["part-000.jsonl"]
    assert not list(tmp_path.glob(".tmp-*"))


def test_gzip_output_is_deterministic_and_hashed(tmp_path: Path) -> None:
    digests = []
    for run in ("a", "b"):
        d = tmp_path / run
        d.mkdir()
        w = _writer(d, compress=True)
        for i in range(100):
            w.write(f"id{i}", json.dumps({"i": i}))
        w.commit()
        data = (d / "part-000.jsonl.gz").read_bytes()
        assert gzip.decompress(data).count(b"\n") == 100
        digests.append(hashlib.sha256(data).hexdigest())
        assert json.loads((d / "manifest.json").read_text())["files"][0]["sha256"] == digests[-1]
    assert digests[0] == digests[1]


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".", "", "x\x00y", "a\\b"])
def test_hostile_file_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafePathError):
        safe_child(tmp_path, name)
