"""``vpa-stream export``: a dataset directory -> leak-free chronological splits in fine-tuning formats plus a card.

Split rules (the invariants the tests check):
  1. Order: every ``examples-*.jsonl[.gz]`` record of the input directory, sorted by
     (decision time, ticker, timeframe, id); an id seen twice must carry the same record.
  2. Cut dates: one ``val_from`` and one ``test_from`` for every symbol; an example goes to test when its
     decision time >= test_from, to val when >= val_from, else to train.
  3. Embargo: ``embargo_bars`` (default: the engine's ``window_bars``, the bars one example reads) counted in
     bars of each series' own primary timeframe. For each series (symbol, timeframe) and each cut date, the
     ``embargo_bars`` examples just before the series' first example at or after the cut are dropped. Their
     time span is therefore measured on the series' own timestamps, and gaps (holidays, rejected bars) only
     make it longer. The input windows of the last kept example before a cut and the first example after it
     never share a bar. A series with no example after a cut has nothing to leak into and loses nothing; the
     engine reads one symbol's bars only, so inputs of different symbols never overlap.
  4. Held-out symbols: their examples at or after test_from go to test (flagged ``holdout_symbol`` in the
     sidecar); their earlier examples are left out, so no held-out symbol is in train or val and the test
     split still covers one time range for every symbol (out of sample in time and in symbol). Nothing of
     theirs precedes a cut, so nothing of theirs is embargoed.
  5. HOLD cap: if set, the HOLD share of *train* is capped at the fraction by keeping the HOLDs whose
     sha256(id) ranks lowest, a pure function of the ids. Val and test keep the natural label distribution
     so that evaluation measures what a user will see. Capped HOLDs are dropped from every format: each
     example has one assistant turn, so an OpenAI ``weight: 0`` would train nothing while its tokens are
     still billed.
Output bytes are a pure function of (input records, options): no wall clock, no randomness.
"""

from __future__ import annotations

import bisect
import gzip
import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from vpa_stream.processors.config import VPAConfig
from vpa_stream.schemas.errors import UsageError
from vpa_stream.schemas.example_record import signal_type_of, ticker_of, timeframe_of, timestamp_of
from vpa_stream.sinks.formats import PROMPT_STYLES, resolve_format

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
HOLD = "HOLD"


class ExportError(UsageError):
    """An input directory or option that cannot produce an export (a usage error: nothing was written)."""


@dataclass(frozen=True, slots=True)
class SplitOptions:
    """How examples are assigned to splits (see the module docstring for the rules)."""

    val_from: datetime | None = None  # None with test_from None: the 80th / 90th percentile dates
    test_from: datetime | None = None
    embargo_bars: int | None = None  # None: the default engine config's window_bars
    holdout_symbols: tuple[str, ...] = ()
    hold_cap: float | None = None

    def check(self) -> None:
        """Raise ExportError for options no dataset can satisfy (checked before any file is read)."""
        if (self.val_from is None) != (self.test_from is None):
            raise ExportError("give both --val-from and --test-from, or neither (80/10/10 by date)")
        if self.val_from is not None and self.test_from is not None and self.test_from <= self.val_from:
            raise ExportError(f"--test-from ({self.test_from:%Y-%m-%d}) must be after "
                              f"--val-from ({self.val_from:%Y-%m-%d})")
        if self.embargo_bars is not None and self.embargo_bars < 0:
            raise ExportError("the embargo must be 0 bars or more")
        if self.hold_cap is not None and not 0 < self.hold_cap <= 1:
            raise ExportError("--hold-cap must be a fraction in (0, 1]")


@dataclass
class SplitPlan:
    """Examples per split (chronological), with what was dropped and why."""

    val_from: datetime
    test_from: datetime
    embargo_bars: int
    splits: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {s: [] for s in SPLITS})
    embargoed: int = 0
    hold_capped: int = 0
    hold_cap: float | None = None
    holdout_excluded: int = 0  # examples of held-out symbols before test_from
    holdout_symbols: tuple[str, ...] = ()
    holdout_ids: frozenset[str] = frozenset()


# -- reading ---------------------------------------------------------------------------------------------------

def example_files(in_dir: Path) -> list[Path]:
    """The completed example files of a dataset directory (temporaries start with a dot and are skipped)."""
    files = sorted({*in_dir.glob("examples-*.jsonl"), *in_dir.glob("examples-*.jsonl.gz")})
    return [f for f in files if f.is_file()]


def _lines(path: Path) -> Iterator[bytes]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        for raw in fh:
            line = raw.strip()
            if line:
                yield line


def sort_key(example: dict[str, Any]) -> tuple[str, str, str, str]:
    # ISO-8601 UTC strings with a Z suffix order as times
    return (timestamp_of(example), ticker_of(example), timeframe_of(example), example["id"])


