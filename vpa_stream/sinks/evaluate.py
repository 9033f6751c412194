"""Scoring a fine-tuned model's answers against the rules and against the prompt.

Predictions are JSONL rows ``{"id", "text"}``: a model's answer to that example's prompt. For each one found
among the examples (a dataset directory, or an export's ``examples/`` whose inputs are what the prompts showed):
  1. the header ``Signal: TYPE (STRENGTH)`` is parsed; an answer without one is *unparsable* (wrong, unfaithful);
  2. the label is compared with the rules': accuracy on the full label and on the type, macro-F1 over the
     labels seen (rules' or model's), and the confusion matrix (rows: rules, columns: model);
  3. faithfulness: ``check_text`` against the example's input for the signal the answer itself gives (a wrong
     call with a faithful explanation is wrong, not unfaithful). The reason is not in the header: the rules'
     reason when the label matches, else every reason the rules allow for that type and strength. Strict
     (every sentence parsed by the phrasebook grammar) and lenient (numbers, codes, evidence coverage and the
     header only, for free-form answers) shares are both reported;
  4. forward-return hit rates (``report_signals``) of the model's BUY and SELL calls beside the rules' on the
     same examples, from a price source.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from vpa_stream.processors.faithfulness import check_text, parse_header
from vpa_stream.schemas.errors import UsageError
from vpa_stream.schemas.example_record import inputs_of, signal_of, with_signal
from vpa_stream.sinks.report_text import pct as _pct

UNPARSABLE = "UNPARSABLE"
#: the reasons a signal of this type and strength can carry (DOMAIN §5)
REASONS = {("HOLD", "STRONG"): ("CONFLICT", "STAND_ASIDE"), ("HOLD", "WEAK"): ("LEAN",),
           ("HOLD", "MODERATE"): ("NO_EDGE",)}
_TRADE_REASONS = ("CONFIRMED", "UNCONFIRMED")


class EvaluateError(UsageError):
    """Predictions or examples that cannot be scored (a usage error)."""


def read_predictions(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for n, raw in enumerate(path.read_bytes().splitlines(), 1):
        if not raw.strip():
            continue
        try:
            row = orjson.loads(raw)
            key, text = row["id"], row["text"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise EvaluateError(f"{path}:{n}: not a prediction row {{\"id\", \"text\"}} ({exc})") from exc
        if not isinstance(text, str):
            raise EvaluateError(f"{path}:{n}: text is not a string")
        out[str(key)] = text
    return out


def _label(signal: dict[str, Any]) -> str:
    return f"{signal['type']} {signal['strength']}"


def faithfulness_of(example: dict[str, Any], text: str, strict: bool) -> list[str]:
    """Problems of ``text`` as the explanation of the signal its own header gives (empty when faithful)."""
    header = parse_header(text)
    if header is None:
        return ["header: no 'Signal: TYPE (STRENGTH)' first line"]
    kind, strength = header
    rules = signal_of(example)
    if (kind, strength) == (rules["type"], rules["strength"]):
        reasons: tuple[str, ...] = (str(rules.get("reason", "")),)
    else:
        reasons = REASONS.get((kind, strength), _TRADE_REASONS)
    decimals = example.get("meta", {}).get("price_decimals")
    best: list[str] | None = None
    for reason in reasons:
        problems = check_text(inputs_of(example), {"type": kind, "strength": strength, "reason": reason}, text,
                              None, strict, decimals)
        if not problems:
            return []
        best = problems if best is None or len(problems) < len(best) else best
    return best or []


def macro_f1(truth: list[str], predicted: list[str]) -> float:
    labels = sorted(set(truth) | set(predicted))
    scores = []
    for label in labels:
        tp = sum(t == label and p == label for t, p in zip(truth, predicted, strict=True))
        fp = sum(t != label and p == label for t, p in zip(truth, predicted, strict=True))
        fn = sum(t == label and p != label for t, p in zip(truth, predicted, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


def evaluate(examples: list[dict[str, Any]],
             predictions: dict[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The evaluation (JSON-ready) and one result row per scored answer."""
    by_id = {e["id"]: e for e in examples}
    unknown = sorted(k for k in predictions if k not in by_id)
    scored = [(by_id[k], predictions[k]) for k in sorted(predictions) if k in by_id]
    if not scored:
        raise EvaluateError(f"no prediction id is among the {len(examples):,} examples"
                            + (f" (first unknown id: {unknown[0]})" if unknown else ""))
    rows = []
    for example, text in scored:
        header = parse_header(text)
        strict = faithfulness_of(example, text, True)
        lenient = strict if not strict else faithfulness_of(example, text, False)
        rows.append({"id": example["id"], "rules": _label(signal_of(example)),
                     "model": f"{header[0]} {header[1]}" if header else UNPARSABLE,
                     "faithful": not strict, "faithful_lenient": not lenient, "problems": strict[:10]})
    truth = [r["rules"] for r in rows]
    predicted = [r["model"] for r in rows]
    n = len(rows)
    confusion: dict[str, dict[str, int]] = {}
    for t, p in zip(truth, predicted, strict=True):
        confusion.setdefault(t, {}).setdefault(p, 0)
        confusion[t][p] += 1
    kinds = Counter(problem.split(" ", 1)[0] for r in rows for problem in r["problems"])
    result = {
        "n": n,
        "unknown_ids": len(unknown),
        "signal_accuracy": sum(t == p for t, p in zip(truth, predicted, strict=True)) / n,
        "type_accuracy": sum(t.split()[0] == p.split()[0] for t, p in zip(truth, predicted, strict=True)) / n,
        "macro_f1": macro_f1(truth, predicted),
        "faithful_share": sum(r["faithful"] for r in rows) / n,
        "faithful_share_lenient": sum(r["faithful_lenient"] for r in rows) / n,
        "unparsable": sum(p == UNPARSABLE for p in predicted),
        "confusion": {t: dict(sorted(row.items())) for t, row in sorted(confusion.items())},
        "problem_kinds": dict(sorted(kinds.items())),
    }
    return result, rows


