"""docs/rules.md quotes real sample bars for each pattern: they must still fire that pattern."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.realdata import sample_bars
from vpa_stream.processors.engine import Engine

ROOT = Path(__file__).resolve().parent.parent


def test_every_bar_quoted_in_rules_md_fires_its_pattern() -> None:
    text = (ROOT / "docs" / "rules.md").read_text()
    quoted = dict(re.findall(r"### (\w+)\n[^\n]*\n\nFires on [^`]*Example: `([^`]+)`", text))
    assert len(quoted) >= 20
    engine = Engine()
    fired: dict[str, set[str]] = {}
    for bar in sample_bars():
        example = engine.update(bar)
        if example is not None and example.id in quoted.values():
            fired[example.id] = {n for n, p in example.record["input"]["pattern_analysis"].items() if p["detected"]}
    for pattern, example_id in quoted.items():
        assert pattern in fired.get(example_id, set()), (pattern, example_id)


def test_every_sequence_quoted_in_rules_md_gives_its_signal() -> None:
    text = (ROOT / "docs" / "rules.md").read_text()
    quoted = re.findall(r"#### (BUY|SELL|HOLD) (STRONG|MODERATE|WEAK) (\w+)\n\nSequence: `([^`]+)`", text)
    assert len(quoted) >= 10
    wanted = {example_id: (kind, strength, reason) for kind, strength, reason, example_id in quoted}
    engine = Engine()
    got = {}
    for bar in sample_bars():
        example = engine.update(bar)
        if example is not None and example.id in wanted:
            got[example.id] = tuple(example.record["output"]["signal"].values())
    assert got == wanted


def test_the_example_record_in_docs_is_what_the_engine_produces() -> None:
    doc = json.loads((ROOT / "docs" / "example.json").read_text())
    engine = Engine()
    for bar in sample_bars():
        example = engine.update(bar)
        if example is not None and example.id == doc["id"]:
            assert example.record == doc
            return
    raise AssertionError(f"{doc['id']} not produced")
