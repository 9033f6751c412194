"""The rotating JSONL writer under faults: a full disk, a crash between the manifest entry and the rename."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from vpa_stream.sinks import jsonl
from vpa_stream.sinks.jsonl import Manifest, OutputWriteError, RotatingJsonlWriter, prepare_output_dir


def _writer(out: Path, **kw) -> RotatingJsonlWriter:
    return RotatingJsonlWriter(out, lambda seq, extra: f"part-{seq:03d}", prepare_output_dir(out), **kw)


def _names(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir())


def _listed(out: Path) -> list[str]:
    return sorted(f["name"] for f in json.loads((out / "manifest.json").read_text())["files"])


def test_a_file_never_has_its_final_name_before_its_manifest_entry(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    w = _writer(tmp_path, max_records=2)
    w.write("a", "{}")
    w.write("b", "{}")  # part-000 complete
    w.write("c", "{}")

    def full_disk(self: Manifest) -> None:
        raise OutputWriteError(self.path, OSError(errno.ENOSPC, "No space left on device"))

    monkeypatch.setattr(Manifest, "save", full_disk)
    with pytest.raises(OutputWriteError, match=r"No space left on device.*free space"):
        w.commit()
    assert _names(tmp_path) == ["manifest.json", "part-000.jsonl"]  # part-001 neither final nor left behind
    assert _listed(tmp_path) == ["part-000.jsonl"]


def test_a_crash_between_the_manifest_entry_and_the_rename_is_rolled_forward_on_the_next_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = _writer(tmp_path)
    for i in range(5):
        w.write(f"id{i}", json.dumps({"i": i}))
    real_replace = os.replace

    def crash_on_data_rename(src: Path, dst: Path) -> None:
        if Path(dst).name.startswith("part-"):
            raise OSError(errno.EIO, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(jsonl.os, "replace", crash_on_data_rename)
    with pytest.raises(OutputWriteError):
        w.commit()
    assert _names(tmp_path) == [".tmp-part-000.jsonl", "manifest.json"]
    assert _listed(tmp_path) == ["part-000.jsonl"]
    monkeypatch.setattr(jsonl.os, "replace", real_replace)
    manifest = prepare_output_dir(tmp_path)  # the next start
    assert _names(tmp_path) == ["manifest.json", "part-000.jsonl"]
    entry = manifest.files["part-000.jsonl"]
    assert entry.records == 5 and (tmp_path / "part-000.jsonl").read_text().count("\n") == 5


def test_an_entry_whose_file_exists_under_neither_name_is_dropped_and_a_torn_temporary_deleted(
        tmp_path: Path) -> None:
    w = _writer(tmp_path)
    w.write("a", "{}")
    w.commit()
    w.write("b", "{}")
    w.commit()
    (tmp_path / "part-001.jsonl").unlink()
    (tmp_path / ".tmp-part-002.jsonl").write_text("{}\n{")  # a writer killed mid-file
    manifest = prepare_output_dir(tmp_path)
    assert list(manifest.files) == ["part-000.jsonl"] and _listed(tmp_path) == ["part-000.jsonl"]
    assert _names(tmp_path) == ["manifest.json", "part-000.jsonl"]


def test_a_full_disk_while_writing_is_one_clear_error_and_frees_the_open_file(tmp_path: Path) -> None:
    w = _writer(tmp_path)
    w.write("a", "{}")
    w.commit()
    w.write("b", "{}")

    class FullDisk:
        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    w._out = FullDisk()  # type: ignore[assignment]
    with pytest.raises(OutputWriteError) as caught:
        w.write("c", "{}")
    assert "\n" not in str(caught.value) and "free space on that file system" in str(caught.value)
    assert _names(tmp_path) == ["manifest.json", "part-000.jsonl"]
    assert w.commit() is None  # nothing left open to commit

