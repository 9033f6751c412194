"""The one base of the errors vpa-stream raises on purpose: each carries the exit code the CLI ends with."""

from __future__ import annotations

EXIT_FAILURE = 1
EXIT_USAGE = 2

__all__ = ["EXIT_FAILURE", "EXIT_USAGE", "UsageError", "VpaStreamError"]


class VpaStreamError(Exception):
    """An expected failure: the CLI prints its message as one line and exits with ``exit_code``.

    A subclass sets ``exit_code`` to ``EXIT_USAGE`` when the input or options are at fault (found before any
    work starts); the default, ``EXIT_FAILURE``, is a run that could not finish.
    """

    exit_code: int = EXIT_FAILURE


class UsageError(VpaStreamError):
    """Bad flags, option values or inputs, found before any work starts: printed as one line, exit code 2.

    The library's own usage errors derive from it (an export, report or evaluation that cannot start, a source
    spec that names no source), so the CLI converts none of them."""

    exit_code = EXIT_USAGE
