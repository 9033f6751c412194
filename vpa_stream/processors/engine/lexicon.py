"""The lexicon of DOMAIN §7: every code the engine emits, in plain words, and the words mapped back to codes.

The realiser writes classes, patterns, states and timeframes only through these tables, choosing among the
synonyms of a code by the example's hash; the faithfulness checker reads the same tables backwards, so a word in
an explanation always names exactly one code. Pattern words live with their rule in the pattern catalogue.
"""

from __future__ import annotations

from vpa_stream.processors.engine.patterns import CATALOGUE

#: slot -> code -> synonyms (the first is the plain one); every phrase is unique within its slot
WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "volume": {
        "VERY_LOW": ("very light volume", "very low volume", "a trickle of volume"),
        "LOW": ("light volume", "low volume", "thin volume"),
        "AVERAGE": ("average volume", "ordinary volume", "typical volume"),
        "HIGH": ("heavy volume", "high volume", "above-average volume"),
        "VERY_HIGH": ("very heavy volume", "ultra-high volume", "exceptional volume"),
    },
    "spread": {
        "NARROW": ("a narrow spread", "a small range", "a tight range"),
        "AVERAGE": ("an average spread", "an ordinary range", "a typical range"),
        "WIDE": ("a wide spread", "a wide range", "a large range"),
    },
    "close": {
        "LOW": ("in its lower third", "near its low", "in the bottom third of its range"),
        "MID": ("in the middle of its range", "mid-range", "in its middle third"),
        "HIGH": ("in its upper third", "near its high", "in the top third of its range"),
    },
    "direction": {
        "UP": ("an up bar", "a bar that closed higher"),
        "DOWN": ("a down bar", "a bar that closed lower"),
        "FLAT": ("a bar with an unchanged close", "a level close"),
    },
    "shape": {
        "HAMMER": ("a hammer",),
        "SHOOTING_STAR": ("a shooting star",),
        "LONG_LEGGED_DOJI": ("a long-legged doji",),
        "DOJI": ("a doji",),
        "MARUBOZU": ("a marubozu",),
        "NORMAL": ("an ordinary candle",),
    },
    "color": {
        "BULLISH": ("above its open",),
        "BEARISH": ("below its open",),
        "DOJI": ("at its open",),
    },
    "trend": {
        "UP": ("an uptrend", "a rising trend"),
        "DOWN": ("a downtrend", "a falling trend"),
        "SIDEWAYS": ("a sideways market", "a flat market"),
    },
    "trend_word": {  # the trend as an adjective or predicate: "the weekly trend is up"
        "UP": ("up", "rising"),
        "DOWN": ("down", "falling"),
        "SIDEWAYS": ("sideways", "flat"),
    },
    "strength_word": {
        "STRONG": ("strong",),
        "MODERATE": ("moderate",),
        "WEAK": ("weak",),
    },
    "volume_trend": {
        "RISING": ("rising", "increasing", "picking up"),
        "FALLING": ("falling", "drying up", "shrinking"),
        "FLAT": ("steady", "flat", "unchanged"),
    },
    "swing": {
        "HH_HL": ("higher highs and higher lows",),
        "LH_LL": ("lower highs and lower lows",),
        "HH_LL": ("higher highs and lower lows, a broadening swing",),
        "LH_HL": ("lower highs and higher lows, a narrowing swing",),
        "HH_EL": ("higher highs on equal lows",),
        "LH_EL": ("lower highs on equal lows",),
        "EH_HL": ("equal highs and higher lows",),
        "EH_LL": ("equal highs and lower lows",),
        "EH_EL": ("equal highs and equal lows",),
    },
    "range": {
        "ACCUMULATION": ("an accumulation range", "a range that looks like accumulation"),
        "DISTRIBUTION": ("a distribution range", "a range that looks like distribution"),
        "NEUTRAL": ("a trading range", "a sideways range"),
    },
    "state": {
        "LIVE": ("still stands", "is still in play", "remains live"),
        "CONFIRMED": ("has been confirmed", "was confirmed by a later bar", "has found its confirmation"),
        "VOID": ("has failed", "was negated", "no longer counts"),
    },
    "states": {  # the same, for a plural subject
        "LIVE": ("still stand", "are still in play", "remain live"),
        "CONFIRMED": ("have been confirmed", "were confirmed by a later bar", "have found their confirmation"),
        "VOID": ("have failed", "were negated", "no longer count"),
    },
    "side": {  # the side of a pattern or of the evidence
        "BULLISH": ("bullish",),
        "BEARISH": ("bearish",),
    },
    "signal": {  # the call in the body, lower case
        "BUY": ("buy",),
        "SELL": ("sell",),
        "HOLD": ("hold",),
    },
    "level_kind": {
        "support": ("support",),
        "resistance": ("resistance",),
    },
    "way": {"BELOW": ("below",), "ABOVE": ("above",)},
    "ext": {"BULLISH": ("low",), "BEARISH": ("high",)},
    "rephase": {"BUY": ("re-accumulation",), "SELL": ("re-distribution",)},
    "taken": {"BULLISH": ("a lower low",), "BEARISH": ("a higher high",)},
    "beyond": {"BULLISH": ("below that bar's low",), "BEARISH": ("above that bar's high",)},
    "relation": {
        "FOR": ("in favour of the", "on the side of the", "in support of the"),
        "AGAINST": ("against the", "on the opposite side of the", "in opposition to the"),
    },
    "reading": {
        "EFFORT_WITH_RESULT": ("effort with result, heavy volume carrying price a long way",
                               "real effort for a real result, the volume moving price far"),
        "EFFORT_WITHOUT_RESULT": ("effort without result, heavy volume that failed to move price far",
                                  "heavy effort for little result, the mark of absorption"),
        "HEAVY_CLOSE_LOW": ("heavy volume over an ordinary spread with the close on the low, sellers in control",
                            "heavy effort, an ordinary result and a weak close, a bar the sellers won"),
        "HEAVY_CLOSE_HIGH": ("heavy volume over an ordinary spread with the close on the high, buyers in control",
                             "heavy effort, an ordinary result and a strong close, a bar the buyers won"),
        "HEAVY_CLOSE_MID": ("heavy volume over an ordinary spread and a close mid-bar, a contest neither side won",
                            "heavy effort for an ordinary result, with the close undecided"),
        "RESULT_WITHOUT_EFFORT": ("result without effort, price travelling far on little volume",
                                  "a wide move that few traded, with no effort behind it"),
        "QUIET": ("a quiet bar with little effort and little result",
                  "low effort and a small result, neither side pressing"),
        "THIN": ("thin participation over an ordinary range", "an ordinary range on thin participation"),
        "EASY_MOVE": ("an easy move, ordinary volume carrying price further than usual",
                      "more result than the ordinary effort would suggest"),
        "DULL": ("a dull bar, ordinary volume over a small range", "ordinary effort for a small result"),
        "BALANCED": ("effort and result in balance", "ordinary effort for an ordinary result"),
    },
    "extreme": {
        "HEAVIEST_VOLUME": ("the heaviest volume",),
        "LIGHTEST_VOLUME": ("the lightest volume",),
        "WIDEST_SPREAD": ("the widest spread",),
        "NARROWEST_SPREAD": ("the narrowest spread",),
        "HIGHEST_CLOSE": ("the highest close",),
        "LOWEST_CLOSE": ("the lowest close",),
    },
    "cmp": {"LOWER": ("lower than", "below"), "HIGHER": ("higher than", "above")},
    "wick": {"lower": ("lower wick",), "upper": ("upper wick",)},
    "wick_a": {"lower": ("a lower wick",), "upper": ("an upper wick",)},
    "bar_dir": {"UP": ("an up bar",), "DOWN": ("a down bar",)},
    "validation": {
        "VALIDATED": ("which validates the trend", "and that backs the trend"),
        "ANOMALY": ("a warning that the trend runs on falling volume", "so the trend lacks volume behind it"),
        "NONE": ("which neither confirms nor questions the trend", "with no verdict on the trend"),
    },
    "zone": {"LOWER": ("the lower part",), "MIDDLE": ("the middle",), "UPPER": ("the upper part",)},
    "reference": {
        "SUPPORT": ("support",), "RESISTANCE": ("resistance",),
        "PRIOR_LOW": ("the low of the previous twenty bars",), "PRIOR_HIGH": ("the high of the previous twenty bars",),
    },
    "leg": {"FALL": ("a fall",), "RISE": ("a rise",)},
    "room": {
        "AMPLE": ("enough for a full move", "plenty of room"),
        "SOME": ("some room, but not much", "limited room"),
        "LITTLE": ("too little room for more than a weak call", "very little room"),
    },
    "rr": {
        "RISK_OVER_ROOM": ("the stop is further away than that level, so the reward does not yet cover the risk",
                           "the risk to the stop is larger than the room to that level"),
        "ROOM_OVER_RISK": ("the room to that level is larger than the risk to the stop",
                           "the stop is closer than that level, so the reward covers the risk"),
    },
    "confirmation": {
        "CONFIRMED": ("confirmed by follow-through", "already confirmed"),
        "UNCONFIRMED": ("not yet confirmed", "still waiting for confirmation"),
    },
    "limit": {
        "NO_HEAVY_BULLISH": ("no confirmed selling climax or spring anchors it",
                             "the chain lacks a confirmed heavy event such as stopping volume or a spring"),
        "NO_HEAVY_BEARISH": ("no confirmed buying climax or upthrust anchors it",
                             "the chain lacks a confirmed heavy event such as topping-out volume or an upthrust"),
        "CONFIRMED_EARLIER": ("its heavy pattern was confirmed on an earlier bar rather than this one",
                              "this bar is not the one that confirmed the heavy pattern"),
        "LITTLE_ROOM": ("the next proven opposing level is less than one ATR away",
                        "there is under one ATR of room to the next proven level"),
        "TREND_AGAINST": ("the trend of this chart runs against it", "it goes against this chart's own trend"),
        "NO_TREND_SUPPORT": ("no trend backs it", "it runs without the support of a trend"),
    },
    "weigh": {"OUTWEIGHS": ("outweighs", "carries more weight than"), "MATCHES": ("roughly matches", "about balances")},
    "reason": {
        "CONFLICT": ("the two sides cancel", "the evidence is in conflict"),
        "STAND_ASIDE": ("this is a bar to stand aside on", "the bar itself says stand aside"),
        "LEAN": ("the evidence leans but does not reach a signal", "there is a lean but no signal"),
        "NO_EDGE": ("there is no edge", "nothing gives an edge"),
    },
}

