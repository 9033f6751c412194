"""Training recipes written next to an export: axolotl, LLaMA-Factory and TRL, on our own split files.

Every recipe (``<export>/recipes/``) is run from the export directory, names its files relative to it, trains on
``train`` and evaluates on ``val`` (never a random split, which would undo the embargoed time split: axolotl's
``val_set_size`` and LLaMA-Factory's ``val_size`` are 0), computes the loss on the completion only, and sets the
sequence length from the measured p99 tokens of the recipe's train rows, rounded up to a multiple of 64.
The keys and paths each trainer reads were taken from the trainers' own sources (axolotl
``utils/schemas/{config,datasets}.py``, LLaMA-Factory ``hparams/data_args.py`` and ``data/parser.py``, TRL
``scripts/utils.py`` and ``trainer/sft_config.py``); the tests parse each file and check them.
"""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import dataclass
from typing import Any

#: the base model the recipes name; change it (and LLaMA-Factory's template) to the model you train
BASE_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
LLAMAFACTORY_TEMPLATE = "qwen"

#: the format each recipe prefers, best first
AXOLOTL_FORMATS = ("trl-messages", "openai", "sharegpt", "alpaca")
LLAMAFACTORY_FORMATS = ("alpaca", "sharegpt")
TRL_FORMATS = ("trl-prompt-completion", "trl-messages", "openai")


@dataclass(frozen=True, slots=True)
class RecipeInputs:
    """What a recipe needs to know about the export: the formats written, and per format the train token p99,
    how many train rows are longer than it, and the tokenizer that counted them."""

    formats: tuple[str, ...]
    train_p99: dict[str, int]
    longer: dict[str, int]
    train_rows: int
    tokenizer: str
    has_val: bool


def to_yaml(value: Any, indent: int = 0) -> str:
    """Block YAML of the plain values a recipe holds (dicts, lists, strings, numbers, booleans); strings are
    quoted as JSON, which YAML reads back unchanged. Written here so recipes need no YAML library at run time."""
    pad = " " * indent
    if isinstance(value, dict):
        out = []
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                out.append(f"{pad}{key}:\n{to_yaml(item, indent + 2)}")
            else:
                out.append(f"{pad}{key}: {_scalar(item)}\n")
        return "".join(out)
    if isinstance(value, list):
        out = []
        for item in value:
            if isinstance(item, dict) and item:
                body = to_yaml(item, indent + 2)
                out.append(f"{pad}- {body[indent + 2:]}")
            else:
                out.append(f"{pad}- {_scalar(item)}\n")
        return "".join(out)
    return f"{pad}{_scalar(value)}\n"


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"
    return json.dumps(str(value))


def sequence_length(p99: int) -> int:
    return max(64, math.ceil(p99 / 64) * 64)


def _pick(preferred: tuple[str, ...], formats: tuple[str, ...]) -> str | None:
    return next((f for f in preferred if f in formats), None)


def _header(trainer: str, run: str, fmt: str, inputs: RecipeInputs, seq: int) -> str:
    longer = inputs.longer.get(fmt, 0)
    return "\n".join([
        f"# {trainer} recipe written by `vpa-stream export`. Run it from the export directory:",
        f"#   {run}",
        f"# Data: {fmt}/train.jsonl (train) and {fmt}/val.jsonl (evaluation): the chronological, embargoed splits",
        "# of the export; no random validation split is made from train.",
        f"# Sequence length {seq}: the p99 of the train rows' tokens ({inputs.train_p99.get(fmt, 0)}, counted with "
        f"{inputs.tokenizer}) rounded up to 64;",
        f"# {longer} of {inputs.train_rows} train rows are longer. Counts from another tokenizer differ: export with",
        "# --tokenizer PATH/TO/YOUR/MODEL (its tokenizer.json) and --max-tokens N to make every row fit exactly.",
        f"# Change the base model to yours (default {BASE_MODEL}).",
        "",
    ])


def axolotl(inputs: RecipeInputs) -> str | None:
    fmt = _pick(AXOLOTL_FORMATS, inputs.formats)
    if fmt is None:
        return None
    seq = sequence_length(inputs.train_p99[fmt])

    def dataset(split: str) -> dict[str, Any]:
        file = f"{fmt}/{split}.jsonl"
        entry: dict[str, Any] = {"path": file, "ds_type": "json", "data_files": [file], "split": "train"}
        if fmt == "alpaca":
            entry["type"] = "alpaca"
        else:
            entry.update({"type": "chat_template",
                          "field_messages": "conversations" if fmt == "sharegpt" else "messages",
                          "roles_to_train": ["assistant"], "train_on_eos": "turn"})
            if fmt == "sharegpt":
                entry["message_property_mappings"] = {"role": "from", "content": "value"}
        return entry

    config: dict[str, Any] = {
        "base_model": BASE_MODEL,
        "datasets": [dataset("train")],
        "val_set_size": 0,
        "dataset_prepared_path": "outputs/axolotl-prepared",
        "output_dir": "outputs/axolotl",
        "sequence_len": seq,
        "excess_length_strategy": "drop",  # a longer row is left out rather than trained on a cut completion
        "sample_packing": False,
        "train_on_inputs": False,  # loss on the assistant's answer only
        "adapter": "lora",
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.05,
        "lora_target_linear": True,
        "micro_batch_size": 4,
        "gradient_accumulation_steps": 4,
        "num_epochs": 2,
        "learning_rate": 0.0002,
        "optimizer": "adamw_torch",
        "lr_scheduler": "cosine",
        "warmup_ratio": 0.03,
        "bf16": "auto",
        "gradient_checkpointing": True,
        "logging_steps": 10,
        "saves_per_epoch": 1,
    }
    if inputs.has_val:
        config["test_datasets"] = [dataset("val")]
        config["evals_per_epoch"] = 2
    return _header("axolotl", "axolotl train recipes/axolotl.yaml", fmt, inputs, seq) + to_yaml(config)


