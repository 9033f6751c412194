"""``vpa-stream sink`` on a disk that fills up after ``VPA_TEST_DISK_BYTES`` bytes (``python -m
tests.kafka.full_disk_sink ARGS``): the stand-in for a small tmpfs where this machine cannot mount one."""

from __future__ import annotations

import errno
import os
import sys

from vpa_stream.cli import main
from vpa_stream.sinks import jsonl

_budget = int(os.environ.get("VPA_TEST_DISK_BYTES", "16000000"))
_write = jsonl._HashingWriter.write


def _filling_write(self: jsonl._HashingWriter, data: bytes) -> int:
    global _budget
    _budget -= len(data)
    if _budget < 0:
        raise OSError(errno.ENOSPC, "No space left on device")
    return _write(self, data)


jsonl._HashingWriter.write = _filling_write  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
