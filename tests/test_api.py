"""The Python API: the README's example runs as written (on the sample and on CSV files), the API writes what
the CLI writes for the same request, and bad requests are typed errors."""

from __future__ import annotations

import ast
import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from tests.mtfdata import Pair, ny_session_pair
from vpa_stream import RequestError, TrainingDataGenerator, load_training_data
from vpa_stream.cli import build_parser, main
from vpa_stream.producers.sources.timeframes import TimeframeError

README = Path(__file__).resolve().parent.parent / "README.md"
#: the design's example call, which the README keeps line for line
SEED_CALL = {"ticker": "AAPL", "start_date": "2023-01-01", "end_date": "2023-12-31", "primary_timeframe": "1d",
             "other_timeframes": ["1h"], "min_lookback": 50}


def readme_python_blocks() -> list[str]:
    """The ```python blocks of the README's "Python API" section, in order."""
    text = README.read_text()
    section = text[text.index("## Python API"):]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


class _Rewrite(ast.NodeTransformer):
    """The README's code with the output directory and the generate_training_data arguments replaced."""

    def __init__(self, out_dir: str, call: dict[str, Any]) -> None:
        self.out_dir = out_dir
        self.call = call
        self.seen: dict[str, Any] | None = None  # the README's own arguments

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        return ast.copy_location(ast.Constant(self.out_dir), node) if node.value == "vpa_training_data" else node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Attribute) and node.func.attr == "generate_training_data":
            self.seen = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
            node.keywords = [ast.keyword(k, ast.parse(repr(v), mode="eval").body) for k, v in self.call.items()]
        return node


def run_readme_example(out_dir: Path, call: dict[str, Any]) -> dict[str, Any]:
    generation = readme_python_blocks()[0]
    rewrite = _Rewrite(str(out_dir), call)
    tree = ast.fix_missing_locations(rewrite.visit(ast.parse(generation)))
    assert rewrite.seen == SEED_CALL, "the README's call is no longer the design's example"
    namespace: dict[str, Any] = {}
    exec(compile(tree, "README.md", "exec"), namespace)  # the README's own code
    return namespace


class FakeTokenizer:
    """Stands in for transformers' tokenizer: whitespace tokens, padded and truncated as asked."""

    pad_token = None
    eos_token = "</s>"

    def __call__(self, texts: list[str], truncation: bool, padding: str, max_length: int) -> dict[str, Any]:
        ids = [[len(w) for w in text.split()][:max_length] for text in texts]
        return {"input_ids": [row + [0] * (max_length - len(row)) for row in ids]}


