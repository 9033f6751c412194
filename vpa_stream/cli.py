"""The ``vpa-stream`` command: wires stages together and turns errors into one line and an exit code."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vpa_stream import __version__
from vpa_stream.memory import relax_gc
from vpa_stream.processes import StageProcessError
from vpa_stream.producers.sources.base import SESSION_HOURS, Session, Source, SourceError, SourceOptions
from vpa_stream.producers.sources.specs import SourceSpecError, Timeframes, build_sources
from vpa_stream.schemas.codec import WireMismatchError
from vpa_stream.schemas.topics import BROKER_TIMEOUT_S, DEFAULT_BOOTSTRAP, KafkaSetupError
from vpa_stream.settings import SettingsError, engine_config, load_file, option_defaults
from vpa_stream.sinks.jsonl import OutputWriteError
from vpa_stream.usage import UsageError, check_args

EXIT_USAGE = 2
EXIT_FAILURE = 1

__all__ = ["UsageError", "build_parser", "main", "make_sources"]


class _Parser(argparse.ArgumentParser):
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


def _add_source_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("source")
    g.add_argument("--source", default="sample", action=_Repeatable,
                   help="sample (bundled AAPL/MSFT/IBM daily), csv:PATH, parquet:PATH (file or directory), "
                        "or yfinance; repeat it for several sources; a #TF suffix names a source's timeframe "
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


def _add_sink_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("output")
    g.add_argument("--max-records", type=int, default=100_000, help="records per file before rotating")
    g.add_argument("--max-bytes", type=int, default=256 * 1024 * 1024, help="bytes per file before rotating")
    g.add_argument("--gzip", action="store_true", help="write .jsonl.gz files")


def build_parser(defaults: dict[str, Any]) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vpa-stream",
        description="Lookahead-free Volume Price Analysis training examples from market bars.",
        epilog="Defaults come from --config FILE (or ./vpa-stream.toml) and VPA_* environment variables.",
    )
    parser.add_argument("--version", action="version", version=f"vpa-stream {__version__}")
    parser.add_argument("--config", default=None, help="TOML file with [defaults] and [engine] tables")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    bf = sub.add_parser("backfill", help="build a dataset from a source in one process (no broker)",
                        description="Replay a source in event-time order through the VPA engine and write "
                                    "rotating JSONL examples plus a manifest into --out.")
    _add_source_options(bf)
    bf.add_argument("--out", default="data", help="output directory (default: %(default)s)")
    _add_sink_options(bf)
    bf.add_argument("--no-progress", action="store_true", help="no progress bar")
    bf.add_argument("--workers", type=int, default=None,
                    help="engine processes, symbols partitioned over them as Kafka partitions keys (default: the "
                         "cores available; 1 runs the engine in the main process); the files are the same bytes")
    bf.add_argument("--single-process", action="store_true",
                    help="run every stage in this process (for debugging; one worker): the same bytes")
    bf.add_argument("--verify-wire", action="store_true",
                    help="round-trip every example through its Avro schema and stop at one that changes")
    bf.add_argument("--then-live", action="store_true",
                    help="after the backfill, fill the gap to now and keep polling (yfinance)")
    bf.add_argument("--grace", type=float, default=None, help="with --then-live: seconds after a close before polling")
    bf.set_defaults(handler=cmd_backfill)

    tp = sub.add_parser("topics", help="Kafka topics of the pipeline",
                        description="Manage the bars, examples and dead-letter topics.")
    tsub = tp.add_subparsers(dest="topics_command", metavar="ACTION")
    tc = tsub.add_parser("create", help="create the topics (existing ones are left as they are)")
    _add_kafka_options(tc)
    tc.add_argument("--partitions", type=int, default=6, help="partitions per topic (default: %(default)s)")
    tc.add_argument("--replication-factor", type=int, default=1, help="replication factor (default: %(default)s)")
    tc.set_defaults(handler=cmd_topics_create)

    rp = sub.add_parser("replay", help="send a source's time-ordered bars to the Kafka bars topic",
                        description="Replay a source in event-time order to the bars topic (Avro, key = symbol), "
                                    "with an idempotent producer and acks=all.")
    _add_source_options(rp)
    _add_kafka_options(rp)
    rp.add_argument("--speed", type=float, default=0.0,
                    help="0: as fast as possible; N: N times real time on one global clock (default: 0)")
    rp.add_argument("--no-progress", action="store_true", help="no progress bar")
    rp.set_defaults(handler=cmd_replay)

    pr = sub.add_parser("process", help="run a stream processor worker (faust-streaming)",
                        description="Consume bars, keep per-symbol windows in a changelog-backed table, produce "
                                    "Avro examples. Start several with the same --topic-prefix to scale out.")
    _add_kafka_options(pr)
    pr.add_argument("--partitions", type=int, default=6, help="partitions of the topics (default: %(default)s)")
    pr.add_argument("--app-id", default=None, help="consumer group / app id (default: PREFIX + processor)")
    pr.add_argument("--timeframe", default=None,
                    help="primary timeframe: only its bars make examples, bars of other timeframes are context "
                         "(default: every timeframe makes examples)")
    pr.add_argument("--loglevel", default="WARNING", help="worker log level (default: %(default)s)")
    pr.add_argument("--datadir", default=None,
                    help="Faust's data directory (default: vpa-stream/APP-ID-data under the system temp directory; the "
                         "state itself lives in the changelog topic)")
    pr.add_argument("--no-restart", action="store_true",
                    help="run the worker in this process and exit when it stops itself (exit 1: a failed produce, "
                         "records the consumer skipped), for a process manager to restart; by default the command "
                         "starts a new worker whenever one ends abnormally, and gives up after 10 in a row that each "
                         "ended within a minute of their start")
    pr.set_defaults(handler=cmd_process)

    sk = sub.add_parser("sink", help="write examples from Kafka into rotating JSONL files, exactly once",
                        description="Consume examples and dead letters, write rotating JSONL with a manifest; "
                                    "offsets are committed only after the files holding them are durable.")
    _add_kafka_options(sk)
    sk.add_argument("--out", default="data", help="output directory (default: %(default)s)")
    _add_sink_options(sk)
    sk.add_argument("--group-id", default=None, help="consumer group (default: PREFIX + sink)")
    sk.add_argument("--idle-commit", type=float, default=1.0,
                    help="seconds without records after which open files are committed (default: %(default)s)")
    sk.add_argument("--max-file-age", type=float, default=1.0,
                    help="seconds after its first record that an open file is committed (default: %(default)s)")
    sk.add_argument("--exit-when-idle", type=float, default=None,
                    help="exit after this many seconds without records (default: run until stopped)")
    sk.set_defaults(handler=cmd_sink)

    from vpa_stream.live_pipeline import register as register_live
    from vpa_stream.processors.audit import register as register_audit
    from vpa_stream.sinks.evaluate import register as register_evaluate
    from vpa_stream.sinks.export_cli import register as register_export
    from vpa_stream.sinks.report import register as register_report

    lv = register_live(sub)
    register_export(sub)
    rpt = register_report(sub)
    evl = register_evaluate(sub)
    aud = register_audit(sub)

    for p in (bf, tc, rp, pr, sk, rpt, evl, aud):
        p.set_defaults(**{k: v for k, v in defaults.items() if k not in ("config",)})
    # live runs embedded unless --bootstrap-servers is given on its command line: a configured broker default
    # must not silently switch it to Kafka mode
    lv.set_defaults(**{k: v for k, v in defaults.items() if k not in ("config", "bootstrap_servers")})
    return parser


def _add_kafka_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("kafka")
    g.add_argument("--bootstrap-servers", default=DEFAULT_BOOTSTRAP,
                   help="Kafka bootstrap servers host:port[,host:port] (default: %(default)s)")
    g.add_argument("--topic-prefix", default="vpa.", help="prefix of every topic name (default: %(default)s)")
    g.add_argument("--broker-timeout", type=float, default=BROKER_TIMEOUT_S,
                   help="seconds to ride out an unreachable broker before stopping with exit 1 (default: %(default)s)")


def cmd_topics_create(args: argparse.Namespace, file_data: dict[str, Any]) -> int:
    from vpa_stream.schemas.topics import Topics, create_topics

    status = create_topics(args.bootstrap_servers, Topics(args.topic_prefix), int(args.partitions),
                           int(args.replication_factor))
    for name, state in status.items():
        print(f"{name}: {state}")
    return 0


def cmd_replay(args: argparse.Namespace, file_data: dict[str, Any]) -> int:
    from vpa_stream.pipeline import timeframe_lines
    from vpa_stream.producers.kafka_replay import BarPublisher, make_producer, replay_to_kafka
    from vpa_stream.schemas.topics import Topics, quiet_client_logs

    quiet_client_logs(args.verbose)
    sources = make_sources(args)
    speed = float(args.speed)
    if speed < 0:
        raise UsageError("--speed must be 0 or positive")
    wait = float(args.broker_timeout)
    publisher = BarPublisher(make_producer(args.bootstrap_servers, wait), Topics(args.topic_prefix),
                             broker_timeout_s=wait)
    bar = _progress(args, "replay")
    try:
        summary = replay_to_kafka(sources, publisher, speed, progress=bar.update if bar is not None else None,
                                  require=run_timeframes(args).required)
    finally:
        if bar is not None:
            bar.close()
        publisher.producer.close()  # type: ignore[attr-defined]
    print(f"vpa-stream replay -> {Topics(args.topic_prefix).bars} at {args.bootstrap_servers}")
    for i, line in enumerate(timeframe_lines(sources, (run_timeframes(args).primary,))):
        print(f"  {'timeframes' if i == 0 else '':<15}{line}")
    for line in summary.lines():
        print("  " + line)
    return 0


def cmd_process(args: argparse.Namespace, file_data: dict[str, Any]) -> int:
    from vpa_stream.processors.faust_app import build_app, run_worker
    from vpa_stream.schemas.topics import Topics, create_topics, quiet_client_logs

    if not args.no_restart:
        from vpa_stream.processes import run_restarting

        return run_restarting([*args.argv, "--no-restart"], lambda line: print(f"vpa-stream process: {line}",
                                                                                file=sys.stderr, flush=True))
    quiet_client_logs(args.verbose)
    logging.getLogger().setLevel(str(args.loglevel).upper())  # Faust's own logs too (the handler is main's)
    topics = Topics(args.topic_prefix)
    wait = float(args.broker_timeout)
    create_topics(args.bootstrap_servers, topics, int(args.partitions), wait_s=wait)  # Faust needs its source topic
    primary = (run_timeframes(args).primary,) if args.timeframe else None
    app = build_app(args.bootstrap_servers, topics, engine_config(file_data), int(args.partitions), args.app_id,
                    datadir=Path(args.datadir) if args.datadir else None, broker_timeout_s=wait,
                    primary_timeframes=primary)
    run_worker(app, str(args.loglevel).upper())
    return 0


def cmd_sink(args: argparse.Namespace, file_data: dict[str, Any]) -> int:
    from vpa_stream.schemas.topics import Topics, create_topics, quiet_client_logs
    from vpa_stream.sinks.dataset import SinkOptions
    from vpa_stream.sinks.kafka_sink import KafkaDatasetSink

    quiet_client_logs(args.verbose)
    topics = Topics(args.topic_prefix)
    wait = float(args.broker_timeout)
    create_topics(args.bootstrap_servers, topics, wait_s=wait)
    sink = KafkaDatasetSink(args.bootstrap_servers, topics, Path(args.out),
                            SinkOptions(int(args.max_records), int(args.max_bytes), bool(args.gzip)),
                            group_id=args.group_id, idle_commit_s=float(args.idle_commit),
                            max_file_age_s=float(args.max_file_age), broker_timeout_s=wait)
    stop = _stop_flag()
    summary = sink.run(exit_when_idle_s=args.exit_when_idle, stop=stop)
    print(f"vpa-stream sink -> {args.out}")
    for line in summary.lines():
        print("  " + line)
    return 0


def _stop_flag() -> Any:
    """A SIGTERM/SIGINT handler that asks a polling loop to finish its files and stop."""
    import signal

    flag = {"stop": False}

    def handler(signum: int, frame: Any) -> None:
        flag["stop"] = True

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return lambda: flag["stop"]


def source_specs(args: argparse.Namespace) -> list[str]:
    """The --source values: each one given, else the configured default (a string, or a list in TOML)."""
    value = args.source
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def run_timeframes(args: argparse.Namespace) -> Timeframes:
    """--timeframe (the primary) and --other-timeframes (the context asked for)."""
    try:
        return Timeframes.of(str(args.timeframe), str(getattr(args, "other_timeframes", "") or "").split(","))
    except SourceSpecError as exc:
        raise UsageError(str(exc)) from exc


def make_sources(args: argparse.Namespace) -> list[Source]:
    symbols = tuple(s.strip() for s in str(args.symbols).split(",") if s.strip())
    session = Session(args.tz, args.session_open, args.session_close, getattr(args, "session_hours", "exchange"))
    options = SourceOptions(symbols=symbols, start=args.start, end=args.end, session=session, symbol=args.symbol,
                            time_unit=getattr(args, "time_unit", None), delimiter=getattr(args, "delimiter", None),
                            back_adjusted=bool(getattr(args, "back_adjusted", False)))
    try:
        return build_sources(source_specs(args), options, run_timeframes(args), period=args.period)
    except SourceSpecError as exc:
        raise UsageError(str(exc)) from exc


def cmd_backfill(args: argparse.Namespace, file_data: dict[str, Any]) -> int:
    from vpa_stream.engine_processes import MAX_PARTITIONS
    from vpa_stream.pipeline import run_backfill
    from vpa_stream.sinks.dataset import SinkOptions

    if args.max_records < 1 or args.max_bytes < 1:
        raise UsageError("--max-records and --max-bytes must be positive")
    workers = None if args.workers is None else int(args.workers)
    if workers is not None and not 1 <= workers <= MAX_PARTITIONS:
        raise UsageError(f"--workers {workers}: must be between 1 and {MAX_PARTITIONS}")
    if args.single_process and workers not in (None, 1):
        raise UsageError(f"--single-process runs one engine: use it with --workers 1, not {workers}")
    cfg = engine_config(file_data)
    sources = make_sources(args)
    out = Path(args.out)
    sink_options = SinkOptions(int(args.max_records), int(args.max_bytes), bool(args.gzip))
    bar = _progress(args)
    try:
        summary = run_backfill(sources, out, cfg, sink_options, progress=bar.update if bar is not None else None,
                               parallel=not args.single_process, timeframes=run_timeframes(args),
                               workers=workers, verify_wire=bool(args.verify_wire))
    finally:
        if bar is not None:
            bar.close()
    print(f"vpa-stream backfill -> {out}")
    for line in summary.lines():
        print("  " + line)
    if args.then_live:
        from vpa_stream.live_pipeline import then_live

        return then_live(args, file_data)
    return 0


def _progress(args: argparse.Namespace, desc: str = "backfill") -> Any:
    if args.no_progress:
        return None
    from tqdm import tqdm

    return tqdm(unit=" bars", unit_scale=True, file=sys.stderr, disable=None, desc=desc)


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
    except (UsageError, SettingsError) as exc:
        return _fail(exc, EXIT_USAGE, verbose, expected=True)
    except (SourceError, KafkaSetupError, StageProcessError, OutputWriteError, WireMismatchError) as exc:
        return _fail(exc, EXIT_FAILURE, verbose, expected=True)
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

if __name__ == "__main__":
    sys.exit(main())