def load_examples(in_dir: Path) -> list[dict[str, Any]]:
    """Every example of ``in_dir`` once, in (decision time, ticker, timeframe, id) order."""
    files = example_files(in_dir)
    if not files:
        raise ExportError(f"{in_dir}: no examples-*.jsonl or examples-*.jsonl.gz files")
    by_id: dict[str, tuple[bytes, dict[str, Any]]] = {}
    for path in files:
        for n, line in enumerate(_lines(path), 1):
            try:
                record = orjson.loads(line)
                record_id = record["id"]
                timestamp_of(record), signal_type_of(record)
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                raise ExportError(f"{path}:{n}: not an example record ({exc})") from exc
            seen = by_id.get(record_id)
            if seen is None:
                by_id[record_id] = (line, record)
            elif seen[0] != line:
                raise ExportError(f"{path}:{n}: example {record_id} differs from an earlier copy")
    return sorted((r for _, r in by_id.values()), key=sort_key)


# -- splitting -------------------------------------------------------------------------------------------------

def parse_cut(text: str) -> datetime:
    """A cut date ``YYYY-MM-DD`` (00:00 UTC) or an ISO-8601 time (naive = UTC)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ExportError(f"not a date or ISO time: {text!r}") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _time(example: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(timestamp_of(example))


def default_cuts(examples: list[dict[str, Any]]) -> tuple[datetime, datetime]:
    """The UTC dates of the 80th and 90th percentile decision times: one pair for every symbol."""
    if not examples:
        raise ExportError("no examples to split")
    times = [_time(e) for e in examples]  # already sorted

    def day(q: float) -> datetime:
        t = times[min(len(times) - 1, int(q * len(times)))]
        return datetime(t.year, t.month, t.day, tzinfo=UTC)

    val_from, test_from = day(0.8), day(0.9)
    if test_from <= val_from:
        raise ExportError("too few distinct dates for default cuts: give --val-from and --test-from")
    return val_from, test_from


def hold_rank(example_id: str) -> str:
    """The deterministic down-sampling order of HOLDs: sha256 of the id."""
    return hashlib.sha256(example_id.encode()).hexdigest()


def cap_holds(examples: list[dict[str, Any]], cap: float) -> tuple[list[dict[str, Any]], int]:
    """Keep at most ``cap`` HOLD share: the HOLDs of lowest id hash survive; order is preserved."""
    holds = [e for e in examples if signal_type_of(e) == HOLD]
    others = len(examples) - len(holds)
    allowed = len(holds) if cap >= 1 else int(cap * others / (1 - cap))
    if len(holds) <= allowed:
        return examples, 0
    keep = {e["id"] for e in sorted(holds, key=lambda e: hold_rank(e["id"]))[:allowed]}
    kept = [e for e in examples if signal_type_of(e) != HOLD or e["id"] in keep]
    return kept, len(examples) - len(kept)


def plan_splits(examples: list[dict[str, Any]], options: SplitOptions) -> SplitPlan:
    """Assign sorted ``examples`` to train/val/test by the cut dates, embargo, held-out symbols and HOLD cap."""
    options.check()
    embargo = VPAConfig().window_bars if options.embargo_bars is None else options.embargo_bars
    holdout = {s.upper() for s in options.holdout_symbols}
    tickers = {ticker_of(e) for e in examples}
    unknown = sorted(s for s in holdout if s not in {t.upper() for t in tickers})
    if unknown:
        raise ExportError(f"held-out symbols not in the dataset: {', '.join(unknown)} "
                          f"(dataset has: {', '.join(sorted(tickers))})")
    in_sample = [e for e in examples if ticker_of(e).upper() not in holdout]
    held = [e for e in examples if ticker_of(e).upper() in holdout]
    if options.val_from is None or options.test_from is None:
        val_from, test_from = default_cuts(in_sample or examples)
    else:
        val_from, test_from = options.val_from, options.test_from
    held_test = [e for e in held if _time(e) >= test_from]
    plan = SplitPlan(val_from, test_from, embargo, hold_cap=options.hold_cap,
                     holdout_symbols=tuple(sorted(holdout)), holdout_ids=frozenset(e["id"] for e in held_test),
                     holdout_excluded=len(held) - len(held_test))
    dropped = _embargoed_ids(in_sample, (val_from, test_from), embargo)
    plan.embargoed = len(dropped)
    for e in in_sample:
        if e["id"] in dropped:
            continue
        t = _time(e)
        plan.splits["test" if t >= test_from else "val" if t >= val_from else "train"].append(e)
    if held_test:
        plan.splits["test"] = sorted(plan.splits["test"] + held_test, key=sort_key)
    if options.hold_cap is not None:
        plan.splits["train"], plan.hold_capped = cap_holds(plan.splits["train"], options.hold_cap)
    return plan


def _embargoed_ids(examples: list[dict[str, Any]], cuts: Iterable[datetime], bars: int) -> set[str]:
    """Ids of the ``bars`` examples of each series just before its first example at or after each cut."""
    series: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for e in examples:
        series[(ticker_of(e), timeframe_of(e))].append(e)
    dropped: set[str] = set()
    for items in series.values():
        times = [_time(e) for e in items]
        for cut in cuts:
            first_after = bisect.bisect_left(times, cut)
            if first_after < len(items):
                dropped.update(e["id"] for e in items[max(0, first_after - bars):first_after])
    return dropped


# -- writing ---------------------------------------------------------------------------------------------------

@dataclass
class ExportSummary:
    formats: list[str]
    plan: SplitPlan
    examples_read: int
    counts: dict[str, int]
    written: Any = None  # export_files.WrittenExport

    def lines(self) -> list[str]:
        p = self.plan
        out = [f"examples read  {self.examples_read:,}",
               f"val from       {p.val_from:%Y-%m-%d %H:%M} UTC", f"test from      {p.test_from:%Y-%m-%d %H:%M} UTC",
               f"embargo        {p.embargo_bars} bars ({p.embargoed:,} examples dropped)"]
        if p.holdout_symbols:
            out.append(f"held out       {', '.join(p.holdout_symbols)} (test only; "
                       f"{p.holdout_excluded:,} examples before test-from left out)")
        if p.hold_capped:
            out.append(f"HOLD cap       {p.hold_capped:,} train HOLDs dropped")
        w = self.written
        if w is not None and w.fit.max_tokens is not None:
            out.append(f"max tokens     {w.fit.max_tokens:,} ({w.tokenizer}): prompt budget {w.fit.prompt_budget:,}, "
                       f"{w.excluded:,} rows excluded (excluded.jsonl)")
            if w.fit.skewed():
                out.append(f"excluded       {', '.join(w.fit.skewed())} rows: the budget changes the label "
                           "distribution (a larger --max-tokens keeps it)")
        if w is not None and w.balance is not None:
            out.append(f"balance        {w.balance.mode} (cap {w.balance.cap:,}"
                       + (f", floor {w.balance.floor:,}" if w.balance.floor else "") + f"): train "
                       f"{sum(w.balance.before.values()):,} -> {sum(w.balance.after.values()):,} rows")
        out += [f"{s:<14} {self.counts[s]:,}" for s in SPLITS]
        out.append(f"formats        {', '.join(self.formats)}")
        if w is not None:
            for name, stats in w.tokens_after.items():
                out.append(f"tokens {name:<22} p50 {stats['p50']:,}  p95 {stats['p95']:,}  max {stats['max']:,}")
            if w.recipes:
                out.append(f"recipes        {', '.join(f'recipes/{r} ({f})' for r, f in w.recipes.items())}")
            for name, needs in w.recipes_skipped.items():
                out.append(f"no recipe      {name}: export one of {', '.join(needs)}")
        return out


def export_dataset(in_dir: Path, out_dir: Path, formats: list[str], options: SplitOptions,
                   prompt_style: str = "text", card_extra: dict[str, Any] | None = None,
                   trainer: Any = None) -> ExportSummary:
    """Read ``in_dir``, split, write each format under ``out_dir`` (``export_files``) and the dataset card
    ``out_dir/README.md``; ``trainer`` (``export_files.TrainerOptions``) adds the token budget and balance."""
    from vpa_stream.sinks.atomic import write_lines_atomic
    from vpa_stream.sinks.dataset_card import render_card
    from vpa_stream.sinks.export_files import TrainerOptions, write_export
    from vpa_stream.sinks.tokens import TokenizerError

    if prompt_style not in PROMPT_STYLES:
        raise ExportError(f"unknown prompt style {prompt_style!r}: use one of {', '.join(PROMPT_STYLES)}")
    strategies = [resolve_format(f) for f in formats]
    trainer = trainer or TrainerOptions()
    if trainer.max_tokens is not None and trainer.max_tokens < 1:
        raise ExportError("--max-tokens must be a positive number of tokens")
    options.check()
    if trainer.balance is not None:
        from vpa_stream.sinks.balance import BalanceError

        try:
            trainer.balance.check()
        except BalanceError as exc:
            raise ExportError(str(exc)) from exc
    examples = load_examples(in_dir)
    plan = plan_splits(examples, options)
    try:
        written = write_export(out_dir, plan, strategies, prompt_style, trainer)
    except TokenizerError as exc:
        raise ExportError(str(exc)) from exc
    counts = {s: len(plan.splits[s]) for s in SPLITS}
    card = render_card(plan, [f.name for f in strategies], examples, prompt_style, card_extra or {}, written)
    write_lines_atomic(out_dir / "README.md", [card.encode().rstrip(b"\n")])
    return ExportSummary([f.name for f in strategies], plan, len(examples), counts, written)
