"""Daily + hourly runs from files (real EURUSD bars, see tests/mtfdata.py): daily examples only, each with the
hourly context as of its close, and nothing after t in it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.mtfdata import NY, Pair, fx_pair, ny_session_pair
from vpa_stream.cli import main
from vpa_stream.processors.config import VPAConfig
from vpa_stream.processors.engine import Example
from vpa_stream.processors.stage import ExampleStage
from vpa_stream.producers.replay import bars_of
from vpa_stream.producers.sources.base import Session, SourceOptions
from vpa_stream.producers.sources.specs import Timeframes, build_sources
from vpa_stream.schemas.models import iso_utc

NY_SESSION = Session()  # New York, 16:00
FX_SESSION = Session(tz=NY, close="17:00", hours="24h")
FX_CONFIG = VPAConfig(session_close="17:00")  # the engine's calendar (weekly bars) ends FX days at 17:00 too
DAILY_HOURLY = Timeframes("1d", ("1h",))


@pytest.fixture(scope="module")
def ny(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return ny_session_pair(tmp_path_factory.mktemp("ny"))


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return fx_pair(tmp_path_factory.mktemp("fx"))


def examples(daily: Path, hourly: Path, session: Session = NY_SESSION, cfg: VPAConfig | None = None) -> dict[str, str]:
    """id -> the record as JSON, from the two files through the backfill's sources, replay and stage."""
    sources = build_sources([f"csv:{daily}", f"csv:{hourly}"], SourceOptions(session=session), DAILY_HOURLY)
    stage = ExampleStage(cfg, primary_timeframes=("1d",))
    out: dict[str, str] = {}
    for bar in bars_of(sources, lambda letter: pytest.fail(f"dead letter {letter}"), DAILY_HOURLY.required):
        result = stage.process_example(bar)
        if isinstance(result, Example):
            out[result.id] = json.dumps(result.record)
    return out


@pytest.fixture(scope="module")
def ny_examples(ny: Pair) -> dict[str, str]:
    return examples(ny.daily, ny.hourly)


@pytest.fixture(scope="module")
def fx_examples(fx: Pair) -> dict[str, str]:
    return examples(fx.daily, fx.hourly, FX_SESSION, FX_CONFIG)