#: numbers shown as words (counts of touches, bars and sessions)
NUMBER_WORDS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                                 "ten", "eleven", "twelve")

#: timeframe -> (its chart in words, the noun of one of its bars, plural)
TIMEFRAMES: dict[str, tuple[str, str, str]] = {
    "1m": ("the one-minute chart", "bar", "bars"),
    "2m": ("the two-minute chart", "bar", "bars"),
    "5m": ("the five-minute chart", "bar", "bars"),
    "15m": ("the fifteen-minute chart", "bar", "bars"),
    "30m": ("the thirty-minute chart", "bar", "bars"),
    "1h": ("the hourly chart", "bar", "bars"),
    "90m": ("the ninety-minute chart", "bar", "bars"),
    "4h": ("the four-hour chart", "bar", "bars"),
    "1d": ("the daily chart", "session", "sessions"),
    "1wk": ("the weekly chart", "week", "weeks"),
    "1mo": ("the monthly chart", "month", "months"),
}

#: every pattern's phrase (with article), bare form and gloss, from the catalogue
PATTERN_PHRASE: dict[str, str] = {name: p.words.phrase for name, p in CATALOGUE.items()}
PATTERN_BARE: dict[str, str] = {name: p.words.bare for name, p in CATALOGUE.items()}
PATTERN_GLOSS: dict[str, str] = {name: p.words.gloss for name, p in CATALOGUE.items()}


