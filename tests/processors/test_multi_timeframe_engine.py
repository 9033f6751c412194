"""The engine with several supplied timeframes of one symbol: which bars make examples, and which bar of each
other timeframe an example's context shows."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tests.mtfdata import Pair, ny_session_pair
from vpa_stream.processors.engine import Engine
from vpa_stream.processors.stage import Encoded
from vpa_stream.processors.stream import StreamProcessor
from vpa_stream.producers.replay import bars_of
from vpa_stream.producers.sources.base import SourceOptions
from vpa_stream.producers.sources.files import FileSource
from vpa_stream.schemas.codec import default_codec
from vpa_stream.schemas.models import Bar, iso_utc


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return ny_session_pair(tmp_path_factory.mktemp("pair"))


def _bars(*paths: Path) -> list[Bar]:
    return list(bars_of([FileSource(p, "csv", SourceOptions(timeframe=None)) for p in paths], pytest.fail))


@pytest.fixture(scope="module")
def daily_and_hourly(pair: Pair) -> list[Bar]:
    """Both series in replay order."""
    return _bars(pair.daily, pair.hourly)


def run(bars: list[Bar], primary: tuple[str, ...] | None = ("1d",)) -> dict[str, dict]:
    engine = Engine(primary_timeframes=primary)
    out = {}
    for bar in bars:
        example = engine.update(bar)
        if example is not None:
            out[example.id] = example.record
    return out


@pytest.fixture(scope="module")
def with_hourly(daily_and_hourly: list[Bar]) -> dict[str, dict]:
    return run(daily_and_hourly)


def test_only_the_primary_timeframe_makes_examples(daily_and_hourly: list[Bar], with_hourly: dict) -> None:
    assert with_hourly and all("|1d|" in i for i in with_hourly)
    everything = run(daily_and_hourly, primary=None)  # no primary named: every timeframe makes examples
    assert {i.split("|")[1] for i in everything} == {"1d", "1h"}


def test_the_hourly_context_adds_its_entry_and_changes_nothing_else_the_record_holds(
        pair: Pair, with_hourly: dict) -> None:
    """The weekly context still comes from the daily stream (never from the hourly one too), and the daily
    analysis and signal are the same with or without hourly bars."""
    daily_only = run(_bars(pair.daily))
    assert daily_only.keys() == with_hourly.keys()
    for example_id, record in with_hourly.items():
        record = copy.deepcopy(record)
        hourly = record["input"]["multi_timeframe_context"].pop("1h")
        assert hourly["as_of"] <= record["input"]["timestamp"]
        alone = daily_only[example_id]
        for part in ("input", "meta"):
            assert record[part] == alone[part], example_id
        assert record["output"]["signal"] == alone["output"]["signal"], example_id


def _moved_early(bars: list[Bar], t: int, count: int) -> list[Bar]:
    """The replay with the first ``count`` hourly bars closing after t moved before the daily bar at t."""
    at = next(i for i, b in enumerate(bars) if b.timeframe == "1d" and b.close_time == t)
    early = [i for i, b in enumerate(bars) if b.timeframe == "1h" and b.close_time > t][:count]
    moved = [bars[i] for i in early]
    rest = [b for i, b in enumerate(bars) if i not in set(early)]
    return rest[:at] + moved + rest[at:]


@pytest.mark.parametrize("count", [1, 2])
def test_hourly_bars_that_arrive_before_the_daily_bar_they_follow_are_not_in_its_example(
        daily_and_hourly: list[Bar], with_hourly: dict, count: int) -> None:
    """Out of replay order (a live feed polled late): the entry falls back to the newest hourly bar closed by t,
    so the example is the one of the ordered replay."""
    t_bar = next(b for b in daily_and_hourly[3000:] if b.timeframe == "1d")
    example_id = f"EURUSD|1d|{iso_utc(t_bar.close_time)}"
    got = run(_moved_early(daily_and_hourly, t_bar.close_time, count))
    assert got[example_id] == with_hourly[example_id]


def test_when_the_hourly_bars_closed_by_t_are_no_longer_held_the_entry_is_left_out(
        daily_and_hourly: list[Bar]) -> None:
    t_bar = next(b for b in daily_and_hourly[3000:] if b.timeframe == "1d")
    got = run(_moved_early(daily_and_hourly, t_bar.close_time, 7))  # a whole session early
    record = got[f"EURUSD|1d|{iso_utc(t_bar.close_time)}"]
    assert "1h" not in record["input"]["multi_timeframe_context"]


def test_a_supplied_daily_series_and_the_daily_derived_from_hourly_bars_the_later_wins(
        daily_and_hourly: list[Bar]) -> None:
    """With hourly primary: at the 16:00 hourly bar the day just closed is only in the derived daily series
    (the supplied daily bar of 16:00 comes after it in replay order); at the next hourly bar both hold that
    day and the supplied one is shown."""
    got = run(daily_and_hourly, primary=("1h",))
    assert got and all("|1h|" in i for i in got)
    closing = [r for r in got.values() if r["input"]["timestamp"].endswith(("T20:00:00Z", "T21:00:00Z"))]
    record = closing[len(closing) // 2]
    t = record["input"]["timestamp"]
    daily = record["input"]["multi_timeframe_context"]["1d"]
    assert (daily["as_of"], daily["derived"]) == (t, True)
    ids = sorted(got)
    following = got[ids[ids.index(record["id"]) + 1]]
    daily_next = following["input"]["multi_timeframe_context"]["1d"]
    assert (daily_next["as_of"], daily_next["derived"]) == (t, False)



def test_a_restarted_kafka_processor_rebuilds_the_hourly_context_from_its_table(
        daily_and_hourly: list[Bar], with_hourly: dict) -> None:
    """The processor's ring holds every timeframe of a symbol: a worker that starts from the table alone gives
    the examples of the uninterrupted run, hourly context included."""
    codec = default_codec()
    payloads = [codec.encode("bar", b.to_record()) for b in daily_and_hourly]
    reference = {i: codec.encode("example", r) for i, r in with_hourly.items()}
    table: dict = {}
    got: dict[str, bytes] = {}
    cut = len(payloads) * 2 // 3
    for processor, part in ((StreamProcessor(table, primary_timeframes=("1d",)), payloads[:cut]),
                            (StreamProcessor(table, primary_timeframes=("1d",)), payloads[cut:])):
        for payload in part:
            result = processor.process(payload)
            if isinstance(result, Encoded):
                got[result.id] = result.payload
    assert got == reference
