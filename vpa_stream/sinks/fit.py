"""``export --max-tokens N``: shorten each prompt until its row fits, never the completion; list what cannot fit.

The rule, in the order it is applied:
  1. Fixed tokens: the instruction and the chat markers (``tokens.TURN_OVERHEAD`` a turn, ``REPLY_OVERHEAD``),
     counted for each chosen format, the largest taken.
  2. The completion allowance is the longest completion of the export (plus ``DPO_MARGIN`` when preference
     pairs are written: a rejected answer may be a few tokens longer). The prompt budget is N minus both.
  3. Each prompt is the fullest view of ``prompts.view_steps`` whose tokens fit the prompt budget, or the
     shortest view when none does. The view depends on the input and N only, never on the row's own
     completion, so the prompt's length tells the model nothing about the answer (BUY and SELL explanations
     run about 50% longer than HOLD ones), and a new bar can be given the same view at inference.
  4. Every row is then counted exactly in every format; a row longer than N in any of them is left out of
     every format and listed in ``excluded.jsonl`` with its counts and the reason. A row whose shortest view
     fits is never excluded, so the rows kept are as many as any prompt-shortening rule could keep.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from vpa_stream.schemas.example_record import explanation_of, inputs_of, signal_type_of, with_explanation
from vpa_stream.sinks.formats import ExportFormat
from vpa_stream.sinks.prompts import FULL, View, render_prompt, view_steps
from vpa_stream.sinks.tokens import TokenCounter, percentiles, sequence_tokens

log = logging.getLogger(__name__)

#: tokens a rejected answer may add over the chosen one (a changed number or class word)
DPO_MARGIN = 8
#: a signal type losing this share of its rows to the budget is named in a warning, the summary and the card
SKEW_SHARE = 0.2


@dataclass
class Fit:
    """The view of each kept example, the excluded rows, and the numbers the card reports."""

    max_tokens: int | None
    tokenizer: str
    views: dict[str, View] = field(default_factory=dict)
    excluded: list[dict[str, Any]] = field(default_factory=list)
    completion_allowance: int = 0
    prompt_budget: int = 0
    view_counts: dict[str, int] = field(default_factory=dict)
    #: signal type -> (rows before the budget, rows excluded): long BUY/SELL explanations are cut first
    by_type: dict[str, tuple[int, int]] = field(default_factory=dict)

    def kept(self, example_id: str) -> bool:
        return example_id in self.views

    def skewed(self) -> list[str]:
        """The signal types that lost at least ``SKEW_SHARE`` of their rows to the budget, as summary words."""
        return [f"{kind} {lost:,} of {total:,} ({lost / total:.0%})" for kind, (total, lost) in self.by_type.items()
                if total and lost / total >= SKEW_SHARE]


def _fixed_tokens(counter: TokenCounter, formats: Iterable[ExportFormat], sample: dict[str, Any]) -> int:
    """Tokens of a row other than its prompt and completion, for the format that spends the most."""
    most = 0
    for fmt in formats:
        empty = fmt.render(with_explanation(sample, ""), "")
        most = max(most, sequence_tokens(counter, fmt.sequences(empty)))
    return most


def fit_examples(examples: list[dict[str, Any]], formats: list[ExportFormat], style: str, max_tokens: int | None,
                 counter: TokenCounter) -> Fit:
    """Choose a view for every example (all full when ``max_tokens`` is None) and the rows that cannot fit."""
    fit = Fit(max_tokens, counter.name)
    if max_tokens is None or not examples:
        fit.views = {e["id"]: FULL for e in examples}
        return fit
    completions = {e["id"]: counter.count(explanation_of(e)) for e in examples}
    fit.completion_allowance = max(completions.values()) + (DPO_MARGIN if any(f.name == "dpo" for f in formats)
                                                            else 0)
    fixed = _fixed_tokens(counter, formats, examples[0])
    fit.prompt_budget = max_tokens - fixed - fit.completion_allowance
    for e in examples:
        steps = view_steps(len(inputs_of(e).get("recent_candles") or []))
        view = _fullest_fitting(counter, e, style, steps, fit.prompt_budget)
        prompt = render_prompt(e, style, view)
        counts = {f.name: sequence_tokens(counter, f.sequences(f.render(e, prompt))) for f in formats}
        worst = max(counts.values())
        kind = signal_type_of(e)
        total, lost = fit.by_type.get(kind, (0, 0))
        fit.by_type[kind] = (total + 1, lost + (worst > max_tokens))
        if worst > max_tokens:
            fit.excluded.append({"id": e["id"], "reason": "too_long_at_shortest_prompt" if view == steps[-1]
                                 else "too_long", "signal_type": kind, "tokens": counts,
                                 "completion_tokens": completions[e["id"]], "max_tokens": max_tokens,
                                 "tokenizer": counter.name})
            continue
        fit.views[e["id"]] = view
        key = _view_name(view, steps)
        fit.view_counts[key] = fit.view_counts.get(key, 0) + 1
    fit.by_type = dict(sorted(fit.by_type.items()))
    if fit.skewed():
        log.warning("--max-tokens %d leaves out %s: a larger budget keeps the label distribution",
                    max_tokens, ", ".join(fit.skewed()))
    return fit


def _fullest_fitting(counter: TokenCounter, example: dict[str, Any], style: str, steps: list[View],
                     budget: int) -> View:
    """The first view of ``steps`` within ``budget`` (the last when none is): a binary search, since every step
    shows less than the one before it."""
    if _prompt_tokens(counter, example, style, steps[-1]) > budget:
        return steps[-1]
    low, high = 0, len(steps) - 1  # steps[high] fits
    while low < high:
        mid = (low + high) // 2
        if _prompt_tokens(counter, example, style, steps[mid]) <= budget:
            high = mid
        else:
            low = mid + 1
    return steps[high]


def _prompt_tokens(counter: TokenCounter, example: dict[str, Any], style: str, view: View) -> int:
    return counter.count_lines(render_prompt(example, style, view).split("\n"))


def _view_name(view: View, steps: list[View]) -> str:
    if view == FULL:
        return "full"
    if view.candles is None:
        return "no details" if view.levels == "all" else "no details, cited levels"
    return f"cited levels, {view.candles} candles in full"


def token_stats(rows: Iterable[tuple[ExportFormat, dict[str, Any]]], counter: TokenCounter) -> dict[str, Any]:
    """p50/p95/p99/max tokens per format over ``(format, row)`` pairs."""
    per: dict[str, list[int]] = {}
    for fmt, row in rows:
        per.setdefault(fmt.name, []).append(sequence_tokens(counter, fmt.sequences(row)))
    return {name: percentiles(values) for name, values in per.items()}
