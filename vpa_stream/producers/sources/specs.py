"""Sources from a run's request: source specs, the primary timeframe and the context timeframes.

A spec is ``sample``, ``yfinance``, ``csv:PATH`` or ``parquet:PATH`` (a file or a directory), each optionally
suffixed ``#TF`` to name its timeframe (``csv:aapl_1h.csv#1h``). The CLI and the Python API both build their
sources here, so the two accept exactly the same requests; the kinds a spec can name are in ``registry``.

- ``sample`` is daily; ``yfinance`` downloads the primary timeframe and each context timeframe asked for (or
  only its suffix's); a file's timeframe is its timeframe column's, else the suffix's, else detected from its
  stamps (``producers.sources.timeframes``).
- With context timeframes named, files' series of any other timeframe are left out (the summary says so);
  without, every timeframe the files supply is context.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vpa_stream.producers.sources.base import Source, SourceOptions
from vpa_stream.producers.sources.registry import SOURCES, Factory, SourceSpecError, usages
from vpa_stream.schemas.models import UnknownTimeframeError, normalise_timeframe

__all__ = ["SOURCE_KINDS", "SourceSpecError", "Timeframes", "build_sources", "split_spec"]


@dataclass(frozen=True, slots=True)
class Timeframes:
    """The primary timeframe (the one examples are made for) and the context timeframes asked for."""

    primary: str
    others: tuple[str, ...] = ()

    @classmethod
    def of(cls, primary: str, others: Iterable[str] = ()) -> Timeframes:
        try:
            first = normalise_timeframe(primary)
            rest = tuple(dict.fromkeys(normalise_timeframe(tf) for tf in others if str(tf).strip()))
        except UnknownTimeframeError as exc:
            raise SourceSpecError(str(exc)) from exc
        return cls(first, tuple(tf for tf in rest if tf != first))

    @property
    def required(self) -> tuple[str, ...]:
        """What some source must supply: the primary and every context timeframe asked for."""
        return (self.primary, *self.others)

    @property
    def kept(self) -> tuple[str, ...]:
        """The timeframes a file source keeps (empty: every one)."""
        return self.required if self.others else ()


#: spec kind -> the sources it stands for (kept for callers of the old name; the kinds are in ``registry``)
SOURCE_KINDS: dict[str, Factory] = {name: kind.build for name, kind in SOURCES.items()}


def split_spec(spec: str) -> tuple[str, str, str | None]:
    """``csv:aapl_1h.csv#1h`` -> (``csv``, ``aapl_1h.csv``, ``1h``); no suffix -> None.

    A ``#`` followed by something that cannot be a timeframe label (a path separator, a dot) is part of the
    path; a label that looks like one but is unknown is an error.
    """
    head, sep, tail = spec.strip().rpartition("#")
    suffix: str | None = None
    if sep and head and tail and not any(ch in tail for ch in "/\\.:"):
        try:
            suffix = normalise_timeframe(tail)
        except UnknownTimeframeError as exc:
            raise SourceSpecError(f"--source {spec}: {exc}") from exc
    else:
        head = spec.strip()
    kind, _, path = head.partition(":")
    if kind not in SOURCES:
        raise SourceSpecError(f"unknown source {spec!r}: use {usages()}, optionally with #TF (csv:aapl_1h.csv#1h)")
    return kind, path, suffix


def build_sources(specs: Sequence[str], options: SourceOptions, timeframes: Timeframes,
                  period: str | None = None) -> list[Source]:
    """The sources of a run. ``options`` carries symbols, dates and session; its timeframe is ignored (each
    source's comes from its spec, its data, or ``timeframes``)."""
    if not specs:
        raise SourceSpecError("no source given")
    parsed = [split_spec(spec) for spec in specs]
    if len(parsed) == 1 and parsed[0][0] == "sample" and timeframes.primary != "1d":
        raise SourceSpecError("the sample source is daily: use --timeframe 1d")
    out: list[Source] = []
    for kind, path, suffix in parsed:
        out += SOURCES[kind].build(path, suffix, options, timeframes, period)
    return out
