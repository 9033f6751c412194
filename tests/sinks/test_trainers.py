"""Issue 17: exports that fit the trainers (token budget, sidecars, recipes, balance, DPO) and ``evaluate``."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from vpa_stream.pipeline import run_backfill
from vpa_stream.processors.faithfulness import check_text
from vpa_stream.producers.sources.base import SourceOptions
from vpa_stream.producers.sources.sample import SampleSource
from vpa_stream.sinks.balance import BalanceOptions, balance_train
from vpa_stream.sinks.evaluate import evaluate
from vpa_stream.sinks.export_files import TrainerOptions
from vpa_stream.sinks.exports import SPLITS, SplitOptions, export_dataset, load_examples
from vpa_stream.sinks.faults import FAULT_KINDS, FLAGGED_AS, reject
from vpa_stream.sinks.fit import fit_examples
from vpa_stream.sinks.formats import FORMATS, SFT_FORMATS
from vpa_stream.sinks.prompts import View, checkable, render_prompt
from vpa_stream.sinks.tokens import estimate_tokens, resolve_tokenizer, row_tokens, sequence_tokens
from vpa_stream.sinks.validate_export import recipe_paths, trl_command, validate_export

MAX_TOKENS = 768
OPTIONS = SplitOptions(val_from=datetime(2009, 1, 1, tzinfo=UTC), test_from=datetime(2010, 1, 1, tzinfo=UTC))
TRAINER = TrainerOptions(max_tokens=MAX_TOKENS, balance=BalanceOptions("oversample"))
_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")

#: the keys each trainer reads, from its own sources (see vpa_stream/sinks/recipes.py)
AXOLOTL_KEYS = {"base_model", "datasets", "test_datasets", "val_set_size", "dataset_prepared_path", "output_dir",
                "sequence_len", "excess_length_strategy", "sample_packing", "train_on_inputs", "adapter", "lora_r",
                "lora_alpha", "lora_dropout", "lora_target_linear", "micro_batch_size", "gradient_accumulation_steps",
                "num_epochs", "learning_rate", "optimizer", "lr_scheduler", "warmup_ratio", "bf16",
                "gradient_checkpointing", "logging_steps", "evals_per_epoch", "saves_per_epoch"}
AXOLOTL_DATASET_KEYS = {"path", "ds_type", "data_files", "split", "type", "field_messages", "roles_to_train",
                        "train_on_eos", "message_property_mappings"}
LLAMAFACTORY_KEYS = {"model_name_or_path", "stage", "do_train", "finetuning_type", "lora_target", "dataset_dir",
                     "dataset", "eval_dataset", "template", "cutoff_len", "train_on_prompt", "overwrite_cache",
                     "preprocessing_num_workers", "output_dir", "logging_steps", "save_steps", "overwrite_output_dir",
                     "per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps",
                     "learning_rate", "num_train_epochs", "lr_scheduler_type", "warmup_ratio", "bf16",
                     "eval_strategy", "eval_steps"}
TRL_FLAGS = {"model_name_or_path", "dataset_name", "dataset_train_split", "dataset_test_split", "max_length",
             "completion_only_loss", "assistant_only_loss", "packing", "eval_strategy", "eval_steps", "learning_rate",
             "num_train_epochs", "per_device_train_batch_size", "gradient_accumulation_steps", "lr_scheduler_type",
             "warmup_ratio", "logging_steps", "use_peft", "lora_r", "lora_alpha", "lora_target_modules", "output_dir"}


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dataset-2007-2010")
    run_backfill([SampleSource(SourceOptions(start="2006-06-01", end="2010-12-31"))], out)
    return out


@pytest.fixture(scope="module")
def records(dataset: Path) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in load_examples(dataset)}


@pytest.fixture(scope="module")
def fitted(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fitted")
    export_dataset(dataset, out, [*SFT_FORMATS, "dpo"], OPTIONS, "compact", None, TRAINER)
    return out


@pytest.fixture(scope="module")
def plain(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plain")
    export_dataset(dataset, out, list(SFT_FORMATS), OPTIONS)
    return out


def _sidecar(root: Path, fmt: str) -> list[dict[str, Any]]:
    return _rows(root / fmt / "meta" / "sidecar.jsonl")


def _provider_rows(root: Path, fmt: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    rows = [r for s in SPLITS if (root / fmt / f"{s}.jsonl").exists() for r in _rows(root / fmt / f"{s}.jsonl")]
    meta = _sidecar(root, fmt)
    assert len(rows) == len(meta)
    return list(zip(rows, meta, strict=True))


def _shown(record: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    v = meta["prompt_view"]
    return {**record, "input": checkable(record["input"], View(v["details"], v["levels"], v["candles"]))}


# -- token budget ----------------------------------------------------------------------------------------------

def test_every_row_fits_max_tokens_by_the_tokenizer_used_and_no_completion_is_altered(
        fitted: Path, records: dict[str, dict[str, Any]]) -> None:
    counter = resolve_tokenizer()
    for name in [*SFT_FORMATS, "dpo"]:
        fmt = FORMATS[name]
        pairs = _provider_rows(fitted, name)
        assert pairs
        for row, meta in pairs:
            assert sequence_tokens(counter, fmt.sequences(row)) == meta["tokens"] <= MAX_TOKENS
            assert all(row_tokens(counter, turns) <= MAX_TOKENS for turns in fmt.sequences(row))
            turns = fmt.turns(row)
            answer = row["chosen"] if name == "dpo" else turns[-1]
            assert answer == records[meta["id"]]["output"]["explanation"]


def test_rows_that_cannot_fit_are_listed_in_excluded_and_left_out_of_every_format(
        fitted: Path, records: dict[str, dict[str, Any]]) -> None:
    excluded = _rows(fitted / "excluded.jsonl")
    everywhere = {x["id"] for x in excluded if "format" not in x}
    assert everywhere, "768 tokens should leave some long BUY/SELL rows out of the sample"
    for x in excluded:
        assert max(x["tokens"].values()) > MAX_TOKENS and x["reason"] in ("too_long", "too_long_at_shortest_prompt",
                                                                        "no_fault")
    for name in SFT_FORMATS:
        assert not everywhere & {m["id"] for m in _sidecar(fitted, name)}
    card = (fitted / "README.md").read_text(encoding="utf-8")
    assert f"{len(everywhere):,} rows could not fit" in card
    for kind, n in Counter(x["signal_type"] for x in excluded if "format" not in x).items():
        assert re.search(rf"{kind} {n:,} of [\d,]+", card), kind


def test_the_shortened_prompt_shows_every_number_its_completion_uses_and_passes_the_checker(
        fitted: Path, records: dict[str, dict[str, Any]]) -> None:
    pairs = _provider_rows(fitted, "hf")
    shortened = [(row, meta) for row, meta in pairs if meta["prompt_view"]["candles"] is not None]
    assert len(shortened) > len(pairs) / 2
    for row, _ in pairs:
        body = row["completion"].split("\n", 1)[1]
        shown = {n.lstrip("-").replace(",", "") for n in _NUMBER.findall(row["prompt"])}  # "a fall of 5.64 ATR"
        missing = [n for n in _NUMBER.findall(body) if n.lstrip("-").replace(",", "") not in shown]
        assert not missing, (row["id"], missing)
    for row, meta in shortened[::7]:
        record = records[meta["id"]]
        shown = _shown(record, meta)
        assert not check_text(shown["input"], record["output"]["signal"], row["completion"], None, True,
                              record["meta"].get("price_decimals")), row["id"]


def test_the_view_of_a_prompt_does_not_depend_on_its_own_completion(records: dict[str, dict[str, Any]]) -> None:
    examples = list(records.values())[:300]
    counter = resolve_tokenizer()
    formats = [FORMATS["openai"]]
    before = fit_examples(examples, formats, "compact", 900, counter)
    longest = max(examples, key=lambda e: len(e["output"]["explanation"]))
    shortest = min(examples, key=lambda e: len(e["output"]["explanation"]))
    changed = [{**e, "output": {**e["output"], "explanation": shortest["output"]["explanation"]}}
               if e["id"] not in (longest["id"], shortest["id"]) else e for e in examples]
    after = fit_examples(changed, formats, "compact", 900, counter)
    assert after.completion_allowance == before.completion_allowance
    assert {k: v for k, v in after.views.items() if k in before.views} == before.views


def test_the_estimate_errs_high_against_cl100k(records: dict[str, dict[str, Any]]) -> None:
    counter = resolve_tokenizer("cl100k_base")
    assert counter.exact and "cl100k" in counter.name
    for e in list(records.values())[::97]:
        for text in (render_prompt(e, "text"), render_prompt(e, "compact"), e["output"]["explanation"]):
            assert estimate_tokens(text) >= counter.count(text)


def test_a_hugging_face_tokenizer_json_counts_tokens(tmp_path: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import models, pre_tokenizers, trainers

    tok = tokenizers.Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(["support at 35.18 is near"], trainers.WordLevelTrainer(special_tokens=["[UNK]"]))
    path = tmp_path / "model"
    path.mkdir()
    tok.save(str(path / "tokenizer.json"))
    counter = resolve_tokenizer(str(path))
    assert counter.exact and counter.count("support at 35.18") == 5  # support, at, 35, ., 18


# -- sidecars and validation -----------------------------------------------------------------------------------

def test_load_dataset_with_data_dir_works_on_every_format(fitted: Path) -> None:
    datasets = pytest.importorskip("datasets")
    for name in [*SFT_FORMATS, "dpo"]:
        loaded = datasets.load_dataset("json", data_dir=str(fitted / name), cache_dir=str(fitted.parent / "c"))
        sizes = {s: len(_rows(fitted / name / f"{s}.jsonl")) for s in SPLITS if (fitted / name / f"{s}.jsonl").exists()}
        assert {k: v.num_rows for k, v in loaded.items()} == {
            {"val": "validation"}.get(s, s): n for s, n in sizes.items()}


def test_validate_passes_on_an_export_and_names_a_broken_openai_file(fitted: Path, tmp_path: Path) -> None:
    result = validate_export(fitted)
    assert not result.failed, result.lines()
    assert {name for name, _, _ in result.checks} >= {"openai rows", "sidecars", "load_dataset(data_dir=...)",
                                                      "LLaMA-Factory dataset_info.json", "recipe paths"}
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "openai" / "meta").mkdir(parents=True)
    (broken / "openai" / "train.jsonl").write_text('{"messages": [{"role": "user", "content": ""}]}\n')
    (broken / "openai" / "meta" / "sidecar.jsonl").write_text('{"split": "train"}\n')
    result = validate_export(broken)
    assert result.failed and any("roles" in line for line in result.lines())


# -- recipes ---------------------------------------------------------------------------------------------------

def test_recipes_name_only_keys_the_trainers_read_and_files_that_exist(fitted: Path) -> None:
    axolotl = yaml.safe_load((fitted / "recipes/axolotl.yaml").read_text())
    assert set(axolotl) <= AXOLOTL_KEYS
    assert axolotl["val_set_size"] == 0 and axolotl["train_on_inputs"] is False
    for d in axolotl["datasets"] + axolotl["test_datasets"]:
        assert set(d) <= AXOLOTL_DATASET_KEYS and d["roles_to_train"] == ["assistant"]
    assert axolotl["datasets"][0]["path"].endswith("train.jsonl")
    assert axolotl["test_datasets"][0]["path"].endswith("val.jsonl")
    lf = yaml.safe_load((fitted / "recipes/llamafactory.yaml").read_text())
    assert set(lf) <= LLAMAFACTORY_KEYS and "val_size" not in lf and lf["train_on_prompt"] is False
    info = json.loads((fitted / lf["dataset_dir"] / "dataset_info.json").read_text())
    assert info[lf["dataset"]]["file_name"] == "train.jsonl" and info[lf["eval_dataset"]]["file_name"] == "val.jsonl"
    words = trl_command(fitted / "recipes/trl-sft.sh")
    assert words[:2] == ["trl", "sft"]
    flags = dict(zip(words[2::2], words[3::2], strict=True))
    assert {f.removeprefix("--") for f in flags} <= TRL_FLAGS
    assert flags["--completion_only_loss"] == "true" and flags["--dataset_test_split"] == "validation"
    for name, paths in recipe_paths(fitted).items():
        assert paths and all((fitted / p).exists() for p in paths), name
    stats = [m["tokens"] for m in _sidecar(fitted, "trl-messages") if m["split"] == "train"]
    p99 = sorted(stats)[max(0, -(-99 * len(stats) // 100) - 1)]
    assert axolotl["sequence_len"] == -(-p99 // 64) * 64 and int(flags["--max_length"]) >= p99


def test_the_trl_dataset_folder_loads_as_trl_loads_it(fitted: Path) -> None:
    datasets = pytest.importorskip("datasets")
    words = trl_command(fitted / "recipes/trl-sft.sh")
    folder = words[words.index("--dataset_name") + 1]
    loaded = datasets.load_dataset(str(fitted / folder), cache_dir=str(fitted.parent / "c2"))
    assert {"train", "validation"} <= set(loaded) and set(loaded["train"].column_names) == {"prompt", "completion"}


# -- balance ---------------------------------------------------------------------------------------------------

def test_balance_changes_only_train_deterministically_and_the_card_counts_match_the_files(
        fitted: Path, dataset: Path, tmp_path: Path) -> None:
    meta = _sidecar(fitted, "hf")
    train = Counter(f"{m['signal_type']} {m['signal_strength']}" for m in meta if m["split"] == "train")
    card = (fitted / "README.md").read_text(encoding="utf-8")
    table = dict(re.findall(r"^\| ((?:BUY|SELL|HOLD) (?:STRONG|MODERATE|WEAK)) \| [\d,]+ \| ([\d,]+) \|$", card,
                            re.MULTILINE))
    assert {k: int(v.replace(",", "")) for k, v in table.items() if v != "0"} == dict(train)
    assert any(m["copy"] > 0 for m in meta)  # a rare class was repeated
    unbalanced = tmp_path / "unbalanced"
    export_dataset(dataset, unbalanced, [*SFT_FORMATS, "dpo"], OPTIONS, "compact", None,
                   TrainerOptions(max_tokens=MAX_TOKENS))
    for split in ("val", "test"):
        for name in SFT_FORMATS:
            path = Path(name) / f"{split}.jsonl"
            assert (unbalanced / path).read_bytes() == (fitted / path).read_bytes()
    again = tmp_path / "again"
    export_dataset(dataset, again, [*SFT_FORMATS, "dpo"], OPTIONS, "compact", None, TRAINER)
    assert _digest(again) == _digest(fitted)


def test_oversample_lifts_rare_classes_to_the_floor_and_cap_cuts_hold_first(records: dict[str, dict[str, Any]]) -> None:
    rows = sorted(records.values(), key=lambda e: e["id"])
    _, report = balance_train(rows, BalanceOptions("cap"))
    assert max(report.after.values()) <= report.cap
    assert all(report.after[k] == n for k, n in report.before.items() if not k.startswith("HOLD") and n <= report.cap)
    assert report.after["HOLD WEAK"] < report.before["HOLD WEAK"]
    _, report = balance_train(rows, BalanceOptions("oversample", class_floor=40))
    for label, n in report.before.items():
        assert report.after[label] >= min(40, n * 10, report.cap) or n >= 40
    assert [e["id"] for e in balance_train(rows, BalanceOptions("oversample"))[0]] == \
        [e["id"] for e in balance_train(rows, BalanceOptions("oversample"))[0]]


# -- preference pairs ------------------------------------------------------------------------------------------

def test_every_rejected_answer_fails_the_checker_and_every_chosen_passes(
        fitted: Path, records: dict[str, dict[str, Any]]) -> None:
    pairs = [(row, meta) for row, meta in _provider_rows(fitted, "dpo") if meta["copy"] == 0]
    assert pairs
    kinds = Counter(meta["fault"] for _, meta in pairs)
    assert set(kinds) <= set(FAULT_KINDS) and len(kinds) >= 4
    for row, meta in pairs:
        record = records[meta["id"]]
        shown = _shown(record, meta)
        signal, decimals = record["output"]["signal"], record["meta"].get("price_decimals")
        assert row["rejected"] != row["chosen"]
        assert check_text(shown["input"], signal, row["rejected"], None, True, decimals), meta["id"]
        assert not check_text(shown["input"], signal, row["chosen"], None, True, decimals), meta["id"]


# -- evaluate --------------------------------------------------------------------------------------------------

def _test_answers(root: Path) -> list[tuple[str, str]]:
    rows = _provider_rows(root, "trl-prompt-completion")
    return [(meta["id"], row["completion"]) for row, meta in rows if meta["split"] == "test"]


def test_evaluate_scores_the_test_splits_own_answers_as_perfect_and_shuffled_ones_far_lower(plain: Path) -> None:
    examples = load_examples(plain / "examples")
    answers = _test_answers(plain)
    result, _ = evaluate(examples, dict(answers))
    assert result["n"] == len(answers) and result["signal_accuracy"] == 1.0 and result["macro_f1"] == 1.0
    assert result["faithful_share"] == 1.0 and result["unparsable"] == 0
    texts = [t for _, t in answers]
    shuffled = dict(zip([i for i, _ in answers], texts[7:] + texts[:7], strict=True))
    worse, _ = evaluate(examples, shuffled)
    assert worse["faithful_share"] < 0.05 and worse["signal_accuracy"] < 0.8 and worse["macro_f1"] < 0.5


def test_evaluate_flags_an_answer_with_one_injected_fault(plain: Path) -> None:
    examples = {e["id"]: e for e in load_examples(plain / "examples")}
    answers = dict(_test_answers(plain))
    faults = {}
    for k in sorted(answers):
        f = reject(examples[k], examples[k]["meta"].get("price_decimals"))
        if f is not None:
            faults.setdefault(f.kind, (k, f))
    for kind in ("number", "class_word", "direction", "dropped_evidence"):
        key, fault = faults[kind]
        assert fault.text != answers[key]
        result, rows = evaluate(list(examples.values()), {**answers, key: fault.text})
        row = next(r for r in rows if r["id"] == key)
        assert not row["faithful"] and any(p.startswith(FLAGGED_AS[kind]) for p in row["problems"]), (kind, row)
        assert result["faithful_share"] == (len(answers) - 1) / len(answers)
        assert result["signal_accuracy"] == 1.0  # the header was kept: the call is right, the note is not


def test_evaluate_command_prints_one_json_object(plain: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from vpa_stream.cli import main

    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in _test_answers(plain)[:50]))
    code = main(["evaluate", "--examples", str(plain / "examples"), "--predictions", str(predictions), "--json",
                 "--prices", "sample", "--out", str(tmp_path / "eval")])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert {"n", "signal_accuracy", "macro_f1", "faithful_share", "unparsable"} <= set(result)
    assert result["n"] == 50 and result["hit_rates"]["with_prices"] == 50
    assert len(_rows(tmp_path / "eval" / "answers.jsonl")) == 50
    assert main(["evaluate", "--examples", str(plain / "examples"), "--predictions", str(predictions), "--json",
                 "--prices", "none"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 50 and "hit_rates" not in result


def test_export_command_accepts_the_trainer_options(dataset: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from vpa_stream.cli import main

    out = tmp_path / "cli"
    code = main(["export", "--in", str(dataset), "--out", str(out), "--format", "alpaca,trl-messages",
                 "--val-from", "2009-01-01", "--test-from", "2010-01-01", "--max-tokens", "1024",
                 "--tokenizer", "estimate", "--balance", "cap", "--validate"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "max tokens     1,024 (estimate" in text and "validate recipe paths: passed" in text
    assert main(["export", "--in", str(dataset), "--out", str(out), "--class-floor", "3"]) == 2
    assert main(["export", "--in", str(dataset), "--out", str(out), "--tokenizer", "no-such-tokenizer",
                 "--max-tokens", "500"]) == 2
