"""``vpa-stream live`` and ``backfill --then-live``: poll for newly closed bars, embedded or into Kafka."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vpa_stream.cli.options import apply_defaults, sink_options, source_specs, stop_flag
from vpa_stream.cli.usage import UsageError
from vpa_stream.producers.clock import Clock, SystemClock
from vpa_stream.producers.live import Download
from vpa_stream.producers.sources.base import Session, Source, SourceError, SourceOptions
from vpa_stream.settings import engine_config


def register(subparsers: Any, defaults: dict[str, Any] | None = None) -> argparse.ArgumentParser:
    """Add ``vpa-stream live`` to the CLI's subparsers; returns the parser (for config-file defaults)."""
    lv: argparse.ArgumentParser = subparsers.add_parser(
        "live", help="grow the dataset (or the bars topic) from newly closed bars, polling yfinance or a file",
        description="Poll the source (yfinance, or a file a recorder appends to) shortly after each bar close "
                    "and emit only closed bars, each once. Embedded "
                    "(engine + dataset in --out) unless --bootstrap-servers is given (bars to Kafka). Resumes "
                    "from the dataset or the bars topic; runs until SIGINT/SIGTERM.")
    lv.add_argument("--symbols", required=True, help="comma-separated symbols")
    lv.add_argument("--source", default="yfinance",
                    help="what to poll: yfinance (default), or csv:PATH / parquet:PATH, a file read again at each "
                         "poll (append whole lines)")
    lv.add_argument("--interval", default="1d", help="bar interval: 1d, 1h, 15m, ... (default: %(default)s)")
    lv.add_argument("--bootstrap-servers", default=None, help="Kafka bootstrap servers; omit for embedded mode")
    lv.add_argument("--topic-prefix", default="vpa.", help="prefix of every topic name (default: %(default)s)")
    lv.add_argument("--out", default="data", help="dataset directory in embedded mode (default: %(default)s)")
    lv.add_argument("--tz", default="America/New_York", help="exchange session time zone")
    lv.add_argument("--session-open", default="09:30", help="session open, local time")
    lv.add_argument("--session-close", default="16:00", help="session close, local time: daily bars close then")
    lv.add_argument("--grace", type=float, default=None,
                    help="seconds after a close before polling (default: 900 daily, 60 intraday)")
    lv.add_argument("--max-records", type=int, default=100_000, help="records per file before rotating")
    lv.add_argument("--max-bytes", type=int, default=256 * 1024 * 1024, help="bytes per file before rotating")
    lv.add_argument("--gzip", action="store_true", help="write .jsonl.gz files")
    lv.set_defaults(handler=handler)
    # live runs embedded unless --bootstrap-servers is given on its command line: a configured broker default
    # must not silently switch it to Kafka mode; nor does the backfill's configured source make it poll a file
    apply_defaults(lv, defaults, skip=("bootstrap_servers", "source"))
    return lv


def _session(args: argparse.Namespace) -> Session:
    return Session(str(args.tz), str(args.session_open), str(args.session_close))


def _symbols(args: argparse.Namespace) -> list[str]:
    symbols = [s.strip() for s in str(args.symbols or "").split(",") if s.strip()]
    if not symbols:
        raise UsageError("live mode needs --symbols")
    return symbols


def _stop_on_signals(clock: SystemClock) -> Callable[[], bool]:
    return stop_flag(clock.interrupt)  # a signal also wakes the clock's sleep


