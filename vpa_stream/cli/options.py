"""Option groups several commands share (source, output, Kafka) and the typed objects built from them."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from typing import Any

from vpa_stream.cli.usage import UsageError
from vpa_stream.producers.sources.base import SESSION_HOURS, Session, Source, SourceOptions
from vpa_stream.producers.sources.registry import described
from vpa_stream.producers.sources.specs import Timeframes, build_sources
from vpa_stream.schemas.topics import BROKER_TIMEOUT_S, DEFAULT_BOOTSTRAP
from vpa_stream.sinks.dataset import SinkOptions

__all__ = [
    "Parser", "add_kafka_options", "add_sink_options", "add_source_options", "apply_defaults", "make_sources",
    "progress", "run_timeframes", "sink_options", "source_specs", "stop_flag",
]


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (raised, printed by main) instead of usage + exit."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise UsageError(f"{message} (see: {self.prog} --help)")


class _Given(list[str]):
    """The values of a repeatable option given on the command line (as opposed to its configured default)."""


class _Repeatable(argparse.Action):
    """A repeatable option whose given values replace its default: argparse's ``append`` would add to it."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        given = getattr(namespace, self.dest, None)
        if not isinstance(given, _Given):
            given = _Given()
        given.append(str(values))
        setattr(namespace, self.dest, given)


def apply_defaults(parser: argparse.ArgumentParser, defaults: dict[str, Any] | None,
                   skip: tuple[str, ...] = ()) -> None:
    """Configured defaults (``--config`` file, ``VPA_*`` variables) replace the parser's own."""
    if defaults:
        parser.set_defaults(**{k: v for k, v in defaults.items() if k not in ("config", *skip)})


def add_source_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("source")
    g.add_argument("--source", default="sample", action=_Repeatable,
                   help=f"{described()}; repeat it for several sources; a #TF suffix names a source's timeframe "
                        "(csv:aapl_1h.csv#1h), else a file's timeframe column or its stamps do (default: sample)")
    g.add_argument("--symbols", default="", help="comma-separated symbols to keep (yfinance: to download)")
    g.add_argument("--symbol", default=None, help="symbol of single-symbol files without a symbol column")
    g.add_argument("--start", default=None, help="first date or time to keep (inclusive)")
    g.add_argument("--end", default=None, help="last date or time to keep (inclusive)")
    g.add_argument("--period", default=None, help="yfinance period instead of start/end, e.g. 5y")
    g.add_argument("--timeframe", default="1d",
                   help="primary timeframe: the one examples are made for (default: %(default)s)")
    g.add_argument("--other-timeframes", default="",
                   help="comma-separated context timeframes, e.g. 1h,15m (yfinance downloads each; files keep "
                        "only these; default: every other timeframe the sources supply)")
    g.add_argument("--tz", default="America/New_York", help="session time zone for date-only or naive rows")
    g.add_argument("--session-open", default="09:30", help="session open, local time (display only)")
    g.add_argument("--session-close", default="16:00",
                   help="session close, local time: a date-only row closes then, and an intraday bar that "
                        "straddles it ends then (default: %(default)s)")
    g.add_argument("--session-hours", default="exchange", choices=SESSION_HOURS,
                   help="24h: an instrument trading around the clock (FX, crypto), whose intraday bars are never "
                        "capped at the session close (default: %(default)s)")
    g.add_argument("--time-unit", default=None,
                   help="unit of numeric (epoch) time columns: s, ms, us or ns (default: by magnitude)")
    g.add_argument("--delimiter", default=None,
                   help="delimiter of text files: a character, tab or space (default: detected)")


def add_sink_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("output")
    g.add_argument("--max-records", type=int, default=100_000, help="records per file before rotating")
    g.add_argument("--max-bytes", type=int, default=256 * 1024 * 1024, help="bytes per file before rotating")
    g.add_argument("--gzip", action="store_true", help="write .jsonl.gz files")


def add_kafka_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("kafka")
    g.add_argument("--bootstrap-servers", default=DEFAULT_BOOTSTRAP,
                   help="Kafka bootstrap servers host:port[,host:port] (default: %(default)s)")
    g.add_argument("--topic-prefix", default="vpa.", help="prefix of every topic name (default: %(default)s)")
    g.add_argument("--broker-timeout", type=float, default=BROKER_TIMEOUT_S,
                   help="seconds to ride out an unreachable broker before stopping with exit 1 (default: %(default)s)")


def source_specs(args: argparse.Namespace) -> list[str]:
    """The --source values: each one given, else the configured default (a string, or a list in TOML)."""
    value = args.source
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def run_timeframes(args: argparse.Namespace) -> Timeframes:
    """--timeframe (the primary) and --other-timeframes (the context asked for)."""
    return Timeframes.of(str(args.timeframe), str(getattr(args, "other_timeframes", "") or "").split(","))


def make_sources(args: argparse.Namespace) -> list[Source]:
    symbols = tuple(s.strip() for s in str(args.symbols).split(",") if s.strip())
    session = Session(args.tz, args.session_open, args.session_close, getattr(args, "session_hours", "exchange"))
    options = SourceOptions(symbols=symbols, start=args.start, end=args.end, session=session, symbol=args.symbol,
                            time_unit=getattr(args, "time_unit", None), delimiter=getattr(args, "delimiter", None),
                            back_adjusted=bool(getattr(args, "back_adjusted", False)))
    return build_sources(source_specs(args), options, run_timeframes(args), period=args.period)


def sink_options(args: argparse.Namespace) -> SinkOptions:
    """--max-records, --max-bytes and --gzip, checked."""
    if args.max_records < 1 or args.max_bytes < 1:
        raise UsageError("--max-records and --max-bytes must be positive")
    return SinkOptions(int(args.max_records), int(args.max_bytes), bool(args.gzip))


def progress(args: argparse.Namespace, desc: str = "backfill") -> Any:
    if args.no_progress:
        return None
    from tqdm import tqdm

    return tqdm(unit=" bars", unit_scale=True, file=sys.stderr, disable=None, desc=desc)


def stop_flag(on_signal: Callable[[], None] | None = None) -> Callable[[], bool]:
    """A SIGTERM/SIGINT handler that asks a polling loop to finish its files and stop."""
    flag = {"stop": False}

    def handler(signum: int, frame: Any) -> None:
        flag["stop"] = True
        if on_signal is not None:
            on_signal()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return lambda: flag["stop"]
