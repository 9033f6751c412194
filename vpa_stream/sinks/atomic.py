"""Whole files or none: the one way the sinks, exports and reports write a file that must never be read half-written.

A temporary file beside the target (``.tmp-NAME``: dataset readers never match it) is written, flushed and
fsynced, renamed over the final name, and the directory is fsynced, so the rename survives a crash too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

TMP_PREFIX = ".tmp-"


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Write ``data`` (bytes, or chunks of bytes written as they come) to ``path`` atomically and durably.
    On an error the temporary file is removed and the error raised; ``path`` is left as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(TMP_PREFIX + path.name)
    try:
        with open(tmp, "wb") as fh:
            if isinstance(data, bytes):
                fh.write(data)
            else:
                for chunk in data:
                    fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_lines_atomic(path: Path, lines: Iterable[bytes]) -> None:
    """``write_atomic`` of ``lines``, each followed by a newline."""
    write_atomic(path, (part for line in lines for part in (line, b"\n")))
