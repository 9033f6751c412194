"""The ``vpa-stream`` command: wires stages together and turns errors into one line and an exit code.

Each command is a module of this package with ``register(subparsers, defaults)`` (its options; shared groups
are in ``options``) and a handler that imports its stage lazily and runs it. Library code never imports this
package; it raises ``VpaStreamError`` subclasses (``schemas.errors``), whose ``exit_code`` is the exit code.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from vpa_stream import __version__
from vpa_stream.cli import audit, backfill, evaluate, export, live, process, replay, report, sink, topics
from vpa_stream.cli.options import Parser, make_sources, run_timeframes, source_specs
from vpa_stream.cli.usage import UsageError, check_args
from vpa_stream.memory import relax_gc
from vpa_stream.schemas.errors import EXIT_FAILURE, EXIT_USAGE, VpaStreamError
from vpa_stream.settings import load_file, option_defaults

__all__ = ["EXIT_FAILURE", "EXIT_USAGE", "UsageError", "build_parser", "main", "make_sources", "run_timeframes",
           "source_specs"]

_Parser = Parser  # the name tests and older callers import

#: the commands, in the order ``vpa-stream --help`` lists them
COMMANDS = (backfill, topics, replay, process, sink, live, export, report, evaluate, audit)


def build_parser(defaults: dict[str, Any]) -> argparse.ArgumentParser:
    parser = Parser(
        prog="vpa-stream",
        description="Lookahead-free Volume Price Analysis training examples from market bars.",
        epilog="Defaults come from --config FILE (or ./vpa-stream.toml) and VPA_* environment variables.",
    )
    parser.add_argument("--version", action="version", version=f"vpa-stream {__version__}")
    parser.add_argument("--config", default=None, help="TOML file with [defaults] and [engine] tables")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub, defaults)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Every failure is one line on stderr: usage problems (found before any work starts) exit
    2, failures 1 (``-v`` adds the traceback of an unexpected one), an interrupt 130."""
    own_process = argv is None  # run as the program, not called from Python code: the process is ours to tune
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = 0
    try:
        pre = argparse.ArgumentParser(add_help=False)
        pre.add_argument("--config", default=None)
        pre.add_argument("-v", "--verbose", action="count", default=0)
        known, _ = pre.parse_known_args(argv)
        verbose = known.verbose
        file_data = load_file(known.config)
        defaults = option_defaults(file_data, _OPTION_NAMES)
        parser = build_parser(defaults)
        args = parser.parse_args(argv)
        logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if not getattr(args, "handler", None) or (args.command == "topics" and not args.topics_command):
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        check_args(args)
        args.back_adjusted = bool(file_data.get("engine", {}).get("back_adjusted", False))
        args.argv = argv  # a supervising command starts its worker with the same arguments
        if own_process and args.command == "backfill":  # not the long-running asyncio ones (cycles to collect)
            relax_gc()
        return int(args.handler(args, file_data))
    except VpaStreamError as exc:
        return _fail(exc, exc.exit_code, verbose, expected=True)
    except KeyboardInterrupt:
        print("vpa-stream: interrupted", file=sys.stderr)
        return 130
    except SystemExit:
        raise  # --help and --version
    except Exception as exc:  # the guard: a bug or an unforeseen input is one line, never a bare traceback
        return _fail(exc, EXIT_FAILURE, verbose, expected=False)


def _fail(exc: BaseException, code: int, verbose: int, expected: bool) -> int:
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    text = " ".join(str(exc).split()) or type(exc).__name__
    if not expected:
        text = f"{type(exc).__name__}: {text}" + ("" if verbose else " (run with -v for the traceback)")
    print(f"vpa-stream: error: {text}", file=sys.stderr)
    return code


_OPTION_NAMES = [
    "source", "symbols", "symbol", "start", "end", "period", "timeframe", "tz", "session_open", "session_close",
    "out", "max_records", "max_bytes", "bootstrap_servers", "topic_prefix", "partitions", "replication_factor",
    "speed", "group_id", "interval", "idle_commit", "max_file_age", "exit_when_idle", "app_id", "loglevel",
    "datadir", "time_unit", "delimiter", "broker_timeout", "other_timeframes", "session_hours",
]