def llamafactory(inputs: RecipeInputs) -> str | None:
    fmt = _pick(LLAMAFACTORY_FORMATS, inputs.formats)
    if fmt is None:
        return None
    seq = sequence_length(inputs.train_p99[fmt])
    config: dict[str, Any] = {
        "model_name_or_path": BASE_MODEL,
        "stage": "sft",
        "do_train": True,
        "finetuning_type": "lora",
        "lora_target": "all",
        "dataset_dir": fmt,  # holds dataset_info.json, whose file names are relative to it
        "dataset": f"vpa_{fmt}_train",
        "template": LLAMAFACTORY_TEMPLATE,
        "cutoff_len": seq,
        "train_on_prompt": False,  # loss on the response only
        "overwrite_cache": True,
        "preprocessing_num_workers": 4,
        "output_dir": "outputs/llamafactory",
        "logging_steps": 10,
        "save_steps": 500,
        "overwrite_output_dir": True,
        "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 4,
        "learning_rate": 0.0001,
        "num_train_epochs": 2.0,
        "lr_scheduler_type": "cosine",
        "warmup_ratio": 0.03,
        "bf16": True,
    }
    if inputs.has_val:  # eval_dataset and val_size exclude each other: ours is named, val_size stays 0
        config.update({"eval_dataset": f"vpa_{fmt}_val", "per_device_eval_batch_size": 4, "eval_strategy": "steps",
                       "eval_steps": 500})
    return _header("LLaMA-Factory", "llamafactory-cli train recipes/llamafactory.yaml", fmt, inputs, seq) + \
        "# LLaMA-Factory shortens a longer row's prompt and response in proportion: keep cutoff_len above\n" \
        "# every row.\n" + \
        to_yaml(config)


def trl_sft(inputs: RecipeInputs) -> str | None:
    """A shell script with one ``trl sft`` command (TRL's CLI loads the folder with ``datasets.load_dataset``,
    which finds the train/validation/test splits by file name)."""
    fmt = _pick(TRL_FORMATS, inputs.formats)
    if fmt is None:
        return None
    seq = sequence_length(inputs.train_p99[fmt])
    loss = ["--completion_only_loss", "true"] if fmt == "trl-prompt-completion" else ["--assistant_only_loss", "true"]
    args = [
        ["--model_name_or_path", BASE_MODEL],
        ["--dataset_name", f"./{fmt}"],
        ["--dataset_train_split", "train"],
        ["--dataset_test_split", "validation"],
        ["--max_length", str(seq)],
        loss,
        ["--packing", "false"],
        ["--eval_strategy", "steps" if inputs.has_val else "no"],
        ["--eval_steps", "500"],
        ["--learning_rate", "2e-4"],
        ["--num_train_epochs", "2"],
        ["--per_device_train_batch_size", "4"],
        ["--gradient_accumulation_steps", "4"],
        ["--lr_scheduler_type", "cosine"],
        ["--warmup_ratio", "0.03"],
        ["--logging_steps", "10"],
        ["--use_peft", "true"],
        ["--lora_r", "16"],
        ["--lora_alpha", "32"],
        ["--lora_target_modules", "all-linear"],
        ["--output_dir", "outputs/trl-sft"],
    ]
    note = ("# TRL truncates a longer row at max_length (keep_start), cutting its completion: keep it above\n"
            "# every row.\n"
            + ("" if fmt == "trl-prompt-completion" else
               "# assistant_only_loss needs a chat template with {% generation %} markers (TRL's docs list them).\n"))
    lines = " \\\n  ".join(shlex.join(a) for a in args)
    return ("#!/usr/bin/env bash\n" + _header("TRL SFT", "bash recipes/trl-sft.sh", fmt, inputs, seq) + note
            + 'cd "$(dirname "$0")/.."\n' + f"trl sft \\\n  {lines}\n")


#: recipe file name -> writer (None when no exported format suits the trainer)
RECIPES = {"axolotl.yaml": axolotl, "llamafactory.yaml": llamafactory, "trl-sft.sh": trl_sft}
#: the formats that would enable each recipe, for the export summary
NEEDS = {"axolotl.yaml": AXOLOTL_FORMATS, "llamafactory.yaml": LLAMAFACTORY_FORMATS, "trl-sft.sh": TRL_FORMATS}
