"""A daily + hourly run on a real Kafka broker: replay (both files) -> process --timeframe 1d -> sink gives the
embedded run's dataset."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.kafka.test_pipeline import dataset, pipeline, wait_for_lines  # noqa: F401 - pipeline is a fixture
from tests.mtfdata import ny_session_pair
from vpa_stream.cli import main
from vpa_stream.pipeline import run_backfill
from vpa_stream.producers.sources.base import SourceOptions
from vpa_stream.producers.sources.specs import Timeframes, build_sources

pytestmark = pytest.mark.kafka


def test_a_daily_and_hourly_run_on_kafka_equals_the_embedded_one(
        pipeline: dict, kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    tmp: Path = pipeline["tmp"]
    (tmp / "pair").mkdir()
    pair = ny_session_pair(tmp / "pair")
    specs = [f"csv:{pair.daily}", f"csv:{pair.hourly}"]
    timeframes = Timeframes.of("1d", ["1h"])
    run_backfill(build_sources(specs, SourceOptions(), timeframes), tmp / "embedded", timeframes=timeframes)
    expected = dataset(tmp / "embedded")
    assert expected and all('"primary_timeframe":"1d"' in line for line in expected)

    pipeline["start"]("process", "--timeframe", "1d")
    sink = pipeline["start"]("sink")
    assert main(["replay", "--bootstrap-servers", kafka_bootstrap, "--topic-prefix", pipeline["topics"].prefix,
                 "--source", specs[0], "--source", specs[1], "--other-timeframes", "1h", "--no-progress"]) == 0
    assert "1h context: csv:EURUSD_1h.csv EURUSD (detected from its stamps)" in capsys.readouterr().out
    wait_for_lines(pipeline["out"], len(expected))
    time.sleep(2)  # anything beyond the expected count would be a duplicate
    sink.stop()
    assert dataset(pipeline["out"]) == expected