def hit_rates(examples: list[dict[str, Any]], rows: list[dict[str, Any]], bars: list[Any],
              seed: int = 0) -> dict[str, Any]:
    """Forward-return hit rates of the rules' and the model's BUY/SELL on the scored examples."""
    from vpa_stream.sinks.report_signals import PriceTable, evaluate_signals

    by_id = {e["id"]: e for e in examples}
    prices = PriceTable(bars)
    scored = [by_id[r["id"]] for r in rows]
    model = []
    for r in rows:
        kind, _, strength = r["model"].partition(" ") if r["model"] != UNPARSABLE else ("HOLD", "", "WEAK")
        e = by_id[r["id"]]
        model.append(with_signal(e, {"type": kind, "strength": strength}))
    out: dict[str, Any] = {}
    for who, items in (("rules", scored), ("model", model)):
        stats = evaluate_signals(items, prices, seed)
        out[who] = {h: {d: {"n": sum(g["n"] for g in stats["groups"][h][d].values()),
                            "hit_rate": _pooled(stats["groups"][h][d])} for d in ("BUY", "SELL")}
                    for h in stats["groups"]}
        out["base"] = {h: {d: stats["base"][h][d]["hit_rate"] for d in ("BUY", "SELL")} for h in stats["base"]}
        out["with_prices"] = stats["with_prices"]
    return out


def _pooled(groups: dict[str, Any]) -> float | None:
    n = sum(g["n"] for g in groups.values())
    return sum(g["hit_rate"] * g["n"] for g in groups.values() if g["n"]) / n if n else None


def summary_lines(result: dict[str, Any]) -> list[str]:
    out = [f"answers        {result['n']:,} scored ({result['unknown_ids']:,} ids not among the examples)",
           f"signal         accuracy {result['signal_accuracy']:.1%} (type only {result['type_accuracy']:.1%}), "
           f"macro-F1 {result['macro_f1']:.3f}",
           f"faithful       {result['faithful_share']:.1%} strict, {result['faithful_share_lenient']:.1%} lenient",
           f"unparsable     {result['unparsable']:,}"]
    hits = result.get("hit_rates")
    if hits:
        for h, dirs in hits["model"].items():
            parts = [f"{d} model {_pct(dirs[d]['hit_rate'])} (n {dirs[d]['n']:,}) vs rules "
                     f"{_pct(hits['rules'][h][d]['hit_rate'])} (n {hits['rules'][h][d]['n']:,}), base "
                     f"{_pct(hits['base'][h][d])}" for d in ("BUY", "SELL")]
            out.append(f"hit rate {h:>2}    " + "; ".join(parts))
    return out
