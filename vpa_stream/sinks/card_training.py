"""The dataset card's sections on training: token counts, the token budget, class balance, preference pairs
and the recipes (the rest of the card is ``dataset_card``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vpa_stream.sinks.fit import DPO_MARGIN
from vpa_stream.sinks.tokens import REPLY_OVERHEAD, TURN_OVERHEAD

if TYPE_CHECKING:
    from vpa_stream.sinks.export_files import WrittenExport

_RUN = {"axolotl.yaml": "axolotl train recipes/axolotl.yaml",
        "llamafactory.yaml": "llamafactory-cli train recipes/llamafactory.yaml",
        "trl-sft.sh": "bash recipes/trl-sft.sh"}


def training_sections(w: WrittenExport) -> list[str]:
    return _tokens(w) + _budget(w) + _balance(w) + _pairs(w) + _recipes(w)


def reproduce_options(w: WrittenExport) -> str:
    t = w.trainer
    out = ""
    if t.max_tokens is not None:
        out += f" --max-tokens {t.max_tokens}"
    if t.tokenizer:
        out += f" --tokenizer {t.tokenizer}"
    if t.balance is not None:
        out += f" --balance {t.balance.mode}"
        out += f" --class-cap {t.balance.class_cap}" if t.balance.class_cap else ""
        out += f" --class-floor {t.balance.class_floor}" if t.balance.class_floor else ""
    return out


def _tokens(w: WrittenExport) -> list[str]:
    budget = w.fit.max_tokens is not None
    out = ["", "## Token counts", "",
           f"Tokens per row, counted with {w.tokenizer}: the text of every turn a trainer tokenizes (system, user, "
           f"assistant) plus {TURN_OVERHEAD} tokens a turn and {REPLY_OVERHEAD} for the reply, the markers a chat "
           "template adds (Llama 3 and ChatML spend 4-5 a turn). Another tokenizer counts differently: export with "
           "`--tokenizer` pointing at your model's `tokenizer.json` for its exact counts.", ""]
    if budget:
        out += ["| format | p50 before | p95 before | max before | p50 | p95 | p99 | max |",
                "|---|---|---|---|---|---|---|---|"]
        for name, after in w.tokens_after.items():
            before = w.tokens_before.get(name, {})
            out.append(f"| `{name}` | {before.get('p50', 0):,} | {before.get('p95', 0):,} | {before.get('max', 0):,} "
                       f"| {after['p50']:,} | {after['p95']:,} | {after['p99']:,} | {after['max']:,} |")
        out += ["", f"\"Before\" is every exported row with its full prompt; the other columns are the rows written, "
                f"after `--max-tokens {w.fit.max_tokens}`."]
    else:
        out += ["| format | p50 | p95 | p99 | max |", "|---|---|---|---|---|"]
        for name, after in w.tokens_after.items():
            out.append(f"| `{name}` | {after['p50']:,} | {after['p95']:,} | {after['p99']:,} | {after['max']:,} |")
    return out


def _budget(w: WrittenExport) -> list[str]:
    f = w.fit
    if f.max_tokens is None:
        return []
    views = ", ".join(f"{name}: {n:,}" for name, n in sorted(f.view_counts.items(), key=lambda kv: -kv[1]))
    return ["", "## Token budget", "",
            f"Every row has at most {f.max_tokens:,} tokens in every format. Completions are never changed; prompts "
            f"are shortened instead. The prompt budget ({f.prompt_budget:,} tokens) is the maximum less the "
            f"instruction, the chat markers and the longest completion of the export ({f.completion_allowance:,} "
            + (f"tokens, with {DPO_MARGIN} more for a rejected answer" if "dpo" in w.formats else "tokens")
            + "), so a prompt's length depends on its input alone and says nothing about its answer. Each prompt "
            "is the fullest view that fits it, dropping in this order: pattern details, moving averages and other "
            "timeframes' time stamps; the levels an explanation does not name (all but the nearest and the nearest "
            "proven level of each side); then the oldest candles, which are summarised in one line (count, volume, "
            "close and spread range) down to the two bars before this one. Every claim of the completion stays "
            "checkable against the prompt.", "",
            f"Prompts by view: {views or 'none'}. {w.excluded:,} rows could not fit even at the shortest view and are "
            "listed with their token counts in `excluded.jsonl`. Rows left out by signal type: "
            + ", ".join(f"{kind} {lost:,} of {total:,}" for kind, (total, lost) in f.by_type.items()) + "."
            + (f" **The budget changes the label distribution** ({', '.join(f.skewed())} left out; explanations of "
               "BUY and SELL calls are the longest): a larger `--max-tokens` keeps it." if f.skewed() else "")]


def _balance(w: WrittenExport) -> list[str]:
    b = w.balance
    if b is None:
        return []
    out = ["", "## Class balance (train only)", "",
           f"`--balance {b.mode}`: every signal x strength class of train capped at {b.cap:,} rows (the rows of lowest "
           "sha256(id) kept)"
           + (f", and classes under {b.floor:,} rows repeated up to it (each row at most 10 times)" if b.floor else "")
           + ". Validation and test keep the natural distribution.", "",
           "| class | train before | train after |", "|---|---|---|"]
    for label in sorted(set(b.before) | set(b.after)):
        out.append(f"| {label} | {b.before.get(label, 0):,} | {b.after.get(label, 0):,} |")
    out.append(f"| all | {sum(b.before.values()):,} | {sum(b.after.values()):,} |")
    return out


def _pairs(w: WrittenExport) -> list[str]:
    if "dpo" not in w.formats:
        return []
    kinds = ", ".join(f"{k}: {n:,}" for k, n in sorted(w.faults.items()))
    return ["", "## Preference pairs", "",
            "`dpo/` rows are `{prompt, chosen, rejected}`: chosen is the faithful explanation, rejected the same text "
            "with one realistic fault (a number, a class word, a direction, a dropped evidence pattern or a false "
            "superlative) that the strict faithfulness checker flags against the prompt; the kind is in the "
            f"sidecar's `fault`. Faults: {kinds or 'none'}."]


def _recipes(w: WrittenExport) -> list[str]:
    if not w.recipes:
        return []
    out = ["", "## Training recipes", "",
           "Run from the export directory; each trains on `train`, evaluates on `val` (no random split), computes "
           "the loss on the answer only and sets its sequence length from the p99 of its train rows.", ""]
    out += [f"- `{_RUN[name]}` ({fmt})" for name, fmt in w.recipes.items()]
    return out
