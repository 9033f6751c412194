"""The dataset report: hand-computed figures on a small fixture, and the PNGs and HTML a user opens."""

from __future__ import annotations

import argparse
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vpa_stream.cli import _Parser
from vpa_stream.cli import report as report_module
from vpa_stream.producers.replay import bars_of
from vpa_stream.producers.sources.base import SourceOptions
from vpa_stream.producers.sources.files import FileSource
from vpa_stream.schemas.models import Bar, iso_utc
from vpa_stream.sinks.jsonl import dumps
from vpa_stream.sinks.report import build_report, compute_report
from vpa_stream.sinks.report_signals import PriceTable, bootstrap_ci
from vpa_stream.sinks.report_text import distinct_n, duplicate_rates, mask, sentences

# 30 trading days over a year end; bar i opens at 100 + i and closes 1 above its open, except every third bar
# (i % 3 == 2), which closes 1 below. A 2-for-1 split takes effect at bar 20: prices as traded halve there.
N_BARS = 30
SPLIT_AT = 20
DATES = pd.bdate_range("2020-12-14", periods=N_BARS)
MOVE = [1.0 if i % 3 != 2 else -1.0 for i in range(N_BARS)]
OPENS = [(100.0 + i) / (2 if i >= SPLIT_AT else 1) for i in range(N_BARS)]
CLOSES = [(100.0 + i + MOVE[i]) / (2 if i >= SPLIT_AT else 1) for i in range(N_BARS)]

# labels of the examples at bars 0..19 (bars 20..29 have no example: they only price the forward returns)
LABELS = [("BUY", "STRONG")] * 3 + [("BUY", "WEAK")] * 5 + [("SELL", "MODERATE")] * 4 + [("HOLD", "MODERATE")] * 8
#: bar 9 repeats bar 8's explanation word for word (same label, SELL MODERATE): one exact, two near duplicates
DUPLICATE_OF = {9: 8}
#: faithfulness failures: an invented number, an invented class name
BAD_NUMBER, BAD_CLASS = 12, 15


def write_prices(path: Path) -> None:
    frame = pd.DataFrame({
        "date": DATES.strftime("%Y-%m-%d"),
        "symbol": "TST",
        "open": OPENS,
        "high": [max(o, c) + 0.25 for o, c in zip(OPENS, CLOSES, strict=True)],
        "low": [min(o, c) - 0.25 for o, c in zip(OPENS, CLOSES, strict=True)],
        "close": CLOSES,
        "volume": 1000,
        "split": [2.0 if i == SPLIT_AT else 0.0 for i in range(N_BARS)],
    })
    frame.to_csv(path, index=False)


def price_bars(path: Path) -> list[Bar]:
    return list(bars_of([FileSource(path, "csv", SourceOptions())], lambda letter: None))


def record(bar: Bar, i: int) -> dict[str, Any]:
    kind, strength = LABELS[i]
    # words unique to each example: no two explanations share a word 5-gram (except the planted duplicate)
    words = " ".join(f"w{DUPLICATE_OF.get(i, i)}x{k}" for k in range(30))
    text = f"Signal: {kind} ({strength})\nThis bar reads {words}."
    if i == BAD_NUMBER:
        text += " Support at 999.99."
    if i == BAD_CLASS:
        text += " A CLIMAX_TOP fired."
    ts = iso_utc(bar.close_time)
    return {
        "id": f"TST|1d|{ts}",
        "input": {
            "timestamp": ts,
            "ticker": "TST",
            "primary_timeframe": "1d",
            "current_candle": {"open": bar.open, "high": bar.high, "low": bar.low, "close": bar.close,
                               "volume": bar.volume},
            "pattern_analysis": {},
            "multi_timeframe_context": {},
        },
        "output": {"signal": {"type": kind, "strength": strength}, "explanation": text},
        "meta": {"rules_fired": [], "config_hash": "fixture", "engine_version": "test", "price_decimals": 2},
    }


