"""``vpa-stream export``: provider formats, leak-free splits, determinism and the dataset card."""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from vpa_stream.cli.export import register
from vpa_stream.pipeline import run_backfill
from vpa_stream.processors.config import ENGINE_VERSION, VPAConfig
from vpa_stream.producers.sources.sample import SampleSource
from vpa_stream.sinks.exports import SPLITS, ExportError, SplitOptions, export_dataset, load_examples
from vpa_stream.sinks.formats import SFT_FORMATS, render_prompt

EMBARGO = VPAConfig().window_bars
VAL_FROM = datetime(2010, 1, 1, tzinfo=UTC)
TEST_FROM = datetime(2011, 7, 1, tzinfo=UTC)
OPTIONS = SplitOptions(val_from=VAL_FROM, test_from=TEST_FROM, embargo_bars=EMBARGO)


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dataset")
    run_backfill([SampleSource()], out)
    return out


@pytest.fixture(scope="module")
def examples(dataset: Path) -> list[dict[str, Any]]:
    return load_examples(dataset)


@pytest.fixture(scope="module")
def exported(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export")
    export_dataset(dataset, out, list(SFT_FORMATS), OPTIONS)
    return out


@pytest.fixture(scope="module")
def held_out(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("holdout")
    export_dataset(dataset, out, ["hf"], SplitOptions(val_from=VAL_FROM, test_from=TEST_FROM, embargo_bars=EMBARGO,
                                                      holdout_symbols=("ibm",)))
    return out


def _split_meta(root: Path, fmt: str = "hf") -> dict[str, list[dict[str, Any]]]:
    meta = _rows(root / fmt / "meta" / "sidecar.jsonl")
    return {s: [m for m in meta if m["split"] == s] for s in SPLITS}


# -- provider formats ------------------------------------------------------------------------------------------

def test_hf_export_loads_every_split_with_one_schema_in_datasets(exported: Path) -> None:
    datasets = pytest.importorskip("datasets")
    files = {"train": str(exported / "hf/train.jsonl"), "validation": str(exported / "hf/val.jsonl"),
             "test": str(exported / "hf/test.jsonl")}
    loaded = datasets.load_dataset("json", data_files=files, cache_dir=str(exported.parent / "hf-cache"))
    assert set(loaded) == {"train", "validation", "test"}
    features = {name: split.features for name, split in loaded.items()}
    assert features["train"] == features["validation"] == features["test"]
    for column in ("id", "symbol", "timeframe", "timestamp", "prompt", "completion", "signal_type",
                   "signal_strength", "rules_fired", "config_hash"):
        assert column in features["train"]
    assert loaded["train"].num_rows == len(_rows(exported / "hf/train.jsonl"))


def test_openai_rows_are_system_user_assistant_messages_with_nonempty_string_content(exported: Path) -> None:
    for split in SPLITS:
        rows = _rows(exported / f"openai/{split}.jsonl")
        assert len(rows) >= 10  # OpenAI rejects a training or validation file with fewer than 10 examples
        for row in rows:
            assert set(row) == {"messages"}
            assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
            for m in row["messages"]:
                assert set(m) <= {"role", "content", "weight"}
                assert isinstance(m["content"], str) and m["content"].strip()
                assert "weight" not in m or (m["role"] == "assistant" and m["weight"] in (0, 1))


def test_sharegpt_conversations_alternate_human_then_gpt(exported: Path) -> None:
    for split in SPLITS:
        for row in _rows(exported / f"sharegpt/{split}.jsonl"):
            assert set(row) <= {"conversations", "system"}
            turns = row["conversations"]
            assert turns and len(turns) % 2 == 0
            assert [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2)
            assert all(set(t) == {"from", "value"} and t["value"].strip() for t in turns)


def test_trl_prompt_completion_rows_hold_exactly_prompt_and_completion(exported: Path) -> None:
    for split in SPLITS:
        for row in _rows(exported / f"trl-prompt-completion/{split}.jsonl"):
            assert set(row) == {"prompt", "completion"}
            assert row["prompt"].strip() and row["completion"].startswith("Signal: ")


def test_trl_messages_rows_hold_exactly_messages_with_role_and_content(exported: Path) -> None:
    for split in SPLITS:
        for row in _rows(exported / f"trl-messages/{split}.jsonl"):
            assert set(row) == {"messages"}
            assert all(set(m) == {"role", "content"} for m in row["messages"])
            assert row["messages"][-1]["role"] == "assistant"
            assert [m["role"] for m in row["messages"][:-1]] in (["user"], ["system", "user"])


def test_alpaca_rows_hold_exactly_instruction_input_output(exported: Path) -> None:
    for split in SPLITS:
        for row in _rows(exported / f"alpaca/{split}.jsonl"):
            assert set(row) == {"instruction", "input", "output"}
            assert all(isinstance(v, str) and v.strip() for v in row.values())


def test_completion_first_line_is_the_signal_of_the_sidecar_row(exported: Path) -> None:
    rows = _rows(exported / "trl-prompt-completion/train.jsonl")
    meta = _split_meta(exported, "trl-prompt-completion")["train"]
    assert len(rows) == len(meta)
    for row, m in zip(rows, meta, strict=True):
        assert row["completion"].splitlines()[0] == f"Signal: {m['signal_type']} ({m['signal_strength']})"


def test_sidecar_lines_follow_split_rows_in_order_and_carry_the_metadata(exported: Path) -> None:
    for split in SPLITS:
        hf = _rows(exported / f"hf/{split}.jsonl")
        meta = _split_meta(exported)[split]
        assert [r["id"] for r in hf] == [m["id"] for m in meta]
        assert {"id", "symbol", "timeframe", "timestamp", "rules_fired", "config_hash"} <= set(meta[0])
        # provider files keep metadata out: the id is only in hf's columns and the sidecar
        assert "id" not in _rows(exported / f"openai/{split}.jsonl")[0]


def test_text_prompt_is_readable_lines_and_json_prompt_is_the_input(examples: list[dict[str, Any]]) -> None:
    example = next(e for e in examples if any(p["detected"] for p in e["input"]["pattern_analysis"].values()))
    text = render_prompt(example, "text")
    assert not text.lstrip().startswith("{") and len(text.splitlines()) >= 8
    assert example["input"]["ticker"] in text.splitlines()[0]
    detected = [n for n, p in example["input"]["pattern_analysis"].items() if p["detected"]]
    assert all(name in text for name in detected)
    assert "None" not in text and "nan" not in text
    assert json.loads(render_prompt(example, "json")) == example["input"]


# -- splits ----------------------------------------------------------------------------------------------------

def test_no_example_id_is_in_two_splits(exported: Path) -> None:
    ids = {s: [m["id"] for m in rows] for s, rows in _split_meta(exported).items()}
    assert all(len(v) == len(set(v)) for v in ids.values())
    assert not set(ids["train"]) & set(ids["val"])
    assert not set(ids["train"]) & set(ids["test"])
    assert not set(ids["val"]) & set(ids["test"])


def test_splits_are_chronological_with_one_cut_date_for_every_symbol(exported: Path) -> None:
    meta = _split_meta(exported)
    times = {s: [datetime.fromisoformat(m["timestamp"]) for m in rows] for s, rows in meta.items()}
    assert max(times["train"]) < VAL_FROM <= min(times["val"])
    assert max(times["val"]) < TEST_FROM <= min(times["test"])
    assert {m["symbol"] for m in meta["train"]} == {m["symbol"] for m in meta["test"]} == {"AAPL", "IBM", "MSFT"}


def test_embargo_leaves_at_least_the_engine_window_between_splits_of_each_symbol(
        exported: Path, examples: list[dict[str, Any]]) -> None:
    position = {}  # bar index of each example within its own series
    per_series: Counter[tuple[str, str]] = Counter()
    for e in examples:
        key = (e["input"]["ticker"], e["input"]["primary_timeframe"])
        position[e["id"]] = per_series[key]
        per_series[key] += 1
    meta = _split_meta(exported)
    for earlier, later in (("train", "val"), ("val", "test"), ("train", "test")):
        for symbol in ("AAPL", "IBM", "MSFT"):
            last = max(position[m["id"]] for m in meta[earlier] if m["symbol"] == symbol)
            first = min(position[m["id"]] for m in meta[later] if m["symbol"] == symbol)
            assert first - last > EMBARGO, (earlier, later, symbol)
            last_time = max(m["timestamp"] for m in meta[earlier] if m["symbol"] == symbol)
            first_time = min(m["timestamp"] for m in meta[later] if m["symbol"] == symbol)
            series = sorted(e["input"]["timestamp"] for e in examples if e["input"]["ticker"] == symbol)
            embargo_start = series[series.index(first_time) - EMBARGO]  # the symbol's own bars give the span
            assert last_time < embargo_start


def test_held_out_symbols_never_appear_in_train_or_val(held_out: Path) -> None:
    meta = _split_meta(held_out)
    assert all(m["symbol"] != "IBM" for s in ("train", "val") for m in meta[s])
    ibm = [m for m in meta["test"] if m["symbol"] == "IBM"]
    assert ibm and all(m["holdout_symbol"] for m in ibm)
    assert all(datetime.fromisoformat(m["timestamp"]) >= TEST_FROM for m in ibm)
    assert not any(m["holdout_symbol"] for m in meta["test"] if m["symbol"] != "IBM")


def test_hold_cap_limits_the_train_hold_share_and_leaves_val_and_test_alone(dataset: Path, exported: Path,
                                                                          tmp_path: Path) -> None:
    options = SplitOptions(val_from=VAL_FROM, test_from=TEST_FROM, embargo_bars=EMBARGO, hold_cap=0.25)
    export_dataset(dataset, tmp_path / "a", ["hf"], options)
    capped = _split_meta(tmp_path / "a")
    plain = _split_meta(exported)
    holds = sum(m["signal_type"] == "HOLD" for m in capped["train"])
    assert 0 < holds <= 0.25 * len(capped["train"]) + 1e-9
    assert sum(m["signal_type"] != "HOLD" for m in capped["train"]) == sum(
        m["signal_type"] != "HOLD" for m in plain["train"])
    assert capped["val"] == plain["val"] and capped["test"] == plain["test"]
    export_dataset(dataset, tmp_path / "b", ["hf"], options)
    assert _tree_digest(tmp_path / "a") == _tree_digest(tmp_path / "b")  # down-sampling seeded by id hash


def test_only_one_cut_date_is_a_usage_error(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="both"):
        export_dataset(dataset, tmp_path, ["hf"], SplitOptions(val_from=VAL_FROM, embargo_bars=EMBARGO))


# -- determinism and input files ------------------------------------------------------------------------------

def test_export_is_byte_identical_when_run_twice(dataset: Path, exported: Path, tmp_path: Path) -> None:
    export_dataset(dataset, tmp_path, list(SFT_FORMATS), OPTIONS)
    assert _tree_digest(tmp_path) == _tree_digest(exported)


def test_kafka_named_and_gzip_files_export_like_one_file(dataset: Path, exported: Path, tmp_path: Path) -> None:
    lines = next(dataset.glob("examples-*.jsonl")).read_bytes().splitlines(keepends=True)
    sink_dir = tmp_path / "sink"
    sink_dir.mkdir()
    # as the Kafka sink writes them: one file per topic-partition-offset, in no useful order, some gzipped
    for part in range(3):
        chunk = b"".join(lines[part::3])
        name = f"examples-vpa.examples-{part}-{part * 1000:020d}.jsonl"
        if part == 1:
            with gzip.open(sink_dir / (name + ".gz"), "wb") as fh:
                fh.write(chunk)
        else:
            (sink_dir / name).write_bytes(chunk)
    (sink_dir / ".tmp-examples-vpa.examples-9-0.jsonl").write_bytes(b"{not a record")  # unfinished: ignored
    export_dataset(sink_dir, tmp_path / "out", list(SFT_FORMATS), OPTIONS)
    assert _tree_digest(tmp_path / "out") == _tree_digest(exported)


def test_an_id_with_two_different_records_is_rejected(dataset: Path, tmp_path: Path) -> None:
    src = next(dataset.glob("examples-*.jsonl"))
    shutil.copy(src, tmp_path / "examples-00000.jsonl")
    record = json.loads(src.read_text().splitlines()[0])
    record["output"]["signal"]["type"] = "SELL" if record["output"]["signal"]["type"] != "SELL" else "BUY"
    (tmp_path / "examples-00001.jsonl").write_text(json.dumps(record) + "\n")
    with pytest.raises(ExportError, match="differs"):
        load_examples(tmp_path)


# -- dataset card ----------------------------------------------------------------------------------------------

def _card(root: Path) -> tuple[dict[str, Any], str]:
    text = (root / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    header, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(header), body


def test_card_has_the_hugging_face_yaml_header(exported: Path) -> None:
    header, _ = _card(exported)
    assert {"license", "task_categories", "tags", "size_categories", "configs"} <= set(header)
    assert "text-generation" in header["task_categories"]
    assert header["size_categories"] == ["1K<n<10K"]
    configs = {c["config_name"]: c for c in header["configs"]}
    assert set(configs) == set(SFT_FORMATS)
    assert configs["hf"].get("default") is True
    for config in configs.values():
        assert [f["split"] for f in config["data_files"]] == ["train", "validation", "test"]
        assert all((exported / f["path"]).is_file() for f in config["data_files"])


def test_card_has_rules_splits_labels_limitations_licence_and_climax_sections(exported: Path) -> None:
    _, body = _card(exported)
    for section in ("## Generation rules", "## Splits", "## Label distribution", "## Limitations",
                    "## Source data licence", "## Naming note"):
        assert section in body
    assert VPAConfig().config_hash in body and ENGINE_VERSION in body
    assert f"{VAL_FROM:%Y-%m-%d}" in body and f"{TEST_FROM:%Y-%m-%d}" in body
    assert f"Embargo: {EMBARGO} bars" in body
    assert "not investment advice" in body.lower() and "bokeh-sampledata" in body
    assert "data vendor's terms" in body
    assert "CLIMAX_BOTTOM" in body and "CLIMAX_TOP" in body and "Coulling" in body and "Wyckoff" in body
    meta = _split_meta(exported)
    counts = {s: Counter((m["signal_type"], m["signal_strength"]) for m in rows) for s, rows in meta.items()}
    n = counts["train"][("BUY", "STRONG")]
    assert f"| BUY | STRONG | {n:,} ({n / len(meta['train']):.1%})" in body
    assert "| all | all | " + " | ".join(f"{len(meta[s]):,}" for s in SPLITS) + " |" in body


# -- command line ----------------------------------------------------------------------------------------------

def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_export_command_writes_the_chosen_formats(dataset: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse(["export", "--in", str(dataset), "--format", "openai,alpaca", "--out", str(tmp_path),
                   "--val-from", "2010-01-01", "--test-from", "2011-07-01"])
    assert args.handler(args, {}) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "alpaca", "examples", "openai", "recipes"]
    assert "vpa-stream export" in capsys.readouterr().out


@pytest.mark.parametrize("extra", [
    ["--format", "jsonl-ish"],
    ["--val-from", "2011-01-01"],
    ["--val-from", "2012-01-01", "--test-from", "2011-01-01"],
    ["--holdout-symbols", "NOPE"],
    ["--hold-cap", "1.5"],
    ["--embargo-bars", "5"],
])
def test_export_command_turns_bad_options_into_usage_errors(dataset: Path, tmp_path: Path,
                                                            extra: list[str]) -> None:
    from vpa_stream.cli import UsageError

    args = _parse(["export", "--in", str(dataset), "--out", str(tmp_path / "x"), *extra])
    with pytest.raises(UsageError):
        args.handler(args, {})