def words(slot: str, code: str, pick: int = 0) -> str:
    """The words of ``code`` in ``slot``; ``pick`` chooses among its synonyms."""
    options = WORDS[slot][code]
    return options[pick % len(options)]


def code_of(slot: str, phrase: str) -> str | None:
    """The code a phrase names in ``slot`` (None when it names none)."""
    return _REVERSE[slot].get(phrase)


def number_word(n: int) -> str:
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else f"{n:,}"


def number_of(word: str) -> int | None:
    if word in NUMBER_WORDS:
        return NUMBER_WORDS.index(word)
    digits = word.replace(",", "")
    return int(digits) if digits.isdigit() else None


def counted(n: int, singular: str, plural: str) -> str:
    """``n`` things in words with the right number: "one touch", "two touches"."""
    return f"{number_word(n)} {singular if n == 1 else plural}"


def chart(timeframe: str) -> str:
    return TIMEFRAMES[timeframe][0]


def bar_noun(timeframe: str, n: int = 1) -> str:
    return TIMEFRAMES[timeframe][1] if n == 1 else TIMEFRAMES[timeframe][2]


def capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def every_phrase() -> list[str]:
    """All lexicon phrases, longest first (the report masks them to find sentence skeletons)."""
    phrases = {p for table in WORDS.values() for options in table.values() for p in options}
    phrases |= set(PATTERN_PHRASE.values()) | set(PATTERN_BARE.values()) | set(PATTERN_GLOSS.values())
    phrases |= {chart(tf) for tf in TIMEFRAMES}
    return sorted(phrases, key=len, reverse=True)


_REVERSE: dict[str, dict[str, str]] = {
    slot: {phrase: code for code, options in table.items() for phrase in options} for slot, table in WORDS.items()
}


def _check_unique() -> None:
    for slot, table in WORDS.items():
        seen = [p for options in table.values() for p in options]
        if len(seen) != len(set(seen)):
            raise ValueError(f"lexicon slot {slot} names two codes with one phrase")


_check_unique()
