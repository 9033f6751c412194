"""The VPA patterns of DOMAIN §4 (rules v2), each shown on a hand-made daily bar sequence.

Each pattern has a sequence where it fires on the last bar and a minimally different one where it does not;
reflecting the prices must fire the mirror pattern instead (DOMAIN §5). The bases and the builder are in
tests/processors/sequences.py; the signal read from these patterns is in test_signal_sequences.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.processors.sequences import (
    BASE_VOLUME,
    DOWN,
    FLAT,
    UP,
    Candle,
    detected,
    quiet,
    reflect,
    run,
    signal,
    then,
    with_dip,
)
from vpa_stream.processors.engine.patterns import CATALOGUE, EXCLUSIVE, MIRROR

ACCUMULATION_BASE = quiet(DOWN, n=45) + quiet(FLAT, n=50)


def no_supply(volume: float) -> list[Candle]:
    # down bar (close 99.5 < 100), spread 2 (ratio 0.5, NARROW), close position 0.75
    return then(quiet(DOWN), (0, 0, -2, -0.5, volume))


def test_probe(volume: float) -> list[Candle]:
    # L 97.5 under the range low 98, lower wick 0.71, spread ratio 0.88, close position 0.86
    return then(quiet(FLAT), (0, 1, -2.5, 0.5, volume))


test_probe.__test__ = False  # type: ignore[attr-defined]  # a builder, not a test


def failed_probe(volume: float) -> list[Candle]:
    # a lower low with a lower wick of 0.5, spread ratio 0.75, closing mid-bar (0.5)
    return then(quiet(DOWN), (0, 1, -2, -0.5, volume))


def stopping(volume: float) -> list[Candle]:
    # the lowest low of 5 bars in a down trend, close position 0.75
    return then(quiet(DOWN), (0, 1, -3, 0, volume))


def climax(base: list[Candle], volume: float) -> list[Candle]:
    # spread 7 (ratio 1.75, WIDE), the lowest low of 20 bars, close position 0.57
    return then(base, (0, 1, -6, -2, volume))


def spring(low: float) -> list[Candle]:
    # an accumulation range (low 98) after a fall; the bar dips to 100 + low and closes at 0.88 of its range
    return then(ACCUMULATION_BASE, (0, 1, low, 0.5, 1500))


def effort_to_rise(volume: float) -> list[Candle]:
    # up bar, spread 7 (ratio 1.75, WIDE), close position 0.93
    return then(quiet(UP), (0, 6, -1, 5.5, volume))


def absorption(high: float, close: float = -0.4) -> list[Candle]:
    # down bar on 1.8x volume in a down trend closing off its low (0.66); spread 3.2 (ratio 0.8) is effort without
    # result
    return then(quiet(DOWN), (0, high, -2.5, close, 1800))


def hammer(base: list[Candle], high: float = 1.0, volume: float = BASE_VOLUME) -> list[Candle]:
    # lower wick 0.86, body 0.14, no upper wick when high = 1; the low 97.5 is 0.37 ATR under the prior low 99
    return then(base, (0.5, high, -2.5, 1, volume))


def range_after_leg(step: float) -> list[Candle]:
    # a 45-bar leg then 50 flat bars: the last 40 bars are a range (width 1 ATR, drift 0); the 40 before it moved
    # 39 x step
    return quiet(step, n=45) + quiet(FLAT, n=50)


def anomaly(volume: float) -> list[Candle]:
    # up bar, spread 6 (ratio 1.5, WIDE), body 5/6: not a doji, and the low 98 does not undercut the range
    return then(quiet(FLAT), (-2, 4, -2, 3, volume))


def low_volume_doji(half_range: float, volume: float = 500) -> list[Candle]:
    # body 0, both wicks 0.5: LONG_LEGGED_DOJI; a half range of 2 is a full average spread
    return then(quiet(FLAT), (0, half_range, -half_range, 0, volume))


@dataclass(frozen=True, slots=True)
class Case:
    pattern: str
    fires: str  # the behaviour the positive sequence shows (test id)
    positive: Callable[[], list[Candle]]
    does_not_fire: str  # the one condition the negative sequence breaks (test id)
    negative: Callable[[], list[Candle]]

    @property
    def mirror(self) -> str:
        return MIRROR[self.pattern]


CASES = [
    Case("NO_SUPPLY", "no_supply_fires_on_narrow_down_bar_with_volume_below_two_prior_bars", lambda: no_supply(800),
         "no_supply_does_not_fire_when_volume_equals_prior_bars", lambda: no_supply(1000)),
    Case("TEST", "test_fires_on_a_rejected_probe_under_the_prior_low_on_light_falling_volume", lambda: test_probe(800),
         "test_does_not_fire_when_volume_equals_the_prior_bars", lambda: test_probe(1000)),
    Case("FAILED_TEST", "failed_test_fires_on_a_probe_with_high_volume_closing_mid_bar", lambda: failed_probe(1500),
         "failed_test_does_not_fire_on_average_volume", lambda: failed_probe(1200)),
    Case("STOPPING_VOLUME", "stopping_volume_fires_on_5_bar_low_with_1_6x_volume_in_downtrend", lambda: stopping(1600),
         "stopping_volume_does_not_fire_on_average_volume", lambda: stopping(1250)),
    Case("STOPPING_VOLUME", "stopping_volume_fires_on_a_high_volume_dip_closing_in_its_top_third",
         lambda: stopping(1400),
         "stopping_volume_does_not_fire_above_sma20_in_a_sideways_market",
         lambda: then(quiet(FLAT), (0, 1, -3, 0, 1600))),
    Case("CLIMAX_BOTTOM", "climax_bottom_fires_on_wide_20_bar_low_with_2_5x_volume_after_a_decline",
         lambda: climax(quiet(DOWN), 2500),
         "climax_bottom_does_not_fire_without_a_decline_before_it", lambda: climax(quiet(FLAT), 2500)),
    Case("CLIMAX_BOTTOM", "climax_bottom_fires_on_2_0x_volume", lambda: climax(quiet(DOWN), 2000),
         "climax_bottom_does_not_fire_on_1_9x_volume", lambda: climax(quiet(DOWN), 1900)),
    Case("SPRING", "spring_fires_below_the_prior_20_bar_low_inside_accumulation", lambda: spring(-3),
         "spring_does_not_fire_when_the_pierce_exceeds_one_atr", lambda: spring(-7)),
    Case("SPRING", "spring_fires_on_a_pierce_of_0_15_atr", lambda: spring(-2.6),
         "spring_does_not_fire_on_a_pierce_under_0_15_atr", lambda: spring(-2.4)),
    Case("SPRING", "spring_fires_below_a_support_of_two_touches",
         lambda: then(with_dip(with_dip(ACCUMULATION_BASE, 30, 96.0), 15, 96.1), (0, 1, -5, 0, BASE_VOLUME)),
         "spring_does_not_fire_in_the_upper_part_of_a_neutral_range",
         lambda: then(quiet(FLAT), (0, 1, -3, 0.5, 1500))),
    Case("EFFORT_TO_RISE", "effort_to_rise_fires_on_wide_up_bar_closing_high_on_high_volume",
         lambda: effort_to_rise(1500),
         "effort_to_rise_does_not_fire_on_average_volume", lambda: effort_to_rise(1200)),
    Case("ABSORPTION_BULLISH", "absorption_bullish_fires_on_high_volume_narrowish_down_bar_in_downtrend",
         lambda: absorption(0.7),
         "absorption_bullish_does_not_fire_when_spread_ratio_above_0_8", lambda: absorption(1.0)),
    Case("ABSORPTION_BULLISH", "absorption_bullish_fires_on_a_heavy_narrow_down_bar_closing_off_its_low",
         lambda: absorption(0.7), "absorption_bullish_does_not_fire_on_a_heavy_narrow_down_bar_closing_on_its_low",
         lambda: absorption(0.7, close=-2.3)),
    Case("ABSORPTION_BULLISH", "absorption_bullish_fires_on_a_down_bar_closing_in_its_top_third_in_an_up_trend",
         lambda: then(quiet(UP), (-0.5, -0.1, -2.5, -0.4, 1800)),
         "absorption_bullish_does_not_fire_on_a_down_bar_closing_low_in_an_up_trend",
         lambda: then(quiet(UP), (-0.5, -0.1, -2.5, -2.3, 1800))),
    Case("HAMMER_AT_LOW", "hammer_at_low_fires_on_a_hammer_at_the_prior_low_after_a_decline",
         lambda: hammer(quiet(DOWN)),
         "hammer_at_low_does_not_fire_when_upper_wick_too_long_for_a_hammer", lambda: hammer(quiet(DOWN), high=2)),
    Case("HAMMER_AT_LOW", "hammer_at_low_fires_on_light_volume_too",
         lambda: hammer(quiet(DOWN), volume=650),
         "hammer_at_low_does_not_fire_in_a_sideways_market", lambda: hammer(quiet(FLAT))),
    Case("ACCUMULATION", "accumulation_fires_on_range_after_decline_of_9_75_atr", lambda: range_after_leg(DOWN),
         "accumulation_does_not_fire_on_range_after_decline_of_1_95_atr", lambda: range_after_leg(-0.2)),
    Case("ANOMALY", "anomaly_fires_on_wide_spread_with_low_volume", lambda: anomaly(600),
         "anomaly_does_not_fire_on_wide_spread_with_average_volume", lambda: anomaly(800)),
    Case("LOW_VOLUME_DOJI", "low_volume_doji_fires_on_long_legged_doji_with_low_volume_and_a_full_range",
         lambda: low_volume_doji(2),
         "low_volume_doji_does_not_fire_on_a_narrow_range", lambda: low_volume_doji(1.5)),
    Case("LOW_VOLUME_DOJI", "low_volume_doji_fires_on_very_low_volume", lambda: low_volume_doji(2, 300),
         "low_volume_doji_does_not_fire_on_average_volume", lambda: low_volume_doji(2, 800)),
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


def test_the_catalogue_pairs_every_pattern_with_its_mirror_in_one_family() -> None:
    for name, pattern in CATALOGUE.items():
        mirror = CATALOGUE[pattern.mirror]
        assert mirror.mirror == name
        assert mirror.family == pattern.family
        assert {pattern.direction, mirror.direction} in ({"BULLISH", "BEARISH"}, {"NEUTRAL"})
        assert pattern.source and pattern.words.gloss


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
    record, reflected = run(case.positive()), run(reflect(case.positive()))
    assert detected(reflected) == {MIRROR[name] for name in detected(record)}
    flip = {"BUY": "SELL", "SELL": "BUY", "HOLD": "HOLD"}
    kind, strength, reason = signal(record)
    assert signal(reflected) == (flip[kind], strength, reason)


# -- details the rules read -----------------------------------------------------------------------------

def test_spring_reference_is_the_prior_20_bar_low_without_a_support_of_two_touches() -> None:
    details = run(spring(-3))["input"]["pattern_analysis"]["SPRING"]["details"]
    assert (details["reference"], details["level"], details["volume_class"]) == ("PRIOR_LOW", 98.0, "HIGH")


def test_spring_reference_is_a_support_of_two_touches_as_of_the_previous_bar() -> None:
    seq = then(with_dip(with_dip(ACCUMULATION_BASE, 30, 96.0), 15, 96.1), (0, 1, -5, 0, BASE_VOLUME))
    details = run(seq)["input"]["pattern_analysis"]["SPRING"]["details"]
    assert (details["reference"], details["level"]) == ("SUPPORT", 96.05)


def test_spring_does_not_fire_below_a_support_of_one_touch_that_the_prior_low_does_not_confirm() -> None:
    # the low 95 pierces the one-touch support 96 by 0.25 ATR, but the prior 20-bar low 98 by 0.75 ATR: the
    # spring is read against the prior low only
    seq = then(with_dip(ACCUMULATION_BASE, 30, 96.0), (0, 1, -5, 0, BASE_VOLUME))
    details = run(seq)["input"]["pattern_analysis"]["SPRING"]["details"]
    assert details["reference"] == "PRIOR_LOW"


def test_spring_does_not_fire_when_close_stays_below_the_level() -> None:
    # low 97 pierces 98 by 1 point and the bar closes in its upper third, but at 97.9, under 98
    record = run(then(ACCUMULATION_BASE, (-2.5, -1.9, -3, -2.1, BASE_VOLUME)))
    assert record["input"]["vpa_metrics"]["close_position"] >= 2 / 3
    assert "SPRING" not in detected(record)


def test_failed_test_is_reported_as_neutral_and_overrules_stopping_volume_and_absorption() -> None:
    record = run(failed_probe(1600))
    pattern = record["input"]["pattern_analysis"]["FAILED_TEST"]
    assert (pattern["detected"], pattern["direction"]) == (True, "NEUTRAL")
    assert not {"STOPPING_VOLUME", "ABSORPTION_BULLISH"} & detected(record)


def test_test_and_failed_test_never_fire_on_the_same_bar() -> None:
    for volume in (800, 1000, 1200, 1500, 2500):
        assert not {"TEST", "FAILED_TEST"} <= detected(run(test_probe(volume)))
        assert not {"TEST", "FAILED_TEST"} <= detected(run(failed_probe(volume)))


def test_stopping_volume_details_name_its_form() -> None:
    assert run(stopping(1600))["input"]["pattern_analysis"]["STOPPING_VOLUME"]["details"]["form"] == "NEW_LOW"
    assert run(stopping(1400))["input"]["pattern_analysis"]["STOPPING_VOLUME"]["details"]["form"] == "DIP"


def test_absorption_bullish_does_not_fire_on_an_up_bar() -> None:
    # same spread and volume as the positive case, but closing above the previous close
    assert "ABSORPTION_BULLISH" not in detected(run(then(quiet(DOWN), (0, 2, -1, 1, 1800))))


def test_absorption_bearish_is_supply_meeting_a_rally_not_demand() -> None:
    """A narrow heavy-volume up bar closing low is supply: ABSORPTION_BEARISH, a bearish pattern (issue 10)."""
    record = run(then(quiet(FLAT), (0, 1.5, -1, -0.8 + 1.0, 1800)))
    assert "ABSORPTION_BEARISH" in detected(record)
    assert CATALOGUE["ABSORPTION_BEARISH"].direction == "BEARISH"
    assert "supply" in CATALOGUE["ABSORPTION_BEARISH"].words.gloss


def test_test_does_not_fire_when_volume_ratio_rounds_to_one() -> None:
    # 998 against a mean of 1000.5 is 0.9975, shown (and compared) as 1.0, which is not below 1.0
    seq = then(quiet(FLAT), (0, 2, -2, 0, 1005), (0, 2, -2, 0, 1005), (0, 1, -2.5, 0.5, 998))
    record = run(seq)
    assert record["input"]["vpa_metrics"]["volume_ratio"] == 1.0
    assert "TEST" not in detected(record)


@pytest.mark.parametrize(("close", "fires"), [(9.4, True), (6.6, False)])
def test_an_outside_bar_at_both_20_bar_extremes_is_a_climax_bottom_only_when_it_closes_in_its_upper_half(
        close: float, fires: bool) -> None:
    record = run(then(quiet(DOWN), (0, 22, -6, close, 2500)))
    assert ("CLIMAX_BOTTOM" in detected(record)) is fires
    assert "CLIMAX_TOP" not in detected(record)


def test_a_hammer_on_light_volume_says_so_in_its_details() -> None:
    details = run(hammer(quiet(DOWN), volume=650))["input"]["pattern_analysis"]["HAMMER_AT_LOW"]["details"]
    assert details["volume_class"] == "LOW"


def test_a_range_state_needs_five_agreeing_bars() -> None:
    """The first range bars after the leg are read only once five in a row agree (§3 hysteresis)."""
    base = quiet(DOWN, n=45) + quiet(FLAT, n=50)
    states = []
    for n in range(82, 90):
        states.append(run(base[:n])["input"]["trend_analysis"]["trading_range"]["state"])
    assert states[0] == "NONE" and states[-1] == "ACCUMULATION"
    first = states.index("ACCUMULATION")
    assert states[first:] == ["ACCUMULATION"] * (len(states) - first)


def test_exclusive_patterns_are_declared_in_both_mirrors() -> None:
    pairs = {frozenset(pair) for pair in EXCLUSIVE}
    for a, b in EXCLUSIVE:
        assert frozenset((MIRROR[a], MIRROR[b])) in pairs
