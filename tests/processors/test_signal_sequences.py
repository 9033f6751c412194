"""The signal of DOMAIN §5 on textbook bar sequences, each named after what it teaches and each also mirrored.

A sequence is a quiet base (tests/processors/sequences.py) and the few bars that matter. Every lesson states the
signal (type, strength, reason) the rules must give and, where it matters, the evidence states behind it; the
reflected sequence must give the mirrored signal (BUY <-> SELL, same strength and reason) and mirrored evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from tests.processors.sequences import (
    DOWN,
    FLAT,
    UP,
    Candle,
    detected,
    evidence,
    quiet,
    reflect,
    run,
    signal,
    then,
    with_peak,
)
from vpa_stream.processors.engine.patterns import MIRROR

FLIP = {"BUY": "SELL", "SELL": "BUY", "HOLD": "HOLD"}

# -- bases: each ends at a close of 100 -------------------------------------------------------------------------
ACCUMULATION = quiet(DOWN, n=45) + quiet(FLAT, n=50)  # a 40-bar range after a fall of ~10 ATR
DISTRIBUTION = quiet(UP, n=45) + quiet(FLAT, n=50)
FLAT_RANGE = quiet(FLAT)  # a range with no leg before it: NEUTRAL
DOWN_TREND = quiet(DOWN)
UP_TREND = quiet(UP)
LONG_DECLINE = quiet(DOWN, n=200)  # long enough for 25 weekly bars: the weekly trend is DOWN

# -- the bars that matter (offsets from the base's last close of 100) -------------------------------------------
SPRING = (0, 1, -3, 0.5, 1500)  # pierces the range low 98 by 0.25 ATR, closes at 0.88 of its bar
RALLY = (0.5, 2.2, -1.0, 1.5, 900)  # a modest up bar off the spring, on less volume than the spring
LOW_VOLUME_TEST = (0.8, 1.3, -2.6, 0.9, 550)  # back to 97.4, holding the spring low (97), closes 100.9 on 550
UP_ON_RISING_VOLUME = (0.5, 3, 0, 2.8, 1200)  # above the spring's close, top third, body 0.77, 1,200 > 600
SIGN_OF_STRENGTH = (0.9, 3.4, 0.2, 3.2, 1200)  # after the test: top third, body 0.72, 1,200 > 550
STOPPING = (-0.5, 0.5, -3, -0.5, 1600)  # a 5-bar low on 1.6x volume closing at 0.71, below SMA20
LIGHT_UPTHRUST = (1.5, 3, 0.4, 0.8, 700)  # pierces the range high 102 and closes at 0.15 of its bar on 700
UPTHRUST_AFTER_ADVANCE = (0, 2, -1.5, -0.5, 1200)  # over the 20-bar high 101, closes at 0.29
WIDE_DOWN_ON_RISING_VOLUME = (-0.5, 0, -6, -5.5, 1800)
EFFORT_TO_FALL = (0, 0.5, -5.5, -5, 1600)
NO_DEMAND_AFTER_DROP = (-4.8, -3.5, -5, -4.5, 700)  # a narrow up bar on less volume than the two before
NO_SUPPLY = (0, 0, -2, -0.5, 800)
TEST = (0, 1, -2.5, 0.5, 800)  # a lower low, lower wick 0.71, closes at 0.86 on 0.8x volume
CLIMAX_BOTTOM = (0, 1, -6, -2, 2500)  # wide (1.75x), 2.5x volume, the 20-bar low, closes at 0.57
NO_SUPPLY_AFTER_CLIMAX = (-2.4, -1.8, -3, -2.1, 900)  # down bar, narrow, less volume than the climax
LOW_VOLUME_DOJI = (0, 2, -2, 0, 500)
ANOMALY = (-2, 4, -2, 3, 600)  # 1.5x spread on 0.6x volume
EFFORT_TO_RISE = (0, 6, -1, 5.5, 1500)


def resistance_at(price: float) -> list[Candle]:
    """The accumulation base with a proven resistance: two swing highs at ``price``, 30 and 20 bars back."""
    return with_peak(with_peak(ACCUMULATION, 30, price), 20, price + 0.05)


@dataclass(frozen=True)
class Lesson:
    name: str
    sequence: Callable[[], list[Candle]]
    expected: tuple[str, str, str]
    states: dict[tuple[str, int], str] = field(default_factory=dict)  # (pattern, bars_ago) -> evidence state
    absent: frozenset[str] = frozenset()  # patterns that must not fire on the last bar

    def __str__(self) -> str:
        return self.name


LESSONS = [
    Lesson("spring_then_low_volume_test_then_up_bar_on_rising_volume_is_buy_strong_when_there_is_room",
           lambda: then(ACCUMULATION, SPRING, RALLY, LOW_VOLUME_TEST, SIGN_OF_STRENGTH), ("BUY", "STRONG", "CONFIRMED"),
           {("SPRING", 3): "CONFIRMED", ("TEST", 1): "CONFIRMED"}),
    Lesson("the_same_sequence_is_buy_moderate_when_resistance_is_within_one_atr",
           lambda: then(resistance_at(106.0), SPRING, RALLY, LOW_VOLUME_TEST, SIGN_OF_STRENGTH),
           ("BUY", "MODERATE", "CONFIRMED")),
    Lesson("the_same_sequence_is_buy_weak_when_resistance_is_within_half_an_atr",
           lambda: then(resistance_at(105.0), SPRING, RALLY, LOW_VOLUME_TEST, SIGN_OF_STRENGTH),
           ("BUY", "WEAK", "CONFIRMED")),
    Lesson("a_test_that_takes_out_the_spring_low_voids_the_spring_and_carries_the_chain_itself",
           lambda: then(ACCUMULATION, SPRING, (0.5, 0.5, -3.2, 0.3, 600), UP_ON_RISING_VOLUME),
           ("BUY", "MODERATE", "CONFIRMED"), {("SPRING", 2): "VOID", ("TEST", 1): "CONFIRMED"}),
    Lesson("stopping_volume_then_a_light_volume_upthrust_is_hold_conflict_never_sell",
           lambda: then(FLAT_RANGE, STOPPING, LIGHT_UPTHRUST), ("HOLD", "STRONG", "CONFLICT"),
           {("STOPPING_VOLUME", 1): "LIVE", ("UPTHRUST", 0): "LIVE"}),
    Lesson("an_upthrust_after_an_advance_then_a_wide_down_bar_on_rising_volume_is_sell",
           lambda: then(UP_TREND, UPTHRUST_AFTER_ADVANCE, WIDE_DOWN_ON_RISING_VOLUME), ("SELL", "STRONG", "CONFIRMED"),
           {("UPTHRUST", 1): "CONFIRMED", ("EFFORT_TO_FALL", 0): "LIVE"}),
    Lesson("a_no_demand_bar_after_effort_to_fall_in_a_down_trend_is_sell_but_never_strong",
           lambda: then(DOWN_TREND, EFFORT_TO_FALL, NO_DEMAND_AFTER_DROP), ("SELL", "MODERATE", "UNCONFIRMED"),
           {("EFFORT_TO_FALL", 1): "LIVE", ("NO_DEMAND", 0): "LIVE"}),
    Lesson("a_lone_no_supply_bar_in_mid_range_is_hold_lean",
           lambda: then(FLAT_RANGE, NO_SUPPLY), ("HOLD", "WEAK", "LEAN"), {("NO_SUPPLY", 0): "LIVE"}),
    Lesson("a_lone_test_never_makes_a_buy",
           lambda: then(FLAT_RANGE, TEST), ("HOLD", "WEAK", "LEAN"), {("TEST", 0): "LIVE"}),
    Lesson("a_doji_follow_through_confirms_nothing",
           lambda: then(ACCUMULATION, SPRING, (1.9, 2.5, -1.2, 2.0, 1600)), ("BUY", "WEAK", "UNCONFIRMED"),
           {("SPRING", 1): "LIVE"}),
    Lesson("a_follow_through_on_falling_volume_confirms_nothing",
           lambda: then(ACCUMULATION, SPRING, (0.5, 3, 0, 2.8, 900)), ("BUY", "WEAK", "UNCONFIRMED"),
           {("SPRING", 1): "LIVE"}),
    Lesson("a_follow_through_closing_mid_bar_confirms_nothing",
           lambda: then(ACCUMULATION, SPRING, (0.5, 3.5, -0.5, 1.5, 1600)), ("BUY", "WEAK", "UNCONFIRMED"),
           {("SPRING", 1): "LIVE"}),
    Lesson("a_spring_negated_by_a_later_close_below_its_low_is_void_and_counts_for_nothing",
           lambda: then(ACCUMULATION, SPRING, (0.5, 1, -4, -3.5, 1200)), ("HOLD", "MODERATE", "NO_EDGE"),
           {("SPRING", 1): "VOID"}),
    Lesson("a_spring_whose_high_is_a_20_bar_high_is_not_a_spring",
           lambda: then(ACCUMULATION, (0, 2.5, -2.6, 2, 1200)), ("HOLD", "MODERATE", "NO_EDGE"),
           absent=frozenset({"SPRING"})),
    Lesson("a_spring_of_a_few_cents_is_not_a_spring",
           lambda: then(ACCUMULATION, (0, 1, -2.3, 0.5, 1500)), ("HOLD", "MODERATE", "NO_EDGE"),
           absent=frozenset({"SPRING"})),
    Lesson("a_spring_in_the_upper_part_of_a_neutral_range_is_not_a_spring",
           lambda: then(FLAT_RANGE, SPRING), ("HOLD", "MODERATE", "NO_EDGE"), absent=frozenset({"SPRING"})),
    Lesson("a_selling_climax_alone_is_a_buy_that_waits_for_confirmation",
           lambda: then(DOWN_TREND, CLIMAX_BOTTOM), ("BUY", "WEAK", "UNCONFIRMED"), {("CLIMAX_BOTTOM", 0): "LIVE"}),
    Lesson("a_no_supply_bar_on_less_volume_after_a_selling_climax_is_its_low_volume_test",
           lambda: then(DOWN_TREND, CLIMAX_BOTTOM, NO_SUPPLY_AFTER_CLIMAX), ("BUY", "STRONG", "CONFIRMED"),
           {("CLIMAX_BOTTOM", 1): "CONFIRMED", ("NO_SUPPLY", 0): "LIVE"}),
    Lesson("a_low_volume_doji_stands_aside",
           lambda: then(FLAT_RANGE, LOW_VOLUME_DOJI), ("HOLD", "STRONG", "STAND_ASIDE")),
    Lesson("a_low_volume_doji_stands_aside_even_after_a_live_spring",
           lambda: then(ACCUMULATION, SPRING, (0.5, 2.5, -1.5, 0.5, 500)), ("HOLD", "STRONG", "STAND_ASIDE"),
           {("SPRING", 1): "LIVE"}),
    Lesson("a_low_volume_doji_that_is_the_low_volume_test_of_a_spring_does_not_stand_aside",
           lambda: then(ACCUMULATION, SPRING, (0.5, 2.2, -1.0, 1.5, 900), (-0.7, 1.16, -2.8, -0.6, 550)),
           ("BUY", "STRONG", "CONFIRMED"), {("SPRING", 2): "CONFIRMED", ("TEST", 0): "LIVE"}),
    Lesson("an_unconfirmed_anomaly_stands_aside",
           lambda: then(FLAT_RANGE, ANOMALY), ("HOLD", "STRONG", "STAND_ASIDE")),
    Lesson("effort_to_rise_in_an_up_trend_is_a_buy_moderate",
           lambda: then(UP_TREND, EFFORT_TO_RISE), ("BUY", "MODERATE", "UNCONFIRMED"), {("EFFORT_TO_RISE", 0): "LIVE"}),
    Lesson("a_confirmed_spring_against_a_weekly_down_trend_is_never_strong",
           lambda: then(LONG_DECLINE, (0, 1, -2, 0.5, 1500), (0.5, 3, 0, 2.8, 1800)), ("BUY", "MODERATE", "CONFIRMED"),
           {("SPRING", 1): "CONFIRMED"}),
    Lesson("a_confirmed_buy_inside_distribution_is_capped_at_weak",
           lambda: then(DISTRIBUTION, STOPPING, (0.5, 3.5, -0.5, 3.3, 1800)), ("BUY", "WEAK", "CONFIRMED"),
           {("STOPPING_VOLUME", 1): "CONFIRMED"}),
    Lesson("a_live_upthrust_within_three_bars_vetoes_a_buy",
           lambda: then(ACCUMULATION, (2, 3, 0.5, 1.2, 1200), (0, 0.5, -1.5, -1, 1000), (-1, 1.5, -3.5, 1.2, 2600)),
           ("HOLD", "STRONG", "CONFLICT"), {("UPTHRUST", 2): "LIVE"}),
    Lesson("a_veto_is_overruled_by_a_confirmed_spring_that_is_heavier_and_the_buy_is_capped_at_weak",
           lambda: then(ACCUMULATION, SPRING, (0.5, 3, 0.2, 0.6, 1200), (0.0, 0.6, -1.8, 0.3, 600)),
           ("BUY", "WEAK", "CONFIRMED"), {("SPRING", 2): "CONFIRMED", ("UPTHRUST", 1): "LIVE"}),
]


def _lesson_params() -> list:
    return [pytest.param(lesson, id=lesson.name) for lesson in LESSONS]


def test_there_are_at_least_twenty_lessons() -> None:
    assert len(LESSONS) >= 20
    assert len({lesson.name for lesson in LESSONS}) == len(LESSONS)


@pytest.mark.parametrize("lesson", _lesson_params())
def test_lesson_gives_its_signal(lesson: Lesson) -> None:
    record = run(lesson.sequence())
    assert signal(record) == lesson.expected, (evidence(record), sorted(detected(record)))
    states = {(p, k): s for p, k, s in evidence(record)}
    for key, state in lesson.states.items():
        assert states.get(key) == state, (key, evidence(record))
    assert not lesson.absent & detected(record)


@pytest.mark.parametrize("lesson", _lesson_params())
def test_mirrored_lesson_gives_the_mirrored_signal(lesson: Lesson) -> None:
    record, mirrored = run(lesson.sequence()), run(reflect(lesson.sequence()))
    kind, strength, reason = signal(record)
    assert signal(mirrored) == (FLIP[kind], strength, reason)
    assert sorted(evidence(mirrored)) == sorted((MIRROR[p], k, s) for p, k, s in evidence(record))
    assert detected(mirrored) == {MIRROR[n] for n in detected(record)}


def test_void_evidence_counts_for_nothing() -> None:
    """The spring closed under: without it the score is what the other evidence makes (here none)."""
    record = run(then(ACCUMULATION, SPRING, (0.5, 1, -4, -3.5, 1200)))
    void = [e for e in record["input"]["evidence"] if e["state"] == "VOID"]
    assert [e["pattern"] for e in void] == ["SPRING"]
    assert all(e["state"] == "VOID" for e in record["input"]["evidence"])
    assert signal(record)[2] == "NO_EDGE"


def test_the_evidence_level_is_the_pattern_bars_extreme_not_todays() -> None:
    record = run(then(ACCUMULATION, SPRING, RALLY, LOW_VOLUME_TEST, SIGN_OF_STRENGTH))
    spring = next(e for e in record["input"]["evidence"] if e["pattern"] == "SPRING")
    assert spring["level"] == 97.0  # the spring's low
    assert record["input"]["current_candle"]["low"] == 100.2


def test_evidence_says_which_bar_confirmed_or_voided_it_and_how() -> None:
    record = run(then(ACCUMULATION, SPRING, RALLY, LOW_VOLUME_TEST, SIGN_OF_STRENGTH))
    by = {(e["pattern"], e["bars_ago"]): (e["changed_by"], e["cause"]) for e in record["input"]["evidence"]}
    assert by[("SPRING", 3)] == (0, "FOLLOW_THROUGH")  # the latest confirmation: today's sign of strength
    assert by[("TEST", 1)] == (0, "FOLLOW_THROUGH")
    before = run(then(ACCUMULATION, SPRING, RALLY, LOW_VOLUME_TEST))
    spring = next(e for e in before["input"]["evidence"] if e["pattern"] == "SPRING")
    assert (spring["changed_by"], spring["cause"]) == (0, "LOW_VOLUME_TEST")
    voided = run(then(ACCUMULATION, SPRING, (0.5, 1, -4, -3.5, 1200)))
    spring = next(e for e in voided["input"]["evidence"] if e["pattern"] == "SPRING")
    assert (spring["state"], spring["changed_by"], spring["cause"]) == ("VOID", 0, "CLOSE_BEYOND")


def test_room_is_measured_to_a_proven_level_of_two_touches() -> None:
    """One swing high just above is a swing point, not a proven level: it does not limit the strength."""
    one_touch = run(then(with_peak(ACCUMULATION, 20, 106.0), SPRING, RALLY, LOW_VOLUME_TEST, SIGN_OF_STRENGTH))
    two_touches = run(then(resistance_at(106.0), SPRING, RALLY, LOW_VOLUME_TEST, SIGN_OF_STRENGTH))
    assert one_touch["input"]["support_resistance"]["nearby_resistance"][0]["touches"] == 1
    assert two_touches["input"]["support_resistance"]["nearby_resistance"][0]["touches"] == 2
    assert signal(one_touch) == ("BUY", "STRONG", "CONFIRMED")
    assert signal(two_touches) == ("BUY", "MODERATE", "CONFIRMED")
