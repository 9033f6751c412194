"""The Python API: ``TrainingDataGenerator`` runs a backfill, ``load_training_data`` reads the dataset back.

It wires the stages the ``backfill`` command wires, through the same functions (``build_sources``,
``run_backfill``): a call and the command with the same request write the same bytes. Library code: it raises
typed errors and prints nothing.

- ``RequestError``: a request that cannot run (unknown timeframe, ``min_lookback`` below 2, no ticker for
  yfinance, ``ticker`` and ``tickers`` both given); nothing was read or written.
- ``vpa_stream.producers.sources.base.SourceError`` (and its ``TimeframeError``): a source that cannot be read,
  or that does not supply the primary or a context timeframe asked for.
- ``vpa_stream.sinks.worker.SinkProcessError``: the sink failed while writing; ``vpa_stream.processes.
  EngineProcessError``: an engine process failed (both are ``vpa_stream.processes.StageProcessError``).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from vpa_stream.pipeline import RunSummary, run_backfill
from vpa_stream.processors.config import VPAConfig
from vpa_stream.producers.sources.base import Session, SourceOptions
from vpa_stream.producers.sources.specs import SourceSpecError, Timeframes, build_sources
from vpa_stream.settings import SettingsError, engine_config
from vpa_stream.sinks.dataset import SinkOptions
from vpa_stream.sinks.exports import load_examples


class RequestError(ValueError):
    """A request the generator cannot run; ``argument`` names the offending argument."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(f"{argument}: {message}")
        self.argument = argument


class TrainingDataGenerator:
    """Generates VPA training examples (JSONL) into ``output_dir``.

    ``config``: a ``VPAConfig``, or a mapping of its fields (the ``[engine]`` table of a config file), or None
    for the defaults. ``sink_options`` sets file rotation and gzip; ``workers`` the engine processes (default:
    the cores available); ``parallel=False`` runs every stage in this process (the same bytes either way).
    """

    def __init__(self, output_dir: str | Path = "vpa_training_data",
                 config: VPAConfig | Mapping[str, Any] | None = None, *, sink_options: SinkOptions | None = None,
                 parallel: bool = True, workers: int | None = None) -> None:
        self.output_dir = Path(output_dir)
        if config is None or isinstance(config, VPAConfig):
            self.config = config or VPAConfig()
        else:
            try:
                self.config = engine_config({"engine": dict(config)})
            except SettingsError as exc:
                raise RequestError("config", str(exc)) from exc
        self.sink_options = sink_options
        self.parallel = parallel
        self.workers = workers

    def generate_training_data(
        self,
        ticker: str | None = None,
        start_date: str | None = None,
        end_date: str | None = None,
        primary_timeframe: str = "1d",
        other_timeframes: Iterable[str] = (),
        min_lookback: int = 50,
        *,
        tickers: Iterable[str] | None = None,
        source: str | Sequence[str] = "yfinance",
        period: str | None = None,
        session: Session | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> RunSummary:
        """Write the examples of ``ticker`` (or ``tickers``) from ``start_date`` to ``end_date`` (inclusive)
        into ``output_dir``, replacing an earlier run's files there, and return the run summary.

        Examples are made for ``primary_timeframe`` only; ``other_timeframes`` are context
        (``input.multi_timeframe_context``): yfinance downloads each, files must supply each (with ``()``
        every other timeframe the files supply is context). ``min_lookback`` is the warm-up: bars of the
        primary timeframe before the first example. ``source`` is ``"yfinance"``, ``"sample"``,
        ``"csv:PATH"``, ``"parquet:PATH"`` (a ``#1h`` suffix names a file's timeframe) or a list of them;
        files without a symbol column are taken to be the one ticker. ``period`` (yfinance, e.g. ``"2y"``)
        replaces the dates; ``session`` times date-only rows and caps intraday bars (default: New York,
        16:00; ``Session(hours="24h")`` for FX and crypto).
        """
        if ticker is not None and tickers is not None:
            raise RequestError("ticker", "give ticker or tickers, not both")
        symbols = tuple(dict.fromkeys(s.strip() for s in ([ticker] if ticker is not None else tickers or ())
                                      if s and s.strip()))
        specs = [source] if isinstance(source, str) else list(source)
        if not symbols and any(spec.partition("#")[0] == "yfinance" for spec in specs):
            raise RequestError("ticker", "the yfinance source needs a ticker")
        if isinstance(other_timeframes, str):  # "1h" or "1h,15m", as the CLI takes it
            other_timeframes = other_timeframes.split(",")
        try:
            timeframes = Timeframes.of(primary_timeframe, other_timeframes)
        except SourceSpecError as exc:
            raise RequestError("primary_timeframe/other_timeframes", str(exc)) from exc
        try:
            cfg = self.config.with_overrides(warmup_bars=int(min_lookback))
        except ValueError as exc:
            raise RequestError("min_lookback", f"{min_lookback}: {exc} (at least 2)") from exc
        options = SourceOptions(symbols=symbols, start=start_date, end=end_date, session=session or Session(),
                                symbol=symbols[0] if len(symbols) == 1 else None, back_adjusted=cfg.back_adjusted)
        try:
            sources = build_sources(specs, options, timeframes, period=period)
        except SourceSpecError as exc:
            raise RequestError("source", str(exc)) from exc
        return run_backfill(sources, self.output_dir, cfg, self.sink_options, progress=progress,
                            parallel=self.parallel, timeframes=timeframes, workers=self.workers)


def read_examples(path: str | Path) -> list[dict[str, Any]]:
    """The records of a dataset directory (each once, in decision-time order, as ``export`` reads them) or of
    one example file (in file order)."""
    path = Path(path)
    if path.is_dir():
        return load_examples(path)
    data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    return [orjson.loads(line) for line in data.splitlines() if line.strip()]


def load_training_data(path: str | Path) -> Any:
    """The examples of a dataset directory (or one example file) as a Hugging Face ``datasets.Dataset``, one
    row per example with the record's nested fields; the list of records when ``datasets`` is not installed.
    Raises ``ExportError`` for a directory without example files, ``OSError`` for a missing path."""
    rows = read_examples(path)
    try:
        from datasets import Dataset
    except ImportError:
        return rows
    return Dataset.from_list(rows)


__all__ = ["RequestError", "TrainingDataGenerator", "load_training_data", "read_examples"]
