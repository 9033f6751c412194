"""Rotating JSONL files that appear only when complete, with a manifest of every completed file.

Commit order of one file (the invariant the exactly-once sink builds on):
  1. write records to a hidden temporary name in the output directory;
  2. flush and fsync the temporary file;
  3. record it (final name, records, bytes, sha256, first/last id) in manifest.json, itself written by temp +
     rename + directory fsync: the manifest entry is the file's commit record;
  4. atomically rename the temporary file to its final, deterministic name and fsync the directory;
  5. only then may the caller commit the input offsets the file covers.
So a file never has its final name without its manifest entry. Opening a directory (``prepare_output_dir``)
finishes what a crash or a full disk interrupted: an entry whose temporary file is intact (size and sha256 as
recorded) is completed by step 4 (rolled forward); an entry with neither file is dropped (rolled back: its
offsets were never committed); any other temporary file is deleted.

Write failures (a full disk, permissions) surface as ``OutputWriteError``: one line naming the path and what
to do, with the directory left consistent as above.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from vpa_stream.schemas.errors import VpaStreamError
from vpa_stream.sinks.atomic import TMP_PREFIX, fsync_dir, write_atomic

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


class UnsafePathError(ValueError):
    """A file name that would place a file outside the output directory."""


class OutputWriteError(VpaStreamError, RuntimeError):
    """The output directory could not be written (full disk, permissions); the message says what to do."""

    def __init__(self, path: Path, exc: OSError) -> None:
        hint = _WRITE_HINTS.get(exc.errno or 0, "check the output directory")
        super().__init__(f"cannot write {path}: {exc.strerror or exc} ({hint}, then run the command again; "
                         f"complete files and the manifest stay consistent)")
        self.path = path
        self.errno = exc.errno


_WRITE_HINTS = {
    errno.ENOSPC: "free space on that file system",
    errno.EDQUOT: "free space or raise the disk quota",
    errno.EACCES: "make the directory writable for this user",
    errno.EPERM: "make the directory writable for this user",
    errno.EROFS: "the file system is read-only: choose another --out",
}


@dataclass(frozen=True)
class CompletedFile:
    name: str
    records: int
    bytes: int
    sha256: str
    first_id: str
    last_id: str
    extra: dict[str, Any] = field(default_factory=dict)


def dumps(record: dict[str, Any]) -> bytes:
    """The one JSON rendering of a record: compact UTF-8, key order as built (schema order).

    orjson: about four times faster than the standard library on these records, and as deterministic.
    """
    return orjson.dumps(record)


def safe_child(directory: Path, name: str) -> Path:
    """``directory / name``, refusing names that are not a single plain path component."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise UnsafePathError(f"refusing file name {name!r}")
    path = directory / name
    if path.resolve().parent != directory.resolve():
        raise UnsafePathError(f"refusing file name {name!r}")
    return path