def run_readme_tokenizer(namespace: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    fake = types.ModuleType("transformers")
    fake.AutoTokenizer = types.SimpleNamespace(from_pretrained=lambda name: FakeTokenizer())  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "transformers", fake)
    exec(compile(readme_python_blocks()[1], "README.md", "exec"), namespace)
    return namespace["tokenized_dataset"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return ny_session_pair(tmp_path_factory.mktemp("pair"))


def test_the_readme_example_runs_on_the_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    call = SEED_CALL | {"start_date": "2005-01-01", "end_date": "2006-06-30", "other_timeframes": [],
                        "source": "sample"}  # the sample is daily: no hourly context to ask for
    namespace = run_readme_example(tmp_path / "data", call)
    summary, formatted = namespace["summary"], namespace["formatted_dataset"]
    assert summary.examples == len(formatted) == summary.bars - summary.warmup > 300
    first = formatted[0]
    assert first["id"].startswith("AAPL|1d|2005-")
    assert first["text"].startswith("### Instruction:\nProvide VPA explanation.\n### Input:\nAnalyze VPA for AAPL")
    assert first["text"].endswith(first["output"]["explanation"])
    tokenized = run_readme_tokenizer(namespace, monkeypatch)
    assert len(tokenized[0]["input_ids"]) == 512


def test_the_readme_example_runs_on_daily_and_hourly_csv_files(pair: Pair, tmp_path: Path) -> None:
    call = SEED_CALL | {"ticker": "EURUSD", "start_date": "2017-04-19", "end_date": "2018-12-31",
                        "source": [f"csv:{pair.daily}", f"csv:{pair.hourly}"]}
    namespace = run_readme_example(tmp_path / "data", call)
    formatted = namespace["formatted_dataset"]
    assert namespace["summary"].examples == len(formatted) > 300
    assert {row["input"]["primary_timeframe"] for row in formatted} == {"1d"}
    last = formatted[-1]
    assert f"other timeframes: 1h trend {last['input']['multi_timeframe_context']['1h']['trend']} as of " \
           f"{last['input']['timestamp']}" in last["text"]


def test_the_readme_multi_timeframe_commands_parse() -> None:
    commands = re.findall(r"^vpa-stream (backfill .*--timeframe 1d.*|backfill .*--other-timeframes.*)$",
                          README.read_text(), flags=re.M)
    assert len(commands) >= 2
    for command in commands:
        args = build_parser({}).parse_args(command.split())
        assert args.handler is not None


def test_the_api_writes_the_bytes_the_cli_writes_for_the_same_request(pair: Pair, tmp_path: Path) -> None:
    TrainingDataGenerator(tmp_path / "api", parallel=False).generate_training_data(
        ticker="EURUSD", primary_timeframe="1d", other_timeframes=["1h"], min_lookback=30,
        source=[f"csv:{pair.daily}", f"csv:{pair.hourly}"], end_date="2018-06-30")
    config = tmp_path / "cfg.toml"
    config.write_text("[engine]\nwarmup_bars = 30\n")
    assert main(["--config", str(config), "backfill", "--source", f"csv:{pair.daily}", "--source",
                 f"csv:{pair.hourly}", "--other-timeframes", "1h", "--symbols", "EURUSD", "--end", "2018-06-30",
                 "--out", str(tmp_path / "cli"), "--no-progress"]) == 0
    api_files = sorted(p.name for p in (tmp_path / "api").glob("examples-*"))
    assert api_files and api_files == sorted(p.name for p in (tmp_path / "cli").glob("examples-*"))
    for name in api_files:
        assert (tmp_path / "api" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes()


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"ticker": "AAPL", "tickers": ["MSFT"]}, "ticker"),
    ({"source": "yfinance"}, "ticker"),
    ({"ticker": "AAPL", "source": "sample", "min_lookback": 1}, "min_lookback"),
    ({"ticker": "AAPL", "source": "sample", "primary_timeframe": "7q"}, "primary_timeframe/other_timeframes"),
    ({"ticker": "AAPL", "source": "ftp:x"}, "source"),
])
def test_a_request_that_cannot_run_is_a_typed_error_and_writes_nothing(
        kwargs: dict[str, Any], argument: str, tmp_path: Path) -> None:
    with pytest.raises(RequestError) as caught:
        TrainingDataGenerator(tmp_path / "out").generate_training_data(**kwargs)
    assert caught.value.argument == argument
    assert not (tmp_path / "out").exists()


def test_a_context_timeframe_no_source_supplies_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(TimeframeError, match="no source supplies 1h bars"):
        TrainingDataGenerator(tmp_path / "out").generate_training_data(
            ticker="AAPL", source="sample", other_timeframes=["1h"])
    assert not (tmp_path / "out").exists()


def test_an_unknown_config_field_is_a_request_error(tmp_path: Path) -> None:
    with pytest.raises(RequestError, match="unknown"):
        TrainingDataGenerator(tmp_path, config={"warmup": 10})


def test_without_datasets_load_training_data_returns_the_records(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    TrainingDataGenerator(tmp_path, parallel=False).generate_training_data(
        ticker="IBM", source="sample", end_date="2000-06-30")
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    rows = load_training_data(tmp_path)
    assert isinstance(rows, list) and rows and rows[0]["id"].startswith("IBM|1d|")
    assert load_training_data(next(tmp_path.glob("examples-*.jsonl"))) == rows
