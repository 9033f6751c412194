"""Child processes of a batch run (engine partitions, the sink): how they start, their pipes, how they fail.

Children are started with ``spawn``: a fork of a process that has used Arrow (its thread pools, its allocator)
is not safe. A spawned child imports the parent's main module, only to resolve functions pickled by
reference to ``__main__``; for ``vpa-stream backfill`` that is the whole CLI (pandas, pyarrow, the sources:
about 0.9 s of CPU and 110 MB per child). Every target here lives in a ``vpa_stream`` module, so a child is
started as if from a bare interpreter and imports only what its target needs.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext, SpawnProcess

from vpa_stream.schemas.errors import VpaStreamError

PIPE_BYTES = 1 << 20  # room for a whole batch of results: a writer blocked on a full pipe is a context switch
_F_SETPIPE_SZ = 1031  # Linux fcntl command; elsewhere the default buffer stays
_PR_SET_PDEATHSIG = 1


class ParentGone(Exception):
    """Raised in a child when the process that started it died (see ``end_with_parent``)."""


class StageProcessError(VpaStreamError, RuntimeError):
    """A stage's child process failed; ``cause`` is what it reported (or how it ended)."""

    stage = "stage"

    def __init__(self, cause: str) -> None:
        super().__init__(f"the {self.stage} process failed: {cause}")
        self.cause = cause


class SinkProcessError(StageProcessError):
    """The sink's child process failed (a write error it reported, or it ended)."""

    stage = "sink"


class EngineProcessError(StageProcessError):
    """An engine partition's process failed (an error it reported, such as a ``WireMismatchError``, or it ended)."""

    stage = "engine"


def spawn_context() -> SpawnContext:
    return multiprocessing.get_context("spawn")


@contextlib.contextmanager
def _no_main_module() -> Iterator[None]:
    """While a child is being started, ``__main__`` is a bare module: the child then imports no main module."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def start_child(process: SpawnProcess) -> None:
    """Start ``process`` (a spawn-context process whose target lives in a ``vpa_stream`` module)."""
    with _no_main_module():
        process.start()


def widen(conn: Connection) -> None:
    """Give a pipe (or a socket pair) a buffer of PIPE_BYTES where the system allows; best effort."""
    try:
        fcntl.fcntl(conn.fileno(), _F_SETPIPE_SZ, PIPE_BYTES)
        return
    except OSError:
        pass
    try:
        sock = socket.socket(fileno=conn.fileno())
    except OSError:
        return
    try:
        for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            sock.setsockopt(socket.SOL_SOCKET, option, PIPE_BYTES)
    except OSError:
        pass
    finally:
        sock.detach()  # the connection keeps its descriptor


def _parent_gone(signum: int, frame: object) -> None:
    raise ParentGone("the parent process is gone")


def end_with_parent(parent_pid: int) -> None:
    """In a child: raise ``ParentGone`` (from a SIGTERM) as soon as the parent dies, even by kill -9.

    Without it a child would go on with what is still buffered in its pipes (up to PIPE_BYTES each) and only
    stop at their end. Linux only (``prctl(PR_SET_PDEATHSIG)``); elsewhere the pipes' end stops the child.
    """
    signal.signal(signal.SIGTERM, _parent_gone)
    libc_name = ctypes.util.find_library("c")
    if libc_name is None or not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(libc_name, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # it died before the request was made
        raise ParentGone("the parent process is gone")


def _die_with_parent() -> None:
    """preexec_fn of a supervised worker: SIGKILL when the supervisor dies, even by kill -9 (Linux)."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is not None and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(libc_name, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def run_restarting(argv: list[str], say: Callable[[str], None], max_quick_exits: int = 10, quick_s: float = 60.0,
                   backoff_s: float = 1.0, max_backoff_s: float = 30.0, program: list[str] | None = None) -> int:
    """Run ``python -m vpa_stream.cli ARGV`` (``program`` instead of ``python -m vpa_stream.cli``) as a child and
    start it again each time it ends abnormally.

    What a process manager does for a processor worker, built in: a worker stops itself, before its batch is
    acked, when a produce failed or the consumer skipped records (a Faust rebalance race); a new worker is given
    the batch again; so is one killed by a signal (its state is the changelog). SIGTERM and SIGINT are passed on
    and end the loop, as do a clean exit and a usage error (2). A worker that ends within ``quick_s`` of its
    start waits longer before the next (``backoff_s`` doubling up to ``max_backoff_s``); after
    ``max_quick_exits`` such workers in a row (a worker that cannot start) the command gives up. A worker that
    ran longer resets both. Returns the child's last exit code.
    """
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    quick_exits = 0
    try:
        while True:
            started = time.monotonic()
            child = subprocess.Popen([*(program or [sys.executable, "-m", "vpa_stream.cli"]), *argv],
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
            code = child.wait()
            if stopping or code in (0, 2):
                return code
            lived = time.monotonic() - started
            quick_exits = quick_exits + 1 if lived < quick_s else 0
            if quick_exits >= max_quick_exits:
                say(f"{quick_exits} workers in a row ended within {quick_s:.0f} s of their start; giving up")
                return code if code > 0 else 1
            wait = min(max_backoff_s, backoff_s * 2 ** max(0, quick_exits - 1))
            say(f"the worker ended (exit {code}) after {lived:.0f} s; starting a new one in {wait:.0f} s, which is "
                f"given its batch again")
            time.sleep(wait)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
