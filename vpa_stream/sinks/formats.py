"""Fine-tuning export formats: the prompt rendering of an example's input, and one strategy object per provider.

A strategy has a ``name``, a ``file_extension`` and ``render(example, prompt) -> dict``; the dict holds only
the keys that provider documents (metadata travels in the ``<split>.meta.jsonl`` sidecar instead, except
for ``hf``, whose flat columns are the metadata). ``resolve_format`` maps a name to its strategy.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import orjson

#: The task statement every format carries (system message, alpaca instruction, ShareGPT system).
INSTRUCTION = (
    "You are a Volume Price Analysis (VPA) analyst. From the closed bar and its context below, give the "
    "rule-based VPA signal. Answer with a first line 'Signal: BUY|SELL|HOLD (STRONG|MODERATE|WEAK)', then a "
    "short explanation grounded in the numbers shown: trend, the current bar (effort vs result), patterns, "
    "levels, other timeframes, and what would invalidate the signal."
)

PROMPT_STYLES = ("text", "json")


class UnknownFormatError(ValueError):
    """A format name no strategy answers to."""


# -- prompt rendering ------------------------------------------------------------------------------------------

def render_prompt(example: dict[str, Any], style: str = "text") -> str:
    """The user-side text of ``example``: a compact readable summary of its input, or compact JSON of it."""
    inp = example["input"]
    if style == "json":
        return orjson.dumps(inp).decode()
    if style != "text":
        raise ValueError(f"unknown prompt style {style!r}: use one of {', '.join(PROMPT_STYLES)}")
    decimals = example.get("meta", {}).get("price_decimals")
    decimals = 2 if not isinstance(decimals, int) else decimals
    return "\n".join(_prompt_lines(inp, decimals))


def _price(value: Any, decimals: int) -> str:
    return f"{float(value):.{decimals}f}" if _is_number(value) else "n/a"


def _ratio(value: Any) -> str:
    return f"{float(value):.2f}" if _is_number(value) else "n/a"


def _volume(value: Any) -> str:
    return f"{float(value):.0f}" if _is_number(value) else "n/a"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _time(iso: str) -> str:
    """``2013-03-01T21:00:00Z`` -> ``2013-03-01 21:00`` (UTC, minutes are the finest bar)."""
    return iso.replace("T", " ")[:16] if isinstance(iso, str) else "n/a"


def _candle_cells(c: dict[str, Any], decimals: int) -> list[str]:
    return [_time(c.get("close_time", "")), *(_price(c.get(k), decimals) for k in ("open", "high", "low", "close")),
            _volume(c.get("volume"))]


def _table(rows: list[list[str]], header: list[str]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(cell.rjust(w) if i else cell.ljust(w)
                      for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
            for row in [header, *rows]]


def _details(details: dict[str, Any]) -> str:
    parts = []
    for key, value in details.items():
        if value is None:
            continue  # an absent reference level: say nothing rather than "None"
        if isinstance(value, bool):
            parts.append(f"{key}={'yes' if value else 'no'}")
        elif _is_number(value):
            parts.append(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}")
        else:
            parts.append(f"{key}={value}")
    return ", ".join(parts)


def _levels(levels: list[dict[str, Any]], decimals: int) -> str:
    if not levels:
        return "none"
    return "; ".join(f"{_price(lv.get('price'), decimals)} ({_touches(lv.get('touches'))}, "
                     f"{_ratio(lv.get('distance_atr'))} ATR)" for lv in levels)


def _touches(n: Any) -> str:
    return f"{n} touch" if n == 1 else f"{n} touches"


def _prompt_lines(inp: dict[str, Any], decimals: int) -> list[str]:
    cur = inp.get("current_candle", {})
    m = inp.get("vpa_metrics", {})
    tr = inp.get("trend_analysis", {})
    lines = [
        f"{inp.get('ticker')} {inp.get('primary_timeframe')} bar closed {_time(inp.get('timestamp', ''))} UTC",
        f"Current bar: open {_price(cur.get('open'), decimals)} high {_price(cur.get('high'), decimals)} "
        f"low {_price(cur.get('low'), decimals)} close {_price(cur.get('close'), decimals)} "
        f"volume {_volume(cur.get('volume'))}",
    ]
    recent = inp.get("recent_candles") or []
    if recent:
        lines.append(f"Previous {len(recent)} bars (oldest first):")
        lines += _table([_candle_cells(c, decimals) for c in recent],
                        ["close_time", "open", "high", "low", "close", "volume"])
    lines.append(
        f"Metrics: volume_ratio {_ratio(m.get('volume_ratio'))} ({m.get('volume_class')}), "
        f"spread_ratio {_ratio(m.get('spread_ratio'))} ({m.get('spread_class')}), "
        f"body_ratio {_ratio(m.get('body_ratio'))}, close_position {_ratio(m.get('close_position'))} "
        f"({m.get('close_class')}), upper_wick {_ratio(m.get('upper_wick'))}, "
        f"lower_wick {_ratio(m.get('lower_wick'))}, "
        f"candle {m.get('candle_shape')} {m.get('candle_color')}, bar {m.get('bar_direction')}, "
        f"ATR {_price(m.get('atr'), decimals)}"
        + (f", volume below both prior bars: {'yes' if m.get('volume_vs_prior') else 'no'}"
           if "volume_vs_prior" in m else "")
    )
    trend = (f"Trend: {tr.get('status')} {tr.get('strength')} (slope {_ratio(tr.get('slope_atr'))} ATR), "
             f"volume {tr.get('volume_trend')}, validation {tr.get('validation')}, swings {tr.get('swing_structure')}")
    if "sma_fast" in tr and "sma_slow" in tr:
        trend += f", SMA fast {_price(tr.get('sma_fast'), decimals)}, SMA slow {_price(tr.get('sma_slow'), decimals)}"
    rng = tr.get("trading_range")
    if isinstance(rng, dict) and rng.get("state"):
        trend += f"; trading range {rng.get('state')} (width {_ratio(rng.get('width_atr'))} ATR"
        if "prior_move_atr" in rng:
            trend += f", leg before it {_ratio(rng.get('prior_move_atr'))} ATR"
        if "position" in rng:
            trend += f", close at {_ratio(rng.get('position'))} of the 40-bar high-low"
        trend += ")"
    lines.append(trend)
    detected = [(name, p) for name, p in (inp.get("pattern_analysis") or {}).items() if p.get("detected")]
    if detected:
        lines.append("Patterns on this bar:")
        for name, p in detected:
            details = _details(p.get("details") or {})
            lines.append(f"- {name} ({p.get('direction')})" + (f": {details}" if details else ""))
    else:
        lines.append("Patterns on this bar: none")
    evidence = inp.get("evidence")
    if evidence is not None:
        tf = inp.get("primary_timeframe")
        if evidence:
            lines.append("Evidence of the last 6 bars and the higher timeframe:")
            lines += _table([[f"t-{e.get('bars_ago')}" if e.get("timeframe") == tf else f"{e.get('timeframe')} last",
                              str(e.get("pattern")), str(e.get("direction")), _ratio(e.get("weight")),
                              str(e.get("state")), _price(e.get("level"), decimals)] for e in evidence],
                            ["bar", "pattern", "direction", "weight", "state", "level"])
        else:
            lines.append("Evidence of the last 6 bars and the higher timeframe: none")
    prior = [f"t-{pp.get('bars_ago')}: {', '.join(pp.get('patterns') or []) or 'none'}"
             for pp in inp.get("prior_patterns") or []]
    if prior:  # a record of engine 1
        lines.append("Patterns on prior bars: " + "; ".join(prior))
    sr = inp.get("support_resistance") or {}
    lines.append(f"Support below: {_levels(sr.get('nearby_support') or [], decimals)}")
    lines.append(f"Resistance above: {_levels(sr.get('nearby_resistance') or [], decimals)}")
    mtf = inp.get("multi_timeframe_context") or {}
    if mtf:
        for tf, ctx in mtf.items():
            lines.append(f"Timeframe {tf} (as of {_time(ctx.get('as_of', ''))}): trend {ctx.get('trend')} "
                         f"{ctx.get('strength')}, volume {ctx.get('volume_class')}, "
                         f"last pattern {ctx.get('pattern') or 'none'}")
    else:
        lines.append("Other timeframes: not enough closed bars yet")
    return lines


# -- strategies ------------------------------------------------------------------------------------------------

class ExportFormat:
    """One provider's record shape. Subclasses set ``name`` and override ``render``."""

    name: ClassVar[str] = ""
    file_extension: ClassVar[str] = ".jsonl"
    description: ClassVar[str] = ""

    #: a trainer's registry file written next to the split files (LLaMA-Factory's dataset_info.json), if any
    trainer_config_name: ClassVar[str] = ""

    def render(self, example: dict[str, Any], prompt: str) -> dict[str, Any]:
        raise NotImplementedError

    def trainer_config(self, files: dict[str, str]) -> dict[str, Any] | None:
        """The trainer registry entries for ``files`` (split -> file name), or None when the trainer needs none."""
        return None


