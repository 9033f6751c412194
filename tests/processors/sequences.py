"""Hand-made daily bar sequences for the rule tests: quiet bases and the few bars that matter.

Every base is quiet (a constant 4-point spread, constant volume 1,000, a controlled trend) and ends at a close of
100 (``BASE_CLOSE``); the bars that matter are written as offsets from that close. ``reflect`` mirrors prices
(p -> 200 - p, high <-> low, volume unchanged): the mirrored sequence must give the mirrored reading (DOMAIN §5).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from vpa_stream.processors.config import VPAConfig
from vpa_stream.processors.engine import Engine
from vpa_stream.schemas.models import Bar, datetime_to_ms

UP, FLAT, DOWN = 1.0, 0.0, -1.0
BASE_CLOSE = 100.0
BASE_VOLUME = 1000.0
HALF_SPREAD = 2.0  # quiet bars are 4 points high to low, so mean spread and ATR are 4
MIRROR_AXIS = 100.0  # reflection p -> 2 * MIRROR_AXIS - p keeps every price of these sequences positive
FIRST_SESSION = date(2023, 1, 2)  # a Monday; 21:00 UTC is taken as the session close for every bar

Row = tuple[float, float, float, float, float]  # (open, high, low, close, volume), prices as offsets


@dataclass(frozen=True, slots=True)
class Candle:
    """A bar before it gets a symbol and times: prices and volume only."""

    open: float
    high: float
    low: float
    close: float
    volume: float = BASE_VOLUME

    def reflected(self) -> Candle:
        m2 = 2 * MIRROR_AXIS
        return Candle(m2 - self.open, m2 - self.low, m2 - self.high, m2 - self.close, self.volume)


def quiet(step: float, n: int = 60, end: float = BASE_CLOSE, volume: float = BASE_VOLUME) -> list[Candle]:
    """``n`` bars moving ``step`` a bar (each opens at the previous close), 4 points of range, equal volume."""
    bars = []
    for i in range(n):
        close = end - step * (n - 1 - i)
        open_ = close - step
        bars.append(Candle(open_, open_ + HALF_SPREAD, open_ - HALF_SPREAD, close, volume))
    return bars


def then(seq: list[Candle], *rows: Row) -> list[Candle]:
    """Append bars given as offsets from the last close of ``seq`` (the same reference for every row)."""
    ref = seq[-1].close
    return seq + [Candle(ref + o, ref + h, ref + lo, ref + c, v) for o, h, lo, c, v in rows]


def with_dip(seq: list[Candle], bars_ago: int, low: float) -> list[Candle]:
    """Replace the bar ``bars_ago`` before the end by a quiet bar whose low dips to ``low``: a swing low."""
    out = list(seq)
    i = len(out) - bars_ago
    old = out[i]
    out[i] = Candle(old.close, old.close + 1.0, low, old.close, old.volume)
    return out


def with_peak(seq: list[Candle], bars_ago: int, high: float) -> list[Candle]:
    """Replace the bar ``bars_ago`` before the end by a quiet bar whose high reaches ``high``: a swing high."""
    out = list(seq)
    i = len(out) - bars_ago
    old = out[i]
    out[i] = Candle(old.close, high, old.close - 1.0, old.close, old.volume)
    return out


def reflect(seq: list[Candle]) -> list[Candle]:
    return [c.reflected() for c in seq]


def session_close(i: int) -> datetime:
    """Close of the i-th consecutive weekday session from FIRST_SESSION, at 21:00 UTC."""
    day = FIRST_SESSION
    for _ in range(i):
        day += timedelta(days=1)
        while day.weekday() >= 5:
            day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 21, 0, tzinfo=UTC)


def records(seq: list[Candle], cfg: VPAConfig | None = None) -> list[dict[str, Any]]:
    """Feed the sequence to a fresh engine; the §6 record of every bar past the warm-up."""
    engine = Engine(cfg or VPAConfig())
    out = []
    for i, c in enumerate(seq):
        close = session_close(i)
        bar = Bar("TEST", "1d", datetime_to_ms(close - timedelta(hours=6, minutes=30)), datetime_to_ms(close),
                  c.open, c.high, c.low, c.close, c.volume)
        example = engine.update(bar)
        if example is not None:
            out.append(example.record)
    return out


def run(seq: list[Candle], cfg: VPAConfig | None = None) -> dict[str, Any]:
    """The §6 record of the sequence's last bar."""
    out = records(seq, cfg)
    assert out and out[-1]["input"]["current_candle"]["close"] == round(seq[-1].close, 2), "shorter than the warm-up"
    return out[-1]


def detected(record: dict[str, Any]) -> set[str]:
    return {name for name, p in record["input"]["pattern_analysis"].items() if p["detected"]}


def signal(record: dict[str, Any]) -> tuple[str, str, str]:
    s = record["output"]["signal"]
    return s["type"], s["strength"], s["reason"]


def evidence(record: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(pattern, bars_ago, state) of the record's evidence, primary timeframe only."""
    tf = record["input"]["primary_timeframe"]
    return [(e["pattern"], e["bars_ago"], e["state"]) for e in record["input"]["evidence"] if e["timeframe"] == tf]


def describe(seq: list[Candle], last: int = 6) -> str:
    """The last bars' patterns and the final evidence and signal: for writing and debugging sequences."""
    recs = records(seq)
    lines = []
    for r in recs[-last:]:
        c = r["input"]["current_candle"]
        m = r["input"]["vpa_metrics"]
        lines.append(f"{c['open']:7.2f} {c['high']:7.2f} {c['low']:7.2f} {c['close']:7.2f} {c['volume']:7.0f} "
                     f"vr {m['volume_ratio']} sr {m['spread_ratio']} cp {m['close_position']} "
                     f"{m['bar_direction']} {m['candle_shape']} {r['input']['trend_analysis']['status']} "
                     f"rp {r['input']['trend_analysis']['trading_range']['position']} "
                     f"{r['input']['trend_analysis']['trading_range']['state']} {sorted(detected(r))}")
    final = recs[-1]
    lines.append(f"evidence {evidence(final)} signal {signal(final)}")
    sr = final["input"]["support_resistance"]
    lines.append(f"S {[(x['price'], x['touches'], x['distance_atr']) for x in sr['nearby_support']]} "
                 f"R {[(x['price'], x['touches'], x['distance_atr']) for x in sr['nearby_resistance']]}")
    return "\n".join(lines)
