"""Fine-tuning export formats: one strategy object per provider (the prompt itself comes from ``prompts``).

A strategy has a ``name``, a ``file_extension``, ``render(example, prompt) -> dict`` and ``turns(row)``; the
dict holds only the keys that provider documents (metadata travels in the ``meta/sidecar.jsonl`` sidecar
instead, except for ``hf``, whose flat columns are the metadata), and ``turns`` lists the texts a trainer
tokenizes, one per turn, for token counts. ``resolve_format`` maps a name to its strategy.
"""

from __future__ import annotations

from typing import Any, ClassVar

from vpa_stream.schemas.example_record import (
    explanation_of,
    signal_of,
    ticker_of,
    timeframe_of,
    timestamp_of,
)
from vpa_stream.sinks.prompts import PROMPT_STYLES, render_prompt

__all__ = ["FORMATS", "INSTRUCTION", "PROMPT_STYLES", "SFT_FORMATS", "ExportFormat", "metadata_of", "render_prompt",
           "resolve_format"]

#: The task statement every format carries (system message, alpaca instruction, ShareGPT system).
INSTRUCTION = (
    "You are a Volume Price Analysis (VPA) analyst. Give the rule-based VPA signal for the closed bar below: "
    "first line 'Signal: BUY|SELL|HOLD (STRONG|MODERATE|WEAK)', then an explanation grounded in the numbers "
    "shown: the recent bars, this bar's effort and result, levels, trend, other timeframes, and what would "
    "confirm or invalidate the signal."
)


class UnknownFormatError(ValueError):
    """A format name no strategy answers to."""


class ExportFormat:
    """One provider's record shape. Subclasses set ``name`` and override ``render`` and ``turns``."""

    name: ClassVar[str] = ""
    file_extension: ClassVar[str] = ".jsonl"
    description: ClassVar[str] = ""

    #: a trainer's registry file written next to the split files (LLaMA-Factory's dataset_info.json), if any
    trainer_config_name: ClassVar[str] = ""

    def render(self, example: dict[str, Any], prompt: str) -> dict[str, Any]:
        raise NotImplementedError

    def turns(self, row: dict[str, Any]) -> list[str]:
        """The texts of ``row`` a trainer tokenizes, one per turn (system, user, assistant)."""
        raise NotImplementedError

    def sequences(self, row: dict[str, Any]) -> list[list[str]]:
        """The token sequences a trainer builds from ``row``, each as its turns (one for supervised rows)."""
        return [self.turns(row)]

    def trainer_config(self, files: dict[str, str]) -> dict[str, Any] | None:
        """The trainer registry entries for ``files`` (split -> file name), or None when the trainer needs none."""
        return None


def _llamafactory_info(name: str, files: dict[str, str], entry: dict[str, Any]) -> dict[str, Any]:
    """LLaMA-Factory dataset_info.json: ``dataset: vpa_<format>_<split>`` then names one split file."""
    return {f"vpa_{name}_{split}": {"file_name": file_name, **entry} for split, file_name in files.items()}


def completion_of(example: dict[str, Any]) -> str:
    """The target text: the explanation, whose first line is ``Signal: TYPE (STRENGTH)``."""
    return explanation_of(example)


def prompt_text(prompt: str) -> str:
    """The one-string prompt of the formats without a system turn (TRL prompt-completion, DPO)."""
    return f"{INSTRUCTION}\n\n{prompt}\n\n"


class _Messages(ExportFormat):
    def render(self, example: dict[str, Any], prompt: str) -> dict[str, Any]:
        return {"messages": [
            {"role": "system", "content": INSTRUCTION},
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": completion_of(example)},
        ]}

    def turns(self, row: dict[str, Any]) -> list[str]:
        return [m["content"] for m in row["messages"]]


class OpenAIChat(_Messages):
    """OpenAI chat fine-tuning: ``{"messages": [system, user, assistant]}``."""

    name = "openai"
    description = "OpenAI chat fine-tuning JSONL (messages: system, user, assistant)"


class TrlMessages(_Messages):
    """TRL conversational language modelling: ``{"messages": [{"role", "content"}, ...]}``."""

    name = "trl-messages"
    description = "TRL SFTTrainer conversational (messages with role/content)"