def _llamafactory_info(name: str, files: dict[str, str], entry: dict[str, Any]) -> dict[str, Any]:
    """LLaMA-Factory dataset_info.json: ``dataset: vpa_<format>_<split>`` then names one split file."""
    return {f"vpa_{name}_{split}": {"file_name": file_name, **entry} for split, file_name in files.items()}


def completion_of(example: dict[str, Any]) -> str:
    """The target text: the explanation, whose first line is ``Signal: TYPE (STRENGTH)``."""
    return str(example["output"]["explanation"])


class OpenAIChat(ExportFormat):
    """OpenAI chat fine-tuning: ``{"messages": [system, user, assistant]}``."""

    name = "openai"
    description = "OpenAI chat fine-tuning JSONL (messages: system, user, assistant)"

    def render(self, example: dict[str, Any], prompt: str) -> dict[str, Any]:
        return {"messages": [
            {"role": "system", "content": INSTRUCTION},
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": completion_of(example)},
        ]}


class TrlPromptCompletion(ExportFormat):
    """TRL standard prompt-completion: ``{"prompt": str, "completion": str}``."""

    name = "trl-prompt-completion"
    description = "TRL SFTTrainer standard prompt-completion (prompt, completion)"

    def render(self, example: dict[str, Any], prompt: str) -> dict[str, Any]:
        return {"prompt": f"{INSTRUCTION}\n\n{prompt}\n\n", "completion": completion_of(example)}


