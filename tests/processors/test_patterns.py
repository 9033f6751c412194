"""The VPA patterns of DOMAIN §4 and the signal rules of §5, each shown on a hand-made daily bar sequence.

Every sequence is a quiet base (constant 4-point spread, constant volume, a controlled trend) ending at a
close of 100, then the few bars that matter, written as offsets from that close. Each pattern has a
sequence where it fires on the last bar and a minimally different one where it does not; reflecting the
prices (p -> 200 - p, high <-> low, volume unchanged) must fire the mirror pattern instead (DOMAIN §5).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from vpa_stream.processors.config import VPAConfig
from vpa_stream.processors.engine import Engine
from vpa_stream.schemas.models import Bar, datetime_to_ms

# -- the sequence builder ---------------------------------------------------------------------------------

UP, FLAT, DOWN = 1.0, 0.0, -1.0
BASE_CLOSE = 100.0  # every quiet base ends at this close: the "C" the offsets of the bars that matter refer to
BASE_VOLUME = 1000.0
HALF_SPREAD = 2.0  # quiet bars are 4 points high to low, so mean spread and ATR are 4
MIRROR_AXIS = 100.0  # reflection p -> 2 * MIRROR_AXIS - p keeps every price of these sequences positive
FIRST_SESSION = date(2023, 11, 6)  # a Monday in EST: 21:00 UTC is the 16:00 New York close until March


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


Row = tuple[float, float, float, float, float]  # (open, high, low, close, volume), prices as offsets from C


def quiet(step: float, n: int = 60, end: float = BASE_CLOSE) -> list[Candle]:
    """``n`` bars moving ``step`` a bar (each opens at the previous close), 4 points of range, equal volume."""
    bars = []
    for i in range(n):
        close = end - step * (n - 1 - i)
        open_ = close - step
        bars.append(Candle(open_, open_ + HALF_SPREAD, open_ - HALF_SPREAD, close))
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


def run(seq: list[Candle]) -> dict[str, Any]:
    """Feed the sequence to a fresh engine; the §6 record of its last bar."""
    engine = Engine(VPAConfig())
    example = None
    for i, c in enumerate(seq):
        close = session_close(i)
        bar = Bar("TEST", "1d", datetime_to_ms(close - timedelta(hours=6, minutes=30)), datetime_to_ms(close),
                  c.open, c.high, c.low, c.close, c.volume)
        example = engine.update(bar)
    assert example is not None, "sequence shorter than the warm-up"
    return example.record


def detected(record: dict[str, Any]) -> set[str]:
    return {name for name, p in record["input"]["pattern_analysis"].items() if p["detected"]}


def signal(record: dict[str, Any]) -> tuple[str, str]:
    s = record["output"]["signal"]
    return s["type"], s["strength"]


# -- the sequences ----------------------------------------------------------------------------------------
# Quiet-base last bars, as offsets from C: DOWN (o +1, h +3, l -1, c 0), UP (o -1, h +1, l -3, c 0),
# FLAT (o 0, h +2, l -2, c 0). Prior 20 bars: mean volume 1000, mean spread 4; ATR 4.

def no_supply(volume: float) -> list[Candle]:
    # down bar (close 99.5 < 100), spread 2 (ratio 0.5, NARROW), close position 0.75
    return then(quiet(DOWN), (0, 0, -2, -0.5, volume))


def new_low_bar(volume: float, low: float = -2.0) -> list[Candle]:
    # L_t 98 below L_{t-1} 99, spread 3 (ratio 0.75, not WIDE), close position 0.83
    return then(quiet(DOWN), (0, low + 3, low, 0.5, volume))


def stopping(volume: float) -> list[Candle]:
    # lowest low of 5 bars in a down trend, close position 0.75
    return then(quiet(DOWN), (0, 1, -3, 0, volume))


def climax_bottom(volume: float) -> list[Candle]:
    # spread 7 (ratio 1.75, WIDE), lowest low of 20 bars, close position 0.57
    return then(quiet(DOWN), (0, 1, -6, -2, volume))


def spring_below_prior_low(low: float) -> list[Candle]:
    # flat range without pivots: the reference is the prior 20-bar low, 98; ATR at t is 4.0 (low -3) or 4.29 (low -7)
    return then(quiet(FLAT), (0, 1, low, low + 0.75 * (1 - low), BASE_VOLUME))


def with_support() -> list[Candle]:
    # one swing low at 96, 30 bars back (older than the 20-bar fallback window, whose low is 98)
    return with_dip(quiet(FLAT), 30, 96.0)


def spring_at_support(low: float) -> list[Candle]:
    return then(with_support(), (0, 1, low, 0, BASE_VOLUME))


def effort_to_rise(volume: float) -> list[Candle]:
    # up bar, spread 7 (ratio 1.75, WIDE), close position 0.93
    return then(quiet(UP), (0, 6, -1, 5.5, volume))


def absorption(high: float) -> list[Candle]:
    # down bar on 1.8 × volume in a down trend; spread 3 (ratio 0.75) is effort without result
    return then(quiet(DOWN), (0, high, -2, -1, 1800))


def hammer_in_downtrend(high: float) -> list[Candle]:
    # lower wick 0.9, body 0.1, no upper wick when high = 1
    return then(quiet(DOWN), (0.5, high, -4, 1, BASE_VOLUME))


HAMMER_NEAR_96: Row = (0.5, 1, -4.5, 1, BASE_VOLUME)  # low 95.5: 0.5 point (about 0.12 ATR) from 96


def range_after_leg(step: float) -> list[Candle]:
    # a 45-bar leg then 40 flat bars: the last 40 bars are a range (width 1 ATR, drift 0); the 40 before
    # it moved 39 × step
    return quiet(step, n=45) + quiet(FLAT, n=40)


def anomaly(volume: float) -> list[Candle]:
    # up bar, spread 6 (ratio 1.5, WIDE), body 5/6: not a doji, and the low 98 does not undercut the range
    return then(quiet(FLAT), (-2, 4, -2, 3, volume))


def low_volume_doji(volume: float) -> list[Candle]:
    # body 0, both wicks 0.5: LONG_LEGGED_DOJI
    return then(quiet(FLAT), (0, 2, -2, 0, volume))


@dataclass(frozen=True, slots=True)
class Case:
    pattern: str
    mirror: str
    fires: str  # the behaviour the positive sequence shows (test id)
    positive: Callable[[], list[Candle]]
    does_not_fire: str  # the one condition the negative sequence breaks (test id)
    negative: Callable[[], list[Candle]]


CASES = [
    Case("NO_SUPPLY", "NO_DEMAND",
         "no_supply_fires_on_narrow_down_bar_with_volume_below_two_prior_bars", lambda: no_supply(800),
         "no_supply_does_not_fire_when_volume_equals_prior_bars", lambda: no_supply(1000)),
    Case("TEST", "TEST_OF_DEMAND",
         "test_fires_on_new_low_closing_high_on_low_falling_volume", lambda: new_low_bar(800),
         "test_does_not_fire_when_low_equals_prior_low", lambda: new_low_bar(800, low=-1.0)),
    Case("FAILED_TEST", "FAILED_TEST_OF_DEMAND",
         "failed_test_fires_on_test_bar_with_high_volume", lambda: new_low_bar(1500),
         "failed_test_does_not_fire_on_average_volume", lambda: new_low_bar(1200)),
    Case("STOPPING_VOLUME", "TOPPING_OUT_VOLUME",
         "stopping_volume_fires_on_5_bar_low_with_1_6x_volume_in_downtrend", lambda: stopping(1600),
         "stopping_volume_does_not_fire_on_1_4x_volume", lambda: stopping(1400)),
    Case("CLIMAX_BOTTOM", "CLIMAX_TOP",
         "climax_bottom_fires_on_wide_20_bar_low_with_2_5x_volume", lambda: climax_bottom(2500),
         "climax_bottom_does_not_fire_on_1_9x_volume", lambda: climax_bottom(1900)),
    Case("SPRING", "UPTHRUST",
         "spring_fires_below_prior_20_bar_low_closing_back_above", lambda: spring_below_prior_low(-3),
         "spring_does_not_fire_when_pierce_exceeds_one_atr", lambda: spring_below_prior_low(-7)),
    Case("SPRING", "UPTHRUST",
         "spring_fires_below_nearest_support_closing_back_above", lambda: spring_at_support(-5),
         "spring_does_not_fire_when_low_holds_above_support_though_below_prior_20_bar_low",
         lambda: spring_at_support(-3.5)),
    Case("EFFORT_TO_RISE", "EFFORT_TO_FALL",
         "effort_to_rise_fires_on_wide_up_bar_closing_high_on_high_volume", lambda: effort_to_rise(1500),
         "effort_to_rise_does_not_fire_on_average_volume", lambda: effort_to_rise(1200)),
    Case("ABSORPTION_BULLISH", "ABSORPTION_BEARISH",
         "absorption_bullish_fires_on_high_volume_narrowish_down_bar_in_downtrend", lambda: absorption(1),
         "absorption_bullish_does_not_fire_when_spread_ratio_above_0_8", lambda: absorption(1.5)),
    Case("HAMMER_AT_LOW", "SHOOTING_STAR_AT_HIGH",
         "hammer_at_low_fires_on_hammer_in_downtrend", lambda: hammer_in_downtrend(1),
         "hammer_at_low_does_not_fire_when_upper_wick_too_long_for_a_hammer", lambda: hammer_in_downtrend(2)),
    Case("HAMMER_AT_LOW", "SHOOTING_STAR_AT_HIGH",
         "hammer_at_low_fires_on_hammer_within_one_atr_of_support_in_sideways_market",
         lambda: then(with_support(), HAMMER_NEAR_96),
         "hammer_at_low_does_not_fire_in_sideways_market_without_support",
         lambda: then(quiet(FLAT), HAMMER_NEAR_96)),
    Case("ACCUMULATION", "DISTRIBUTION",
         "accumulation_fires_on_range_after_decline_of_9_75_atr", lambda: range_after_leg(DOWN),
         "accumulation_does_not_fire_on_range_after_decline_of_1_95_atr", lambda: range_after_leg(-0.2)),
    Case("ANOMALY", "ANOMALY",
         "anomaly_fires_on_wide_spread_with_low_volume", lambda: anomaly(600),
         "anomaly_does_not_fire_on_wide_spread_with_average_volume", lambda: anomaly(800)),
    Case("LOW_VOLUME_DOJI", "LOW_VOLUME_DOJI",
         "low_volume_doji_fires_on_long_legged_doji_with_low_volume", lambda: low_volume_doji(500),
         "low_volume_doji_does_not_fire_on_average_volume", lambda: low_volume_doji(800)),
]

#: DOMAIN §4, written out independently of the engine's tables.
DIRECTIONS = {
    "NO_SUPPLY": "BULLISH", "NO_DEMAND": "BEARISH", "TEST": "BULLISH", "TEST_OF_DEMAND": "BEARISH",
    "FAILED_TEST": "NEUTRAL", "FAILED_TEST_OF_DEMAND": "NEUTRAL", "STOPPING_VOLUME": "BULLISH",
    "TOPPING_OUT_VOLUME": "BEARISH", "CLIMAX_BOTTOM": "BULLISH", "CLIMAX_TOP": "BEARISH", "SPRING": "BULLISH",
    "UPTHRUST": "BEARISH", "EFFORT_TO_RISE": "BULLISH", "EFFORT_TO_FALL": "BEARISH",
    "ABSORPTION_BULLISH": "BULLISH", "ABSORPTION_BEARISH": "BEARISH", "HAMMER_AT_LOW": "BULLISH",
    "SHOOTING_STAR_AT_HIGH": "BEARISH", "ACCUMULATION": "BULLISH", "DISTRIBUTION": "BEARISH",
    "ANOMALY": "NEUTRAL", "LOW_VOLUME_DOJI": "NEUTRAL",
}


def _by(attr: str) -> list[Any]:
    return [pytest.param(case, id=getattr(case, attr)) for case in CASES]


def test_cases_cover_every_pattern_of_domain_section_4() -> None:
    covered = {case.pattern for case in CASES} | {case.mirror for case in CASES}
    assert covered == set(DIRECTIONS)


def test_record_lists_every_pattern_with_its_domain_direction() -> None:
    patterns = run(no_supply(800))["input"]["pattern_analysis"]
    assert {name: p["direction"] for name, p in patterns.items()} == DIRECTIONS


# -- each pattern: fires, does not fire, and the reflection fires the mirror ----------------------------

@pytest.mark.parametrize("case", _by("fires"))
def test_pattern_fires_on_last_bar(case: Case) -> None:
    assert case.pattern in detected(run(case.positive()))


@pytest.mark.parametrize("case", _by("does_not_fire"))
def test_pattern_does_not_fire_when_one_condition_fails(case: Case) -> None:
    assert case.pattern not in detected(run(case.negative()))


@pytest.mark.parametrize("case", _by("fires"))
def test_reflected_sequence_fires_the_mirror_pattern(case: Case) -> None:
    found = detected(run(reflect(case.positive())))
    assert case.mirror in found
    if case.mirror != case.pattern:
        assert case.pattern not in found


@pytest.mark.parametrize("case", _by("does_not_fire"))
def test_reflected_negative_does_not_fire_the_mirror_pattern(case: Case) -> None:
    assert case.mirror not in detected(run(reflect(case.negative())))


@pytest.mark.parametrize("case", _by("fires"))
def test_reflected_sequence_mirrors_every_pattern_and_the_signal(case: Case) -> None:
    mirror_of = {c.pattern: c.mirror for c in CASES} | {c.mirror: c.pattern for c in CASES}
    record, reflected = run(case.positive()), run(reflect(case.positive()))
    assert detected(reflected) == {mirror_of[name] for name in detected(record)}
    flip = {"BUY": "SELL", "SELL": "BUY", "HOLD": "HOLD"}
    kind, strength = signal(record)
    assert signal(reflected) == (flip[kind], strength)


# -- details the rules read -----------------------------------------------------------------------------

def test_spring_reference_is_the_prior_20_bar_low_when_no_support_exists() -> None:
    details = run(spring_below_prior_low(-3))["input"]["pattern_analysis"]["SPRING"]["details"]
    assert (details["reference"], details["level"], details["volume_class"]) == ("PRIOR_LOW", 98.0, "AVERAGE")


def test_spring_reference_is_the_nearest_support_as_of_the_previous_bar() -> None:
    details = run(spring_at_support(-5))["input"]["pattern_analysis"]["SPRING"]["details"]
    assert (details["reference"], details["level"]) == ("SUPPORT", 96.0)


def test_spring_does_not_fire_when_close_stays_below_the_level() -> None:
    # low 97 pierces 98 by 1 point and the bar closes in its upper third, but at 97.9, under 98
    record = run(then(quiet(FLAT), (-2.5, -1.9, -3, -2.1, BASE_VOLUME)))
    assert record["input"]["vpa_metrics"]["close_position"] >= 2 / 3
    assert "SPRING" not in detected(record)


def test_failed_test_is_reported_as_neutral() -> None:
    pattern = run(new_low_bar(1500))["input"]["pattern_analysis"]["FAILED_TEST"]
    assert (pattern["detected"], pattern["direction"]) == (True, "NEUTRAL")


def test_test_and_failed_test_never_fire_on_the_same_bar() -> None:
    for volume in (800, 1000, 1200, 1500, 2500):
        assert not {"TEST", "FAILED_TEST"} <= detected(run(new_low_bar(volume)))


def test_stopping_volume_does_not_fire_above_sma20_in_a_sideways_market() -> None:
    # the stopping bar of the down-trend case, on a flat base: its close 100 is not below SMA20 (100)
    record = run(then(quiet(FLAT), (0, 1, -3, 0, 1600)))
    assert record["input"]["trend_analysis"]["status"] == "SIDEWAYS"
    assert "STOPPING_VOLUME" not in detected(record)


def test_absorption_bullish_does_not_fire_on_an_up_bar() -> None:
    # same spread and volume as the positive case, but closing above the previous close
    assert "ABSORPTION_BULLISH" not in detected(run(then(quiet(DOWN), (0, 2, -1, 1, 1800))))


def test_test_does_not_fire_when_volume_ratio_rounds_to_one() -> None:
    # 998 against a mean of 1000.5 is 0.9975, shown (and compared) as 1.0, which is not below 1.0
    seq = then(quiet(DOWN), (1, 3, -1, 0, 1005), (0, 2, -2, 0, 1005), (0, 1, -3, 0.5, 998))
    record = run(seq)
    assert record["input"]["vpa_metrics"]["volume_ratio"] == 1.0
    assert "TEST" not in detected(record)


@pytest.mark.parametrize(("close", "expected"), [(-0.5, {"CLIMAX_TOP"}), (0.5, {"CLIMAX_BOTTOM"}), (0.0, set())])
def test_an_outside_bar_at_both_20_bar_extremes_is_at_most_one_climax(close: float, expected: set[str]) -> None:
    """Issue 2: CLIMAX_TOP never fires with CLIMAX_BOTTOM. An outside climax bar at both extremes is decided
    by its close: upper half a bottom, lower half a top, dead centre neither (mirror-symmetric)."""
    record = run(then(quiet(FLAT), (0, 4, -4, close, 2500)))
    assert detected(record) & {"CLIMAX_BOTTOM", "CLIMAX_TOP"} == expected


# -- §5 signal ------------------------------------------------------------------------------------------

SPRING_BAR: Row = (0, 1, -3, 0.5, BASE_VOLUME)  # on a flat base: pierces 98 by 1, closes 100.5 (cp 0.88)


def test_signal_is_buy_on_climax_bottom_without_bearish_pattern() -> None:
    record = run(climax_bottom(2500))
    assert not {n for n in detected(record) if DIRECTIONS[n] == "BEARISH"}
    assert signal(record)[0] == "BUY"


def test_signal_is_sell_on_climax_top_with_the_strength_of_the_mirrored_buy() -> None:
    buy, sell = run(climax_bottom(2500)), run(reflect(climax_bottom(2500)))
    assert "CLIMAX_TOP" in detected(sell)
    assert signal(sell) == ("SELL", signal(buy)[1])


def test_signal_is_hold_strong_on_low_volume_doji_even_with_a_bullish_score_over_threshold() -> None:
    # a long-legged doji (body 0.06, wicks 0.31 / 0.63) on 0.6x volume that also springs from 98
    record = run(then(quiet(FLAT), (-0.5, 1, -3, -0.25, 600)))
    assert {"LOW_VOLUME_DOJI", "SPRING"} <= detected(record)
    assert signal(record) == ("HOLD", "STRONG")


def test_signal_is_hold_strong_on_unconfirmed_anomaly() -> None:
    record = run(anomaly(600))
    assert detected(record) == {"ANOMALY"}
    assert signal(record) == ("HOLD", "STRONG")


def test_signal_is_hold_strong_when_equal_weight_bullish_and_bearish_patterns_conflict() -> None:
    # SPRING (weight 3) at t-1 is confirmed by an up bar closing at 0.57 that is itself a CLIMAX_TOP (weight 3)
    record = run(then(quiet(FLAT), SPRING_BAR, (0.5, 5, -2, 2, 2500)))
    assert {"SPRING@t-1", "CLIMAX_TOP"} <= set(record["meta"]["rules_fired"])
    assert signal(record) == ("HOLD", "STRONG")


def test_confirmation_of_pattern_at_t_minus_1_by_up_bar_closing_in_upper_half() -> None:
    record = run(then(quiet(FLAT), SPRING_BAR, (0.5, 2, 0, 1.5, BASE_VOLUME)))
    assert "SPRING@t-1" in record["meta"]["rules_fired"]


def test_confirmation_of_pattern_at_t_minus_2_by_up_bar_closing_in_upper_half() -> None:
    record = run(then(quiet(FLAT), SPRING_BAR, (0.5, 1.5, -0.5, 0.5, BASE_VOLUME), (0.5, 2.5, 0, 2, BASE_VOLUME)))
    assert "SPRING@t-2" in record["meta"]["rules_fired"]


def test_no_confirmation_when_up_bar_closes_in_lower_half() -> None:
    # up bar (100.75 > 100.5) but closing at 0.375 of its range
    record = run(then(quiet(FLAT), SPRING_BAR, (0.5, 2, 0, 0.75, BASE_VOLUME)))
    assert record["input"]["vpa_metrics"]["bar_direction"] == "UP"
    assert not any(rule.startswith("SPRING@") for rule in record["meta"]["rules_fired"])