def _ms(iso: str) -> int:
    return int(pd.Timestamp(iso).value // 1_000_000)


def test_the_cli_makes_only_daily_examples_and_says_how_it_found_each_timeframe(
        ny: Pair, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["backfill", "--source", f"csv:{ny.daily}", "--source", f"csv:{ny.hourly}", "--out", str(out),
                 "--no-progress", "--single-process"]) == 0
    printed = capsys.readouterr().out
    assert "1d primary: csv:EURUSD_1d.csv EURUSD (detected from its stamps)" in printed
    assert "1h context: csv:EURUSD_1h.csv EURUSD (detected from its stamps)" in printed
    assert "context bars   4,998" in printed
    records = [json.loads(line) for f in sorted(out.glob("examples-*.jsonl")) for line in f.read_text().splitlines()]
    daily_rows = len(pd.read_csv(ny.daily))
    assert len(records) == daily_rows - VPAConfig().warmup_bars + 1
    assert {r["id"].split("|")[1] for r in records} == {"1d"}
    assert {r["input"]["primary_timeframe"] for r in records} == {"1d"}


@pytest.mark.parametrize("pair_name", ["ny", "fx"])
def test_every_daily_example_has_the_last_hourly_bar_closed_by_its_close(
        pair_name: str, request: pytest.FixtureRequest) -> None:
    pair: Pair = request.getfixturevalue(pair_name)
    found: dict[str, str] = request.getfixturevalue(f"{pair_name}_examples")
    assert found
    for record in map(json.loads, found.values()):
        t = record["input"]["timestamp"]
        entry = record["input"]["multi_timeframe_context"]["1h"]
        assert entry["as_of"] <= t
        assert entry["as_of"] == iso_utc(pair.last_hourly_close(_ms(t)))
        assert entry["derived"] is False
        # the session's last hourly bar closes with the day (capped at 16:00, or the 24h bar ending at 17:00)
        assert entry["as_of"] == t
        assert set(entry) == {"as_of", "trend", "strength", "volume_class", "pattern", "derived"}


@pytest.mark.parametrize(("pair_name", "before", "after"), [
    ("ny", "2017-11-03T20:00:00Z", "2017-11-06T21:00:00Z"),  # 16:00 New York, EDT then EST
    ("ny", "2018-03-09T21:00:00Z", "2018-03-12T20:00:00Z"),
    ("fx", "2017-11-03T21:00:00Z", "2017-11-06T22:00:00Z"),  # 17:00 New York
])
def test_across_a_dst_change_the_daily_close_still_picks_the_hourly_bar_that_ends_the_day(
        pair_name: str, before: str, after: str, request: pytest.FixtureRequest) -> None:
    found: dict[str, str] = request.getfixturevalue(f"{pair_name}_examples")
    for t in (before, after):
        record = json.loads(found[f"EURUSD|1d|{t}"])
        assert record["input"]["current_candle"]["close_time"] == t
        assert record["input"]["multi_timeframe_context"]["1h"]["as_of"] == t


def test_without_the_session_cap_the_15_30_bar_would_close_after_the_daily_bar(ny: Pair) -> None:
    uncapped = examples(ny.daily, ny.hourly, Session(hours="24h"))  # as if New York hours were a 24h market
    record = json.loads(uncapped["EURUSD|1d|2017-11-06T21:00:00Z"])
    # the 15:30 bar would close at 16:30, after the daily bar: the newest hourly bar closed by t is the 14:30 one
    assert record["input"]["multi_timeframe_context"]["1h"]["as_of"] == "2017-11-06T20:30:00Z"


def _hourly_rows_after(pair: Pair, t_ms: int) -> tuple[pd.DataFrame, pd.Series]:
    frame = pd.read_csv(pair.hourly)
    after = pd.Series([close > t_ms for close in pair.hourly_closes_ms], index=frame.index)
    assert after.any() and not after.all()
    return frame, after


def _changed(frame: pd.DataFrame, rows: pd.Series, seed: int) -> pd.DataFrame:
    """Every selected row replaced by a random but valid bar: wild prices and volumes the past must not see."""
    rng = np.random.default_rng(seed)
    n = int(rows.sum())
    o, c = rng.uniform(0.5, 2.0, n), rng.uniform(0.5, 2.0, n)
    frame = frame.astype({"Volume": "float64"})
    frame.loc[rows, ["Open", "High", "Low", "Close", "Volume"]] = np.column_stack([
        o, np.maximum(o, c) * rng.uniform(1, 1.1, n), np.minimum(o, c) * rng.uniform(0.9, 1, n), c,
        rng.uniform(0, 1e6, n)])
    return frame


@pytest.mark.parametrize(("pair_name", "t"), [
    ("ny", "2017-06-29T20:00:00Z"),  # the first example
    ("ny", "2017-11-06T21:00:00Z"),  # the first session after a DST change
    ("fx", "2017-11-06T22:00:00Z"),  # the next hourly bar opens at t
])
@pytest.mark.parametrize("future", ["removed", "changed"])
def test_removing_or_changing_every_hourly_bar_after_t_leaves_the_example_at_t_byte_identical(
        pair_name: str, t: str, future: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    pair: Pair = request.getfixturevalue(pair_name)
    full: dict[str, str] = request.getfixturevalue(f"{pair_name}_examples")
    example_id = f"EURUSD|1d|{t}"
    assert example_id in full
    frame, after = _hourly_rows_after(pair, _ms(t))
    edited = frame[~after] if future == "removed" else _changed(frame, after, seed=len(t))
    hourly = tmp_path / pair.hourly.name
    edited.to_csv(hourly, index=False)
    fx = pair_name == "fx"
    got = examples(pair.daily, hourly, FX_SESSION if fx else NY_SESSION, FX_CONFIG if fx else None)
    assert got[example_id] == full[example_id]
    if future == "changed":  # the edit did reach the engine: the next example sees the changed hourly bars
        later = sorted(i for i in full if i > example_id)[0]
        assert got[later] != full[later]