@pytest.fixture(scope="module")
def fixture_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("report")
    prices = root / "TST.csv"
    write_prices(prices)
    bars = price_bars(prices)
    assert len(bars) == N_BARS
    dataset = root / "dataset"
    dataset.mkdir()
    lines = [dumps(record(bar, i)) for i, bar in enumerate(bars[: len(LABELS)])]
    (dataset / "examples-00000.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))
    return dataset, prices


@pytest.fixture(scope="module")
def built(fixture_dirs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    dataset, prices = fixture_dirs
    out = tmp_path_factory.mktemp("report-out")
    return build_report(dataset, price_bars(prices), out, seed=1), out


def test_label_counts_overall_per_symbol_and_per_year(built: tuple[dict[str, Any], Path]) -> None:
    labels = built[0]["labels"]
    assert labels["n"] == 20
    assert labels["overall"]["BUY"] == {"STRONG": 3, "MODERATE": 0, "WEAK": 5}
    assert labels["overall"]["SELL"] == {"STRONG": 0, "MODERATE": 4, "WEAK": 0}
    assert labels["overall"]["HOLD"] == {"STRONG": 0, "MODERATE": 8, "WEAK": 0}
    assert labels["shares"]["HOLD"]["MODERATE"] == pytest.approx(0.4)
    assert list(labels["by_symbol"]) == ["TST"]
    # 2020-12-14 .. 2020-12-31 is 14 business days, the other 6 examples fall in January 2021
    assert sum(labels["by_year"]["2020"]["BUY"].values()) == 8
    assert labels["by_year"]["2020"]["SELL"]["MODERATE"] == 4
    assert labels["by_year"]["2020"]["HOLD"]["MODERATE"] == 2
    assert labels["by_year"]["2021"]["HOLD"]["MODERATE"] == 6


def test_faithfulness_lists_the_failing_ids_by_kind(built: tuple[dict[str, Any], Path]) -> None:
    faith = built[0]["faithfulness"]
    # the fixture's prose is no engine's: every example fails as a whole, two also on a number and a code
    assert faith["failing"] == len(LABELS)
    assert faith["by_kind"]["numbers"] == 1
    assert faith["by_kind"]["codes"] == 1
    assert faith["by_kind"]["not_v2"] == len(LABELS)
    assert any("999.99" in p for p in faith["problems"][datetime_id(BAD_NUMBER)])
    assert any("CLIMAX_TOP" in p for p in faith["problems"][datetime_id(BAD_CLASS)])


def datetime_id(i: int) -> str:
    # date-only rows close at 16:00 New York: 21:00 UTC in winter
    return f"TST|1d|{DATES[i].strftime('%Y-%m-%d')}T21:00:00Z"


def test_duplicate_rates_count_the_planted_repeat(built: tuple[dict[str, Any], Path]) -> None:
    dup = built[0]["duplicates"]
    assert dup["exact_duplicates"] == 1
    assert dup["exact_duplicate_rate"] == pytest.approx(1 / 20)
    assert dup["near_duplicates"] == 2  # the repeat and the example it repeats
    assert dup["per_label"]["SELL MODERATE"]["near_duplicate_rate"] == pytest.approx(2 / 4)
    assert dup["per_label"]["SELL MODERATE"]["exact_duplicate_rate"] == pytest.approx(1 / 4)
    assert dup["per_label"]["HOLD MODERATE"]["near_duplicate_rate"] == 0.0


def test_near_duplicates_need_the_same_label_and_most_5_grams() -> None:
    words = [f"word{k}" for k in range(80)]

    def ex(text: str, kind: str = "BUY") -> dict[str, Any]:
        return {"output": {"signal": {"type": kind, "strength": "WEAK"}, "explanation": text}}

    base = " ".join(words)
    one_word_changed = " ".join([*words[:40], "other", *words[41:]])  # Jaccard 71/81 of 5-grams ~ 0.88
    half_changed = " ".join([*words[:40], *(w + "b" for w in words[40:])])
    rates = duplicate_rates([ex(base), ex(one_word_changed), ex(half_changed), ex(base, "SELL")])
    assert rates["exact_duplicates"] == 1  # text repeats across labels count as exact duplicates
    assert rates["per_label"]["BUY WEAK"]["near_duplicate_rate"] == pytest.approx(2 / 3)
    assert rates["per_label"]["SELL WEAK"]["near_duplicate_rate"] == 0.0


def test_distinct_n_and_phrasing_skeletons() -> None:
    assert distinct_n([["a", "b", "a"], ["a", "c"]], 1) == pytest.approx(3 / 5)
    assert distinct_n([["a", "b", "a"], ["a", "c"]], 2) == pytest.approx(3 / 3)
    assert mask("Multi-timeframe: 1wk trend UP (STRONG), volume 1,234.50 and -0.72 ATR.") == \
        "Multi-timeframe: TF trend C (C), volume # and # C."
    assert sentences("Signal: BUY (WEAK)\nTrend UP at 1.20. Volume HIGH.\nDone.") == \
        ["Trend UP at 1.20.", "Volume HIGH.", "Done."]


def test_phrasing_share_is_the_share_of_examples(built: tuple[dict[str, Any], Path]) -> None:
    div = built[0]["diversity"]
    assert div["largest_phrasing_share"] == pytest.approx(2 / 20)  # the planted repeat
    assert 0 < div["distinct_1"] <= 1 and 0 < div["distinct_2"] <= 1


def test_forward_returns_enter_at_the_next_open_and_undo_splits(fixture_dirs: tuple[Path, Path]) -> None:
    prices = PriceTable(price_bars(fixture_dirs[1]))
    # bar 2 (closes down): h=1 buys bar 3's open 103 and sells its close 104; h=5 sells bar 7's close 108
    assert prices.forward_return(datetime_id(2), 1) == pytest.approx(104 / 103 - 1)
    assert prices.forward_return(datetime_id(2), 5) == pytest.approx(108 / 103 - 1)
    # bar 17, h=5: entry bar 18's open 118, exit bar 22's close as traded 61.5 after the 2-for-1 = 123
    assert prices.forward_return(datetime_id(17), 5) == pytest.approx(123 / 118 - 1)
    assert prices.forward_return(datetime_id(25), 5) is None  # the series ends first
    assert prices.forward_return("TST|1d|1999-01-01T21:00:00Z", 1) is None


def test_hit_rates_and_base_rates_match_hand_counts(built: tuple[dict[str, Any], Path]) -> None:
    signals = built[0]["signals"]
    assert signals["with_prices"] == 20 and signals["price_mismatches"] == 0
    one = signals["groups"]["1"]
    # h=1: the return of the example at t is the move of bar t+1, down when (t+1) % 3 == 2
    assert one["BUY"]["STRONG"]["n"] == 3
    assert one["BUY"]["STRONG"]["hit_rate"] == pytest.approx(2 / 3)  # t = 0, 1, 2: up, down, up
    assert one["SELL"]["MODERATE"]["hit_rate"] == pytest.approx(1 / 4)  # t = 8..11: bar 11 falls
    assert one["BUY"]["MODERATE"]["n"] == 0 and one["BUY"]["MODERATE"]["hit_rate"] is None
    base = signals["base"]["1"]
    assert base["BUY"]["hit_rate"] == pytest.approx(13 / 20)  # t + 1 in 2, 5, 8, 11, 14, 17, 20 fall
    assert base["SELL"]["hit_rate"] == pytest.approx(7 / 20)
    assert one["BUY"]["STRONG"]["lift"] == pytest.approx(2 / 3 - 13 / 20)
    low, high = one["BUY"]["WEAK"]["ci"]
    assert low <= one["BUY"]["WEAK"]["hit_rate"] <= high
    # h=20: only bars 0..9 have bar t+20
    assert signals["base"]["20"]["BUY"]["n"] == 10
    assert signals["ordering"]["1"]["BUY"] is None  # no BUY MODERATE: the ordering cannot be judged


def test_bootstrap_is_deterministic_and_brackets_the_rate() -> None:
    rng = np.random.default_rng(0)
    hits = rng.random(400) < 0.6
    clusters = [f"S|2020-{1 + i % 12:02d}" for i in range(400)]
    first = bootstrap_ci(hits, clusters, 7, "BUY STRONG 5")
    assert first == bootstrap_ci(hits, clusters, 7, "BUY STRONG 5")
    assert first is not None and first[0] < hits.mean() < first[1] and first[1] - first[0] < 0.2
    assert bootstrap_ci(hits[:0], [], 7, "empty") is None


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"] or "")


def test_the_page_references_every_png_and_each_png_opens(built: tuple[dict[str, Any], Path]) -> None:
    report, out = built
    page = _Page()
    page.feed((out / "index.html").read_text())
    page.close()
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(pngs) >= 5
    assert sorted(page.images) == pngs == sorted(report["figures"])
    for name in pngs:
        with Image.open(out / name) as img:
            img.verify()
            assert img.format == "PNG"
        with Image.open(out / name) as img:
            assert img.size[0] > 300 and img.size[1] > 200
    assert "table" in page.tags and "h2" in page.tags
    assert datetime_id(BAD_NUMBER) in (out / "index.html").read_text()


def test_report_json_holds_the_figures_numbers(built: tuple[dict[str, Any], Path]) -> None:
    report, out = built
    saved = json.loads((out / "report.json").read_text())
    assert saved["labels"] == report["labels"]
    assert saved["signals"]["groups"]["1"]["BUY"]["STRONG"]["hit_rate"] == pytest.approx(2 / 3)


def test_the_cli_handler_reads_prices_from_a_csv_source(fixture_dirs: tuple[Path, Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    dataset, prices = fixture_dirs
    parser = _Parser(prog="vpa-stream")
    report_module.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report", "--in", str(dataset), "--out", str(tmp_path / "r"),
                              "--prices", f"csv:{prices}"])
    assert args.handler(args, {}) == 0
    saved = json.loads((tmp_path / "r" / "report.json").read_text())
    assert saved["signals"]["with_prices"] == 20
    assert saved["price_source"] == f"csv:{prices}"
    assert f"faithfulness   {len(LABELS)} failing" in capsys.readouterr().out


def test_a_directory_without_examples_is_a_usage_error(tmp_path: Path) -> None:
    from vpa_stream.cli import UsageError

    # the price source is never read: yfinance would download before the missing dataset is noticed
    args = argparse.Namespace(in_dir=str(tmp_path), report_out=str(tmp_path / "r"), source="yfinance", seed=0)
    with pytest.raises(UsageError, match="no examples"):
        report_module.handler(args, {})


def test_compute_report_on_real_sample_examples_is_faithful() -> None:
    from tests.realdata import symbol_bars
    from vpa_stream.processors.engine import Engine

    bars = symbol_bars("IBM")[:400]
    engine = Engine()
    examples = [ex.record for b in bars if (ex := engine.update(b)) is not None]
    report = compute_report(examples, bars)
    assert report["faithfulness"]["failing"] == 0
    assert report["signals"]["price_mismatches"] == 0
    assert report["signals"]["with_prices"] == len(examples)
    assert report["duplicates"]["exact_duplicates"] == 0
