"""Lookahead audit: re-run the engine on histories truncated at random bars and compare with the full run.

DOMAIN §1 says the example for bar t is a pure function of the last W closed bars of each timeframe of its
symbol and of the config. The audit checks it from the outside, on any source:

1. one full run over every bar keeps, per example id, the bar's replay index and a digest of the record bytes;
2. ``samples`` example ids are drawn with a seeded ``random.Random`` (the same ids for the same input);
3. for each one, a fresh engine reads only that symbol's bars up to and including t, starting ``history_ms``
   before t (by default enough for W bars of the symbol's longest timeframe, derived ones included; None: from
   the first bar), and its example at t must be byte-identical to the full run's.

An engine comes from a factory that is given the bars of the run it will serve: a real engine ignores them,
and a component that could read data it should not (a source pre-loaded into memory, a centred window over a
frame) is modelled by one that uses them, which is how the tests inject a lookahead the audit must find.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from vpa_stream.processors.config import VPAConfig
from vpa_stream.schemas.models import TIMEFRAME_SECONDS, Bar

log = logging.getLogger(__name__)

#: paths of differing fields listed per finding (the first ones in record order)
MAX_PATHS = 8


class ExampleLike(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def record(self) -> dict[str, Any]: ...


class BarEngine(Protocol):
    """What the audit needs of an engine: one closed bar in, its example (or None while warming up) out."""

    def update(self, bar: Bar) -> Any: ...


#: builds a fresh engine for a run over the given bars (a real engine ignores them)
EngineFactory = Callable[[Sequence[Bar]], BarEngine]


def engine_factory(cfg: VPAConfig | None = None, primary_timeframes: Sequence[str] | None = None) -> EngineFactory:
    """Fresh production engines with ``cfg`` (and the run's primary timeframes, None: every timeframe)."""
    from vpa_stream.processors.engine import Engine

    config = cfg or VPAConfig()
    return lambda bars: Engine(config, primary_timeframes)


@dataclass(frozen=True, slots=True)
class Finding:
    """An example whose truncated-history run differs from the full run."""

    id: str
    kind: str  # "differs": another record; "missing": no example at t; "other-id": an example of another bar
    paths: tuple[str, ...] = ()  # the record fields that differ ("input.vpa_metrics.atr", ...)
    history_bars: int = 0  # bars the truncated run read

    def line(self) -> str:
        where = f": {', '.join(self.paths)}" if self.paths else ""
        return f"{self.id} {self.kind} after truncation ({self.history_bars} bars of history){where}"


@dataclass
class AuditResult:
    bars: int = 0
    examples: int = 0
    checked: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    history_bars: int = 0  # bars read by all truncated runs together
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.findings

    def lines(self) -> list[str]:
        out = [
            f"bars read          {self.bars:,}",
            f"examples           {self.examples:,}",
            f"truncation points  {len(self.checked):,}",
            f"bars re-read       {self.history_bars:,}",
            f"differences        {len(self.findings)}",
            f"seconds            {self.seconds:.2f}",
        ]
        out += ["  " + f.line() for f in self.findings]
        return out


def default_history_ms(cfg: VPAConfig, bars: Sequence[Bar]) -> int:
    """How far before t a truncated run starts: W (+2) bars of the longest timeframe the engine keeps.

    The longest is over the supplied timeframes and those the config derives from them (weekly from daily);
    calendar time covers at least that many bars of every shorter timeframe too.
    """
    derive = dict(cfg.derive_timeframes)
    supplied = {b.timeframe for b in bars}
    kept = supplied | {htf for tf in supplied for htf in derive.get(tf, ())}
    longest = max((TIMEFRAME_SECONDS[tf] for tf in kept), default=86400)
    return (cfg.window_bars + 2) * longest * 1000


def _digest(record: dict[str, Any]) -> bytes:
    return hashlib.sha256(orjson.dumps(record)).digest()


def diff_paths(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two JSON values differ (lists by index), in ``a``'s key order."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in [*a, *(k for k in b if k not in a)]:
            if key not in a or key not in b:
                out.append(f"{prefix}{key}")
            else:
                out += diff_paths(a[key], b[key], f"{prefix}{key}.")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [p for i, (x, y) in enumerate(zip(a, b, strict=True)) for p in diff_paths(x, y, f"{prefix}{i}.")]
    if type(a) is not type(b) or a != b:
        return [prefix.rstrip(".") or "(record)"]
    return []


def _full_run(bars: Sequence[Bar], factory: EngineFactory) -> dict[str, tuple[int, bytes]]:
    """id -> (replay index of its bar, digest of its record bytes)."""
    engine = factory(bars)
    out: dict[str, tuple[int, bytes]] = {}
    for i, bar in enumerate(bars):
        example = engine.update(bar)
        if example is not None:
            out[example.id] = (i, _digest(example.record))
    return out


def _records_of(bars: Sequence[Bar], factory: EngineFactory, ids: set[str]) -> dict[str, dict[str, Any]]:
    """The full run's records of ``ids`` (a second pass, only when something differs: keeps memory small)."""
    engine = factory(bars)
    out: dict[str, dict[str, Any]] = {}
    for bar in bars:
        example = engine.update(bar)
        if example is not None and example.id in ids:
            out[example.id] = example.record
    return out


def audit(
    bars: Sequence[Bar],
    factory: EngineFactory | None = None,
    samples: int = 50,
    seed: int = 0,
    cfg: VPAConfig | None = None,
    history_ms: int | None = None,
    from_start: bool = False,
) -> AuditResult:
    """Compare ``samples`` examples of the full run with runs over their truncated histories.

    ``bars`` are in replay order (``producers.replay``). A truncated run starts ``history_ms`` before t
    (default: ``default_history_ms(cfg, bars)``), or at the symbol's first bar with ``from_start``.
    """
    started = time.perf_counter()
    cfg = cfg or VPAConfig()
    factory = factory or engine_factory(cfg)
    if history_ms is None:
        history_ms = default_history_ms(cfg, bars)
    result = AuditResult(bars=len(bars))
    full = _full_run(bars, factory)
    result.examples = len(full)
    ids = list(full)  # replay order
    picked = sorted(random.Random(seed).sample(ids, min(samples, len(ids))), key=lambda i: full[i][0])
    result.checked = picked

    by_symbol: dict[str, list[int]] = defaultdict(list)
    for i, bar in enumerate(bars):
        by_symbol[bar.symbol].append(i)
    times = {s: [bars[i].close_time for i in idx] for s, idx in by_symbol.items()}

    differing: list[tuple[str, dict[str, Any] | None, int]] = []
    for example_id in picked:
        t, digest = full[example_id]
        bar_t = bars[t]
        indices = by_symbol[bar_t.symbol]
        first = 0 if from_start else bisect_left(times[bar_t.symbol], bar_t.close_time - history_ms)
        # bars of this symbol at or before t in replay order: a finer bar closing with t is part of the history
        last = bisect_left(indices, t)
        history = [bars[i] for i in indices[first : last + 1]]
        engine = factory(history)
        example = None
        for bar in history:
            example = engine.update(bar)
        result.history_bars += len(history)
        if example is None or example.id != example_id:
            differing.append((example_id, None if example is None else {"id": example.id}, len(history)))
        elif _digest(example.record) != digest:
            differing.append((example_id, example.record, len(history)))

    if differing:
        reference = _records_of(bars, factory, {d[0] for d in differing})
        for example_id, record, n in differing:
            if record is None:
                finding = Finding(example_id, "missing", (), n)
            elif set(record) == {"id"}:
                finding = Finding(example_id, "other-id", (f"id {record['id']}",), n)
            else:
                finding = Finding(example_id, "differs", tuple(diff_paths(reference[example_id], record)[:MAX_PATHS]),
                                  n)
            log.warning("lookahead audit: %s", finding.line(), extra={"example_id": example_id})
            result.findings.append(finding)
    result.seconds = time.perf_counter() - started
    log.info("lookahead audit: %d points, %d differences", len(picked), len(result.findings),
             extra={"bars": len(bars), "examples": len(full)})
    return result