def polled_source(spec: str, symbols: list[str], timeframe: str, session: Session) -> Source | None:
    """The source ``--source`` names for live mode (None: yfinance, polled per symbol); a file must hold a
    ``timeframe`` series of every symbol now, else a usage error says what it holds."""
    from vpa_stream.producers.sources.specs import Timeframes, build_sources

    if spec == "yfinance":
        return None
    sources = build_sources([spec], SourceOptions(symbols=tuple(symbols), session=session),  # SourceSpecError:
                            Timeframes.of(timeframe, []))  # a usage error of its own
    if len(sources) != 1:
        raise UsageError(f"--source {spec}: live mode polls one source")
    source = sources[0]
    try:
        held = {(raw.symbol.upper(), raw.timeframe) for raw in source.read()}
    except SourceError as exc:
        raise UsageError(f"--source {spec}: {exc}") from exc
    missing = [s for s in symbols if (s.upper(), timeframe) not in held]
    if missing:
        found = ", ".join(f"{sym} {tf}" for sym, tf in sorted(held)) or "no series"
        raise UsageError(f"--source {spec} holds no {timeframe} bars of {', '.join(missing)} (it holds {found})")
    return source


def handler(args: argparse.Namespace, file_data: dict[str, Any]) -> int:
    from vpa_stream.live_pipeline import live_options, run_embedded, run_kafka
    from vpa_stream.producers.sources.yfinance import YF_INTERVALS
    from vpa_stream.schemas.models import UnknownTimeframeError, normalise_timeframe

    symbols = _symbols(args)
    try:
        timeframe = normalise_timeframe(str(args.interval))
    except UnknownTimeframeError as exc:
        raise UsageError(str(exc)) from exc
    source = polled_source(str(args.source), symbols, timeframe, _session(args))
    if source is None and timeframe not in YF_INTERVALS:
        raise UsageError(f"yfinance has no {timeframe} interval")
    options = sink_options(args)
    cfg = engine_config(file_data)
    clock = SystemClock()
    stop = _stop_on_signals(clock)
    live = live_options(cfg, timeframe, args.grace)
    if args.bootstrap_servers:
        target = f"{args.topic_prefix}bars at {args.bootstrap_servers}"
        stats = run_kafka(symbols, timeframe, str(args.bootstrap_servers), str(args.topic_prefix), cfg=cfg,
                          clock=clock, session=_session(args), options=live, stop=stop, source=source)
    else:
        target = str(args.out)
        stats = run_embedded(symbols, timeframe, Path(args.out), cfg=cfg, clock=clock, session=_session(args),
                             sink_options=options, options=live, stop=stop, source=source)
    print(f"vpa-stream live -> {target}")
    for line in stats.lines():
        print("  " + line)
    return 0


def then_live(args: argparse.Namespace, file_data: dict[str, Any], *, clock: Clock | None = None,
              download: Download | None = None, stop: Callable[[], bool] | None = None,
              until_ms: int | None = None) -> int:
    """``backfill ... --then-live``: fill the gap from the backfill's last bar to now, then keep polling.

    The dataset the backfill just wrote is the resume state, so the handover is the restart path: the first
    poll warms the engine on the provider's history up to each series' last example and emits every bar
    closed after it, then polling continues. No gap (the fetch starts before the mark), no duplicate (the
    mark, and the sink's high-water mark behind it).
    """
    from vpa_stream.live_pipeline import live_options, run_embedded
    from vpa_stream.schemas.models import normalise_timeframe

    specs = source_specs(args)
    if len(specs) != 1:
        raise UsageError("--then-live polls one source: give one --source")
    symbols = _symbols(args)
    timeframe = normalise_timeframe(str(args.timeframe))
    source = polled_source(specs[0], symbols, timeframe, _session(args))
    cfg = engine_config(file_data)
    own_clock = clock or SystemClock()
    if stop is None and isinstance(own_clock, SystemClock):
        stop = _stop_on_signals(own_clock)
    stats = run_embedded(
        symbols, timeframe, Path(args.out), cfg=cfg, clock=own_clock, download=download, session=_session(args),
        sink_options=sink_options(args), options=live_options(cfg, timeframe, getattr(args, "grace", None)),
        stop=stop, until_ms=until_ms, source=source)
    print(f"vpa-stream live -> {args.out}")
    for line in stats.lines():
        print("  " + line)
    return 0
