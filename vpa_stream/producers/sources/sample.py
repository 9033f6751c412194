"""The bundled sample: AAPL, MSFT and IBM daily bars 2000-2013 from the bokeh-sampledata package (offline).

Prices are as traded (unadjusted); the file's adjusted close marks the splits, which the engine applies
point in time. GOOG is in the file too but its volume is about twice too high, so it is left out.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pandas as pd

from vpa_stream.producers.sources.base import RawSeries, Source, SourceError
from vpa_stream.producers.sources.files import frame_series

SAMPLE_SYMBOLS = ("AAPL", "MSFT", "IBM")


def sample_path() -> Path:
    spec = importlib.util.find_spec("bokeh_sampledata")
    if spec is None or not spec.submodule_search_locations:
        raise SourceError("the sample source needs the bokeh-sampledata package (pip install bokeh-sampledata)")
    path = Path(next(iter(spec.submodule_search_locations))) / "_data" / "stocks.csv.gz"
    if not path.exists():
        raise SourceError(f"{path}: sample data missing from the bokeh-sampledata package")
    return path


class SampleSource(Source):
    name = "sample:bokeh-sampledata/stocks"

    def read(self) -> Iterator[RawSeries]:
        frame = pd.read_csv(sample_path())
        frame = frame[frame["Ticker"].isin(SAMPLE_SYMBOLS)]
        yield from frame_series(frame, "sample", replace(self.options, timeframe="1d"), default_symbol="SAMPLE")
