"""The lookahead audit: silent on the real engine, loud on an engine that peeks one bar ahead."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from tests.realdata import sample_bars, symbol_bars
from vpa_stream.cli import _Parser
from vpa_stream.cli import audit as audit_module
from vpa_stream.processors.audit import EngineFactory, audit, diff_paths
from vpa_stream.processors.config import VPAConfig
from vpa_stream.processors.engine import Engine, Example
from vpa_stream.schemas.models import Bar


class PeekingEngine:
    """Test-only lookahead: the production engine, plus the next bar's close written into the explanation.

    It knows the bars of the run it serves (as a component holding a whole loaded frame would) and reads the
    bar after t whenever that bar is among them: invisible on the full run, exposed by truncation.
    """

    def __init__(self, bars: Sequence[Bar]) -> None:
        self.engine = Engine()
        self.next_close: dict[tuple[str, str, int], float] = {}
        last: dict[tuple[str, str], Bar] = {}
        for bar in bars:
            previous = last.get((bar.symbol, bar.timeframe))
            if previous is not None:
                self.next_close[(previous.symbol, previous.timeframe, previous.close_time)] = bar.close
            last[(bar.symbol, bar.timeframe)] = bar

    def update(self, bar: Bar) -> Example | None:
        example = self.engine.update(bar)
        peek = self.next_close.get((bar.symbol, bar.timeframe, bar.close_time))
        if example is None or peek is None:
            return example
        record: dict[str, Any] = {**example.record, "output": dict(example.record["output"])}
        record["output"]["explanation"] += f" Tomorrow closes at {peek:.2f}."
        return Example(example.id, example.symbol, example.timeframe, example.close_time, record)


def test_the_real_engine_passes_on_every_sample_symbol() -> None:
    result = audit(sample_bars(), samples=40, seed=3)
    assert len(result.checked) == 40
    assert {i.split("|")[0] for i in result.checked} == {"AAPL", "MSFT", "IBM"}
    assert result.ok, result.lines()
    # a truncated run reads W + 2 weeks of its own symbol (5 trading days a week), not the whole history
    assert result.history_bars <= 40 * (VPAConfig().window_bars + 2) * 5


def test_the_real_engine_passes_when_each_history_starts_at_the_first_bar() -> None:
    result = audit(symbol_bars("MSFT"), samples=4, seed=1, from_start=True)
    assert result.ok and len(result.checked) == 4


def test_a_one_bar_peek_is_found_at_every_truncation_point() -> None:
    bars = symbol_bars("IBM")[:600]
    result = audit(bars, factory=PeekingEngine, samples=12, seed=5)
    last_id = f"IBM|1d|{bars[-1].close_dt.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    expected = [i for i in result.checked if i != last_id]  # the last bar has no next bar to peek at
    assert expected
    assert [f.id for f in result.findings] == expected
    assert all(f.kind == "differs" and f.paths == ("output.explanation",) for f in result.findings)
    assert not result.ok


def test_the_choice_of_points_is_seeded() -> None:
    bars = symbol_bars("IBM")[:400]
    assert audit(bars, samples=5, seed=9).checked == audit(bars, samples=5, seed=9).checked
    assert audit(bars, samples=5, seed=9).checked != audit(bars, samples=5, seed=10).checked


def test_an_engine_that_needs_more_history_than_the_window_is_reported_missing() -> None:
    cfg = VPAConfig()
    bars = symbol_bars("AAPL")[:1500]

    def late_starter(history: Sequence[Bar]) -> Engine:
        return Engine(cfg.with_overrides(warmup_bars=len(bars)))  # warms up longer than any truncated history

    result = audit(bars, factory=late_starter, samples=3, seed=0, cfg=cfg)
    assert result.examples == 1  # only the last bar has an example in the full run
    assert [f.kind for f in result.findings] == ["missing"]


def test_diff_paths_names_the_fields_that_differ() -> None:
    a = {"input": {"x": 1, "list": [1, 2]}, "output": {"explanation": "a"}}
    b = {"input": {"x": 1, "list": [1, 3]}, "output": {"explanation": "b"}, "extra": 0}
    assert diff_paths(a, b) == ["input.list.1", "output.explanation", "extra"]
    assert diff_paths(a, a) == []


def _args(*argv: str) -> Any:
    parser = _Parser(prog="vpa-stream")
    audit_module.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["audit", *argv])


def test_the_cli_exits_0_on_the_sample(capsys: pytest.CaptureFixture[str]) -> None:
    args = _args("--source", "sample", "--symbols", "IBM", "--samples", "5", "--seed", "2")
    assert args.handler(args, {}) == 0
    assert "differences        0" in capsys.readouterr().out


def test_the_cli_exits_1_when_an_engine_peeks(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    def peeking(cfg: VPAConfig | None = None, primary_timeframes: object = None) -> EngineFactory:
        return PeekingEngine

    monkeypatch.setattr(audit_module, "engine_factory", peeking)
    args = _args("--source", "sample", "--symbols", "IBM", "--end", "2003-12-31", "--samples", "5")
    assert args.handler(args, {}) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "output.explanation" in out