class TrlMessages(ExportFormat):
    """TRL conversational language modelling: ``{"messages": [{"role", "content"}, ...]}``."""

    name = "trl-messages"
    description = "TRL SFTTrainer conversational (messages with role/content)"

    def render(self, example: dict[str, Any], prompt: str) -> dict[str, Any]:
        return {"messages": [
            {"role": "system", "content": INSTRUCTION},
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": completion_of(example)},
        ]}


class Alpaca(ExportFormat):
    """Alpaca / LLaMA-Factory alpaca: ``{"instruction", "input", "output"}``."""

    name = "alpaca"
    description = "Alpaca instruction tuning (instruction, input, output), as LLaMA-Factory reads it"

    def render(self, example: dict[str, Any], prompt: str) -> dict[str, Any]:
        return {"instruction": INSTRUCTION, "input": prompt, "output": completion_of(example)}

    trainer_config_name = "dataset_info.json"

    def trainer_config(self, files: dict[str, str]) -> dict[str, Any] | None:
        return _llamafactory_info(self.name, files,
                                  {"columns": {"prompt": "instruction", "query": "input", "response": "output"}})


class ShareGPT(ExportFormat):
    """ShareGPT / LLaMA-Factory sharegpt: ``{"conversations": [human, gpt], "system": str}``."""

    name = "sharegpt"
    description = "ShareGPT conversations (from human/gpt) with a system prompt, as LLaMA-Factory reads it"

    def render(self, example: dict[str, Any], prompt: str) -> dict[str, Any]:
        return {"conversations": [{"from": "human", "value": prompt},
                                  {"from": "gpt", "value": completion_of(example)}],
                "system": INSTRUCTION}

    trainer_config_name = "dataset_info.json"

    def trainer_config(self, files: dict[str, str]) -> dict[str, Any] | None:
        return _llamafactory_info(self.name, files, {
            "formatting": "sharegpt",
            "columns": {"messages": "conversations", "system": "system"},
            "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"},
        })


class HuggingFaceFlat(ExportFormat):
    """Flat columns for ``datasets``: every value a non-null scalar or a list of strings, same keys every row."""

    name = "hf"
    description = "Hugging Face datasets JSONL with flat columns (prompt, completion and metadata)"

    def render(self, example: dict[str, Any], prompt: str) -> dict[str, Any]:
        columns = metadata_of(example)
        head = {k: columns.pop(k) for k in ("id", "symbol", "timeframe", "timestamp")}
        return {**head, "system": INSTRUCTION, "prompt": prompt, "completion": completion_of(example), **columns}


def metadata_of(example: dict[str, Any]) -> dict[str, Any]:
    """What provider files must not carry: identity, label and provenance of one example."""
    meta = example.get("meta", {})
    signal = example["output"]["signal"]
    return {
        "id": example["id"],
        "symbol": example["input"]["ticker"],
        "timeframe": example["input"]["primary_timeframe"],
        "timestamp": example["input"]["timestamp"],
        "signal_type": signal["type"],
        "signal_strength": signal["strength"],
        "rules_fired": [str(r) for r in meta.get("rules_fired") or []],
        "config_hash": str(meta.get("config_hash", "")),
        "engine_version": str(meta.get("engine_version", "")),
        "source": str(meta.get("source", "")),
    }


FORMATS: dict[str, ExportFormat] = {f.name: f for f in (
    OpenAIChat(), TrlPromptCompletion(), TrlMessages(), Alpaca(), ShareGPT(), HuggingFaceFlat())}


def resolve_format(name: str) -> ExportFormat:
    try:
        return FORMATS[name.strip().lower()]
    except KeyError:
        raise UnknownFormatError(f"unknown format {name!r}: use one of {', '.join(FORMATS)}") from None
