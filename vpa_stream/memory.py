"""Process memory: the peak resident set (for run summaries and benchmarks) and the collector's tuning."""

from __future__ import annotations

import gc
import resource
import sys
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak resident set in MB.

    Linux: ``VmHWM`` of /proc/self/status, which counts only this program. ``getrusage().ru_maxrss`` is not
    used there because a child started by fork + exec inherits its parent's high-water mark at exec, so a
    small child of a big parent would report the parent's peak.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KB elsewhere


def relax_gc(young: int = 50_000) -> None:
    """Run the cyclic garbage collector less often.

    Every example is a tree of a few hundred fresh dicts, lists and strings with no cycles: reference counting
    frees them, and the collector's default young-generation threshold (700 allocations) makes it walk them
    every few examples for nothing (about 4% of a backfill). Objects alive now (modules, schemas) are moved
    out of its sight too. For batch runs (backfill, its sink process), not the long-running asyncio commands,
    whose futures and tracebacks do form cycles.
    """
    gc.freeze()
    gc.set_threshold(young, 20, 20)