class TrlPromptCompletion(ExportFormat):
    """TRL standard prompt-completion: ``{"prompt": str, "completion": str}``."""

    name = "trl-prompt-completion"
    description = "TRL SFTTrainer standard prompt-completion (prompt, completion)"

    def render(self, example: dict[str, Any], prompt: str) -> dict[str, Any]:
        return {"prompt": prompt_text(prompt), "completion": completion_of(example)}

    def turns(self, row: dict[str, Any]) -> list[str]:
        return [row["prompt"], row["completion"]]


class Alpaca(ExportFormat):
    """Alpaca / LLaMA-Factory alpaca: ``{"instruction", "input", "output"}``."""

    name = "alpaca"
    description = "Alpaca instruction tuning (instruction, input, output), as LLaMA-Factory reads it"
    trainer_config_name = "dataset_info.json"

    def render(self, example: dict[str, Any], prompt: str) -> dict[str, Any]:
        return {"instruction": INSTRUCTION, "input": prompt, "output": completion_of(example)}

    def turns(self, row: dict[str, Any]) -> list[str]:
        return [row["instruction"], row["input"], row["output"]]

    def trainer_config(self, files: dict[str, str]) -> dict[str, Any] | None:
        return _llamafactory_info(self.name, files,
                                  {"columns": {"prompt": "instruction", "query": "input", "response": "output"}})


class ShareGPT(ExportFormat):
    """ShareGPT / LLaMA-Factory sharegpt: ``{"conversations": [human, gpt], "system": str}``."""

    name = "sharegpt"
    description = "ShareGPT conversations (from human/gpt) with a system prompt, as LLaMA-Factory reads it"
    trainer_config_name = "dataset_info.json"

    def render(self, example: dict[str, Any], prompt: str) -> dict[str, Any]:
        return {"conversations": [{"from": "human", "value": prompt},
                                  {"from": "gpt", "value": completion_of(example)}],
                "system": INSTRUCTION}

    def turns(self, row: dict[str, Any]) -> list[str]:
        return [row["system"], *(t["value"] for t in row["conversations"])]

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

    def turns(self, row: dict[str, Any]) -> list[str]:
        return [row["system"], row["prompt"], row["completion"]]


class PreferencePairs(ExportFormat):
    """TRL DPOTrainer standard preference rows: ``{"prompt", "chosen", "rejected"}``.

    ``chosen`` is the faithful explanation; ``rejected`` the same text with one fault the faithfulness checker
    flags (``faults.reject``), its kind in the sidecar. The writer fills ``rejected`` (it needs the prompt's
    facts); ``render`` leaves it empty.
    """

    name = "dpo"
    description = "Preference pairs for DPO (prompt, chosen = the faithful answer, rejected = one injected fault)"

    def render(self, example: dict[str, Any], prompt: str) -> dict[str, Any]:
        return {"prompt": prompt_text(prompt), "chosen": completion_of(example), "rejected": ""}

    def turns(self, row: dict[str, Any]) -> list[str]:
        return [row["prompt"], row["chosen"]]

    def sequences(self, row: dict[str, Any]) -> list[list[str]]:
        """A DPO trainer tokenizes prompt + chosen and prompt + rejected as two sequences."""
        return [[row["prompt"], row["chosen"]], [row["prompt"], row["rejected"]]]


def metadata_of(example: dict[str, Any]) -> dict[str, Any]:
    """What provider files must not carry: identity, label and provenance of one example."""
    meta = example.get("meta", {})
    signal = signal_of(example)
    return {
        "id": example["id"],
        "symbol": ticker_of(example),
        "timeframe": timeframe_of(example),
        "timestamp": timestamp_of(example),
        "signal_type": signal["type"],
        "signal_strength": signal["strength"],
        "rules_fired": [str(r) for r in meta.get("rules_fired") or []],
        "config_hash": str(meta.get("config_hash", "")),
        "engine_version": str(meta.get("engine_version", "")),
        "source": str(meta.get("source", "")),
    }


FORMATS: dict[str, ExportFormat] = {f.name: f for f in (
    OpenAIChat(), TrlPromptCompletion(), TrlMessages(), Alpaca(), ShareGPT(), HuggingFaceFlat(), PreferencePairs())}
#: what ``--format all`` writes: every supervised format (preference pairs are named on their own)
SFT_FORMATS = tuple(name for name in FORMATS if name != "dpo")


def resolve_format(name: str) -> ExportFormat:
    try:
        return FORMATS[name.strip().lower()]
    except KeyError:
        raise UnknownFormatError(f"unknown format {name!r}: use one of {', '.join(FORMATS)}") from None
