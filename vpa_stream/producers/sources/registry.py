"""The source kinds a spec can name (``sample``, ``yfinance``, ``csv:PATH``, ``parquet:PATH``), by scheme.

Every way into the pipeline resolves a spec's scheme here: backfill, replay, audit, report and evaluate
through ``specs.build_sources`` (the CLI's ``--source``/``--prices`` and the Python API alike), the CLI's
usage checks through ``reads_path``. A new source is a ``Source`` subclass and one ``SourceKind`` below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from vpa_stream.producers.sources.base import Source, SourceOptions
from vpa_stream.schemas.errors import UsageError

if TYPE_CHECKING:
    from vpa_stream.producers.sources.specs import Timeframes

__all__ = ["SOURCES", "SourceKind", "SourceSpecError", "described", "usages"]

class SourceSpecError(UsageError, ValueError):
    """A request that names no usable source or timeframe (a usage error: nothing was read)."""


#: (path after the scheme, #TF suffix or None, options, the run's timeframes, yfinance period) -> sources
Factory = Callable[[str, str | None, SourceOptions, "Timeframes", str | None], list[Source]]


@dataclass(frozen=True, slots=True)
class SourceKind:
    """One scheme: how a spec of it is written, what it reads, and the sources it stands for."""

    name: str
    usage: str  #: how a spec is written: ``csv:PATH``
    description: str  #: the ``--source`` help's words for it
    reads_path: bool  #: the path is a file or directory that must exist before anything runs
    build: Factory


def _sample(path: str, suffix: str | None, options: SourceOptions, tfs: Timeframes, period: str | None) -> list[Source]:
    from vpa_stream.producers.sources.sample import SampleSource

    if path:
        raise SourceSpecError("the sample source takes no path")
    if suffix not in (None, "1d"):
        raise SourceSpecError(f"the sample source is daily: sample#{suffix} cannot be")
    return [SampleSource(replace(options, timeframe="1d"))]


def _yfinance(path: str, suffix: str | None, options: SourceOptions, tfs: Timeframes,
              period: str | None) -> list[Source]:
    from vpa_stream.producers.sources.yfinance import YFinanceSource

    if path:
        raise SourceSpecError("the yfinance source takes no path (symbols come from --symbols)")
    out: list[Source] = []
    for tf in (suffix,) if suffix else tfs.required:
        source = YFinanceSource(replace(options, timeframe=tf), period=period)
        source.given_origin = "suffix" if suffix else "given"
        out.append(source)
    return out


def _files(fmt: str) -> Factory:
    def build(path: str, suffix: str | None, options: SourceOptions, tfs: Timeframes,
              period: str | None) -> list[Source]:
        from vpa_stream.producers.sources.files import FileSource

        if not path:
            raise SourceSpecError(f"{fmt}: needs a path ({fmt}:PATH)")
        source = FileSource(path, fmt, replace(options, timeframe=suffix, timeframes=tfs.kept))
        source.given_origin = "suffix"
        return [source]

    return build


#: scheme -> its kind, in the order help texts and messages list them
SOURCES: dict[str, SourceKind] = {kind.name: kind for kind in (
    SourceKind("sample", "sample", "sample (bundled AAPL/MSFT/IBM daily)", False, _sample),
    SourceKind("csv", "csv:PATH", "csv:PATH", True, _files("csv")),
    SourceKind("parquet", "parquet:PATH", "parquet:PATH (file or directory)", True, _files("parquet")),
    SourceKind("yfinance", "yfinance", "yfinance", False, _yfinance),
)}


def usages() -> str:
    """``sample, csv:PATH, parquet:PATH or yfinance``."""
    names = [kind.usage for kind in SOURCES.values()]
    return f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]


def described() -> str:
    """``sample (bundled AAPL/MSFT/IBM daily), csv:PATH, parquet:PATH (file or directory), or yfinance``."""
    words = [kind.description for kind in SOURCES.values()]
    return f"{', '.join(words[:-1])}, or {words[-1]}" if len(words) > 1 else words[0]