class Manifest:
    """manifest.json: the completed files of one output directory, in completion order."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / MANIFEST
        self.files: dict[str, CompletedFile] = {}
        if self.path.exists():
            data = json.loads(self.path.read_text())
            for entry in data.get("files", []):
                self.files[entry["name"]] = CompletedFile(**entry)

    def add(self, completed: CompletedFile) -> None:
        before = self.files.get(completed.name)
        self.files[completed.name] = completed
        try:
            self.save()
        except OutputWriteError:  # the file on disk is unchanged: so is this one
            if before is None:
                del self.files[completed.name]
            else:
                self.files[completed.name] = before
            raise

    def retain(self, names: set[str]) -> None:
        self.files = {k: v for k, v in self.files.items() if k in names}
        self.save()

    def save(self) -> None:
        payload = {"files": [asdict(f) for f in self.files.values()]}
        try:
            write_atomic(self.path, (json.dumps(payload, indent=1, sort_keys=True) + "\n").encode())
        except OSError as exc:
            raise OutputWriteError(self.path, exc) from exc


class RotatingJsonlWriter:
    """Writes JSON lines into files of at most ``max_records`` lines and about ``max_bytes`` bytes.

    ``name_for(first_record_extra)`` gives each file its final name (deterministic: from a sequence number,
    or from topic, partition and start offset); ``on_commit`` runs after step 4 of the commit order.
    """

    def __init__(
        self,
        directory: Path,
        name_for: Callable[[int, dict[str, Any]], str],
        manifest: Manifest,
        max_records: int = 100_000,
        max_bytes: int = 256 * 1024 * 1024,
        compress: bool = False,
        on_commit: Callable[[CompletedFile], None] | None = None,
        snapshot: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        """``snapshot()`` adds the owner's state for the closing file (e.g. high-water marks) to its entry."""
        if max_records < 1 or max_bytes < 1:
            raise ValueError("max_records and max_bytes must be positive")
        self.directory = directory
        self.name_for = name_for
        self.manifest = manifest
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.compress = compress
        self.on_commit = on_commit
        self.snapshot = snapshot
        self.sequence = 0
        self.completed: list[CompletedFile] = []
        self._raw: BinaryIO | None = None
        self._out: BinaryIO | None = None
        self._tmp: Path | None = None
        self._hash = hashlib.sha256()
        self._records = 0
        self._bytes = 0
        self._first_id = ""
        self._last_id = ""
        self._extra: dict[str, Any] = {}

    @property
    def open_records(self) -> int:
        return self._records

    def write(self, record_id: str, line: bytes | str, extra: dict[str, Any] | None = None) -> None:
        data = (line.encode("utf-8") if isinstance(line, str) else line) + b"\n"
        try:
            if self._out is None:
                self._open(record_id, extra or {})
            assert self._out is not None
            self._out.write(data)
        except OSError as exc:
            path = self._tmp or self.directory
            self.abort()  # the open file's records were never committed; its space is freed
            raise OutputWriteError(path, exc) from exc
        self._records += 1
        self._bytes += len(data)
        self._last_id = record_id
        if extra:
            self._extra.update({k: v for k, v in extra.items() if k.startswith("last_")})
        if self._records >= self.max_records or self._bytes >= self.max_bytes:
            self.commit()

    def _open(self, record_id: str, extra: dict[str, Any]) -> None:
        self._extra = dict(extra)
        name = self.name_for(self.sequence, extra) + (".jsonl.gz" if self.compress else ".jsonl")
        final = safe_child(self.directory, name)
        self._tmp = final.with_name(TMP_PREFIX + final.name)
        raw = open(self._tmp, "wb")  # noqa: SIM115 - closed in commit()
        self._raw = raw
        self._hash = hashlib.sha256()
        hashing = _HashingWriter(raw, self._hash)
        self._out = gzip.GzipFile(filename="", mode="wb", fileobj=hashing, mtime=0) if self.compress else hashing  # type: ignore[assignment]
        self._records = self._bytes = 0
        self._first_id = record_id

    def commit(self) -> CompletedFile | None:
        """Steps 2-4 of the commit order for the open file; no-op when nothing is open."""
        if self._out is None or self._raw is None or self._tmp is None:
            return None
        tmp = self._tmp
        try:
            if self.compress:
                self._out.close()  # writes the gzip trailer through the hashing writer
            self._raw.flush()
            os.fsync(self._raw.fileno())
            size = self._raw.tell()
            self._raw.close()
        except OSError as exc:
            self.abort()
            raise OutputWriteError(tmp, exc) from exc
        final = tmp.with_name(tmp.name[len(TMP_PREFIX):])
        extra = dict(self._extra)
        if self.snapshot is not None:
            extra.update(self.snapshot())
        completed = CompletedFile(final.name, self._records, size, self._hash.hexdigest(), self._first_id,
                                  self._last_id, extra)
        try:
            self.manifest.add(completed)  # step 3, before the file has its final name
        except OutputWriteError:
            self.abort()
            raise
        self._out = self._raw = None
        self._tmp = None
        try:
            os.replace(tmp, final)
            fsync_dir(self.directory)
        except OSError as exc:  # the entry and the intact temporary file stay: the next start rolls forward
            raise OutputWriteError(final, exc) from exc
        self.completed.append(completed)
        log.info("committed %s", final.name, extra={"records": self._records, "bytes": size})
        self._records = self._bytes = 0
        self.sequence += 1
        if self.on_commit is not None:
            self.on_commit(completed)
        return completed

    def abort(self) -> None:
        """Drop the open temporary file (its records were never committed). Never raises for the file itself: on a
        full disk, closing flushes a buffer that cannot be written, and the file is deleted either way."""
        if self._raw is not None:
            try:
                self._raw.close()
            except OSError:
                pass
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
        self._out = self._raw = None
        self._tmp = None


class _HashingWriter:
    """A binary file wrapper that feeds every written byte to a hash (the sha256 of the final file)."""

    def __init__(self, raw: BinaryIO, digest: Any) -> None:
        self.raw = raw
        self.digest = digest

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()

    def close(self) -> None:  # the raw file is closed by its owner after fsync
        pass


def prepare_output_dir(directory: Path) -> Manifest:
    """Create the directory, load its manifest, finish or undo what a crashed writer left (see the module doc)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        manifest = Manifest(directory)
        complete_interrupted_commits(directory, manifest)
        remove_stale_temporaries(directory)
    except OSError as exc:
        raise OutputWriteError(directory, exc) from exc
    return manifest


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def complete_interrupted_commits(directory: Path, manifest: Manifest) -> tuple[list[str], list[str]]:
    """Roll forward each manifest entry whose intact temporary file still waits for its rename (a crash between
    steps 3 and 4); drop each entry whose file exists under neither name. Returns (rolled forward, dropped)."""
    rolled, dropped = [], []
    for name, entry in list(manifest.files.items()):
        final = safe_child(directory, name)
        tmp = final.with_name(TMP_PREFIX + name)
        if tmp.exists() and tmp.stat().st_size == entry.bytes and _sha256_of(tmp) == entry.sha256:
            os.replace(tmp, final)
            rolled.append(name)
        elif not final.exists():
            del manifest.files[name]
            dropped.append(name)
    if rolled:
        fsync_dir(directory)
        log.warning("completed %d file(s) an interrupted commit had recorded: %s", len(rolled), ", ".join(rolled))
    if dropped:
        manifest.save()
        log.warning("dropped %d manifest entr(ies) without a file: %s", len(dropped), ", ".join(dropped))
    return rolled, dropped


def remove_stale_temporaries(directory: Path) -> int:
    """Delete temporary files a crashed writer left behind; returns how many."""
    removed = 0
    for path in directory.glob(TMP_PREFIX + "*"):
        path.unlink()
        removed += 1
    return removed
