"""The phrasings of every claim kind (DOMAIN §7): at least five per kind, many built as products of parts.

Slots are typed (see ``grammar``): ``{ago}`` a bar reference, ``{patterns}`` pattern names, ``{ratio#ratio_v}`` the
row's ``ratio_v`` ... A template never holds a digit of its own, so every number of an explanation comes from
the prompt. The same list compiles into the grammar the faithfulness checker parses explanations with.
"""

from __future__ import annotations

from itertools import product

from vpa_stream.processors.engine.grammar import Grammar, Template


def _join(*parts: tuple[str, ...]) -> tuple[str, ...]:
    return tuple("".join(p) for p in product(*parts))


_NOW = ("This {noun} itself is {patterns}", "The bar that just closed is {patterns}", "This bar prints {patterns}",
        "On this {noun} the chart prints {patterns}", "What this {noun} shows is {patterns}")

_SUPPORT = ("The nearest support is {price#price_s} ({touches#touches_s}), {ratio#ratio_s} ATR below",
            "Support waits at {price#price_s} ({touches#touches_s}), {ratio#ratio_s} ATR below",
            "The closest support sits at {price#price_s}, {ratio#ratio_s} ATR below, built from {touches#touches_s}",
            "Below, support at {price#price_s} ({touches#touches_s}) is {ratio#ratio_s} ATR away",
            "Support lies {ratio#ratio_s} ATR below at {price#price_s}, with {touches#touches_s}")
_RESISTANCE = ("the nearest resistance is {price#price_r} ({touches#touches_r}), {ratio#ratio_r} ATR above.",
               "resistance waits at {price#price_r} ({touches#touches_r}), {ratio#ratio_r} ATR above.",
               "the closest resistance sits {ratio#ratio_r} ATR above at {price#price_r}, with {touches#touches_r}.",
               "above, resistance at {price#price_r} ({touches#touches_r}) is {ratio#ratio_r} ATR away.",
               "resistance lies at {price#price_r}, {ratio#ratio_r} ATR up, built from {touches#touches_r}.")
_NO_SUPPORT = ("No support level shows below the close", "The swings mark no support below",
               "There is no support level underneath", "Below the close no support is in view",
               "Nothing marks support below")
_NO_RESISTANCE = ("no resistance level shows above.", "the swings mark no resistance above.",
                  "there is no resistance overhead.", "no resistance is in view above the close.",
                  "nothing marks resistance above.")
_LEVEL_JOIN = ("; ", ", and ", ", while ")

#: the body of an evidence sentence, by state and cause; markers agree with one or several patterns:
#: {IT} it/they, {WAS} was/were, {HAS} has/have, {STATE} {state}/{states}, {THERE} There was/There were,
#: {COUNTS} counts/count, {ITS} its/their
_EVIDENCE_BODIES: dict[str, tuple[str, ...]] = {
    "live": ("{Ago}, {patterns} appeared, and {IT} {STATE}", "{Patterns} from {ago} {STATE}",
             "{THERE} {patterns} {ago}; {IT} {STATE}", "{Patterns} showed up {ago} and {STATE}",
             "{Ago} brought {patterns}, which {STATE}"),
    "confirmed_ft": ("{Ago}, {patterns} appeared, and {when#by} a follow-through bar confirmed {IT}",
                     "{Patterns} from {ago} {WAS} confirmed {when#by} by a follow-through bar",
                     "{THERE} {patterns} {ago}, and {when#by} price followed through from {IT}",
                     "{Patterns} showed up {ago}; {when#by} {bar_dir} on rising volume confirmed {IT}",
                     "{Ago} brought {patterns}, and the follow-through came {when#by}"),
    "confirmed_lvt": ("{Ago}, {patterns} appeared, and {when#by} a low-volume test held {ITS} {ext} and confirmed {IT}",
                      "{Patterns} from {ago} {WAS} confirmed {when#by} by a low-volume test",
                      "{THERE} {patterns} {ago}, and {when#by} a test on lighter volume held {ITS} {ext}",
                      "{Patterns} showed up {ago}; the low-volume test {when#by} confirmed {IT}",
                      "{Ago} brought {patterns}, and {when#by} a quiet retest on less volume confirmed {IT}"),
    "void_close": ("{Ago}, {patterns} failed: {when#by} price closed {beyond} at {price}",
                   "{Patterns} from {ago} no longer {COUNTS}, because {when#by} a bar closed {beyond} at {price}",
                   "{Ago} there {WAS} {patterns}, but {when#by} a close {beyond} at {price} negated {IT}",
                   "{Patterns} from {ago} {WAS} negated {when#by} by a close {beyond} at {price}",
                   "The {side} case of {patterns} from {ago} is void: {when#by} price closed {beyond} at {price}"),
    "void_against": ("{Ago}, {patterns} appeared, but {when#by} price followed through the other way on rising volume",
                     "{Patterns} from {ago} {WAS} cancelled {when#by} by a follow-through bar against {IT}",
                     "{THERE} {patterns} {ago}, but {when#by} a bar went the other way on rising volume",
                     "{Patterns} from {ago} no longer {COUNTS}: {when#by} price followed through against {IT}",
                     "The {side} case of {patterns} from {ago} is void: {when#by} a follow-through bar went "
                     "against it"),
    "void_taken": ("{Ago}, {patterns} appeared, but {when#by} {taken} took out {ITS} {ext}",
                   "{Patterns} from {ago} {HAS} been superseded: {when#by} price took out {ITS} {ext}",
                   "{THERE} {patterns} {ago}, but {when#by} price went past {ITS} {ext}",
                   "{Patterns} from {ago} no longer {COUNTS}, because {when#by} {taken} took out {ITS} {ext}",
                   "The {side} case of {patterns} from {ago} is void: {when#by} {taken} took out {ITS} {ext}"),
}
_ONE = {"{IT}": "it", "{WAS}": "was", "{HAS}": "has", "{STATE}": "{state}", "{THERE}": "There was",
        "{COUNTS}": "counts", "{ITS}": "its"}
_MANY = {"{IT}": "them", "{WAS}": "were", "{HAS}": "have", "{STATE}": "{states}", "{THERE}": "There were",
         "{COUNTS}": "count", "{ITS}": "their"}
_RELATION_TAILS = {"one": (": {side} evidence {relation} {signal}.",
                           "; as {side} evidence it counts {relation} {signal}.",
                           ", {side} evidence {relation} {signal}."),
                   "many": (": {side} evidence {relation} {signal}.",
                            "; as {side} evidence they count {relation} {signal}.",
                            ", {side} evidence {relation} {signal}.")}
_SIDE_TAILS = {"one": (": a {side} sign.", "; it reads {side}.", "; that is {side} evidence."),
               "many": (": {side} signs.", "; they read {side}.", "; that is {side} evidence.")}


def _agree(body: str, number: str) -> str:
    forms = _ONE if number == "one" else _MANY
    for marker, word in forms.items():
        body = body.replace(marker, word)
    # "it" as a subject in the plural is "they"
    return body.replace(", and them ", ", and they ").replace("; them ", "; they ")


def _evidence_phrases() -> dict[str, tuple[str, ...]]:
    """Claim kinds ``ev_<state>[_many][_rel|_side]``: plain, with the call's relation, or with the side (HOLD)."""
    out: dict[str, tuple[str, ...]] = {}
    for state, bodies in _EVIDENCE_BODIES.items():
        for number in ("one", "many"):
            agreed = tuple(_agree(b, number) for b in bodies)
            kind = f"ev_{state}" + ("_many" if number == "many" else "")
            out[kind] = tuple(f"{b}." for b in agreed)
            if not state.startswith("void"):
                out[kind + "_rel"] = _join(agreed, _RELATION_TAILS[number])
                out[kind + "_side"] = _join(agreed, _SIDE_TAILS[number])
    return out


PHRASES: dict[str, tuple[str, ...]] = {
    **_evidence_phrases(),
    # -- background: the sequence of the last bars ---------------------------------------------------------
    "quiet_history": (
        "Not one of the {count} {noun} before this one shows a VPA pattern, so this bar stands on its own.",
        "The {count} {noun} before this one carry no VPA pattern: there is no background to lean on.",
        "Nothing in the previous {count} {noun} fired a VPA rule, so the reading rests on this bar.",
        "There is no recent background: the previous {count} {noun} show no pattern of note.",
        "Looking back {count} {noun}, no VPA pattern stands out, so this bar has to speak for itself.",
        "The last {count} {noun} were uneventful in VSA terms, with no pattern to build on.",
        "No VPA pattern appears in the {count} {noun} before this one.",
        "The background is empty: {count} {noun} without a single VPA pattern.",
    ),
    "gloss": (
        "In VSA terms, {gloss}.",
        "{Pattern}: {gloss}.",
        "As VSA reads {pattern}, {gloss}.",
        "The reading of {pattern} is plain: {gloss}.",
        "Why {pattern} matters: {gloss}.",
    ),
    "htf_evidence": _join(
        ("On {chart} the last closed bar showed {pattern}, which counts as background, and it {state}",
         "The last bar of {chart} was {pattern}; as background it {state}",
         "From {chart} comes {pattern}, a lighter piece of background, which {state}"),
        (": {side} evidence {relation} {signal}.", "; it counts {relation} {signal}."),
    ),
    "htf_evidence_hold": (
        "On {chart} the last closed bar showed {pattern}, which counts as background, and it {state}.",
        "The last bar of {chart} was {pattern}; as background it {state}.",
        "From {chart} comes {pattern}, a lighter piece of background, which {state}.",
        "{Chart} adds {pattern} as background, and it {state}.",
        "As background, {chart} contributes {pattern}, which {state}.",
    ),
    "balance": (
        "Taken together, the {side} evidence {weigh} the {side#side_b} evidence.",
        "Weighed against each other, the {side} side {weigh} the {side#side_b} side.",
        "Overall the {side} evidence {weigh} the {side#side_b}.",
        "Set side by side, the {side} case {weigh} the {side#side_b} one.",
        "Adding it up, the {side} evidence {weigh} what the {side#side_b} side offers.",
    ),
    "one_sided": (
        "Nothing on the {side} side is live.",
        "There is no live {side} evidence to weigh against it.",
        "The {side} side has nothing live in the window.",
        "No {side} pattern is live in these bars.",
        "The {side} side is empty.",
        "Nothing {side} remains in play.",
        "There is no {side} evidence left standing.",
        "On the {side} side there is nothing live to weigh.",
    ),
    # -- this bar: effort against result -------------------------------------------------------------------
    "evidence_now": _join(_NOW, (", {side} evidence {relation} {signal}.", ": {side} evidence {relation} {signal}.")),
    "evidence_now_hold": _join(_NOW, (", a {side} sign.", ": {side} evidence.")),
    "bar_effort": _join(
        ("This {noun} was {direction} on {volume} ({ratio#ratio_v} times the twenty-bar average)",
         "The {noun} was {direction} on {volume} at {ratio#ratio_v} times the twenty-bar average",
         "The {noun} ended as {direction} on {volume}, {ratio#ratio_v} times the recent average",
         "The {noun} traded {volume} ({ratio#ratio_v} times average) as {direction}",
         "{Direction} came on {volume}, {ratio#ratio_v} times the twenty-bar average"),
        (", with {spread} ({ratio#ratio_s} times average), closing {close} ({ratio}).",
         "; the bar had {spread}, {ratio#ratio_s} times average, and closed {close}, at {ratio}.",
         ", over {spread} ({ratio#ratio_s} times the average spread), closing {close} ({ratio})."),
    ),
    "wick": (
        "The {wick} took {ratio} of the range.",
        "Its {wick} measured {ratio} of the bar.",
        "{Wick_a#wick} of {ratio} of the range stands out.",
        "The {wick} covers {ratio} of the range.",
        "Note the {wick}: {ratio} of the range.",
    ),
    "effort_result": (
        "That is {reading}.",
        "In VSA terms this is {reading}.",
        "Read as effort against result, it is {reading}.",
        "Weighing effort against result gives {reading}.",
        "The law of effort and result reads it as {reading}.",
        "Put volume and spread side by side and you get {reading}.",
        "The verdict on effort and result is {reading}.",
        "Taken as effort and result, the bar shows {reading}.",
        "Effort against result here means {reading}.",
        "On effort and result the bar reads as {reading}.",
        "As effort and result go, this is {reading}.",
    ),
    "shape": (
        "The candle is {shape}, closing {color}.",
        "As a candle it is {shape} that closed {color}.",
        "Its candle is {shape}, with the close {color}.",
        "The candle prints {shape}, the close {color}.",
        "It forms {shape}, closing {color}.",
    ),
    "extreme": (
        "It carries {extreme} of the {count} {noun} shown.",
        "Of the {count} {noun} shown, this one has {extreme}.",
        "This is {extreme} of the {count} {noun} in view.",
        "Among the {count} {noun} shown it has {extreme}.",
        "It stands out among the {count} {noun} shown with {extreme}.",
    ),
    "prior_volume": (
        "Volume was {cmp} either of the two {noun} before.",
        "Its volume came in {cmp} each of the previous two {noun}.",
        "That volume is {cmp} both of the two {noun} before it.",
        "Compared with the two {noun} before, volume was {cmp} both.",
        "Volume ran {cmp} each of the last two {noun}.",
    ),
    "neutral_pattern": (
        "It is also {pattern}: {gloss}.",
        "The rules also find {pattern} here: {gloss}.",
        "There is {pattern} on this bar as well: {gloss}.",
        "This bar is {pattern} too, and {gloss}.",
        "Add {pattern} to the picture: {gloss}.",
    ),
    "pierce": (
        "{Pattern} broke {reference} at {price} by {ratio} ATR and closed back inside.",
        "The break went {ratio} ATR past {reference} at {price} before the close came back: {pattern}.",
        "Price pierced {reference} at {price} by {ratio} ATR, then closed back, which makes {pattern}.",
        "With a pierce of {ratio} ATR through {reference} at {price} and a close back inside, it is {pattern}.",
        "{Pattern} here: {ratio} ATR through {reference} at {price}, then back.",
    ),
    # -- location and context ------------------------------------------------------------------------------
    "trend": (
        "Price is in {trend}, a {strength_word} one: the twenty-bar average moved {ratio} ATR over five bars.",
        "Price is in {trend} ({strength_word}): the twenty-bar average moved {ratio} ATR in five bars.",
        "This happens in {trend} whose slope is {strength_word}: {ratio} ATR over five bars.",
        "The background is {trend}, {strength_word}, its average sloping {ratio} ATR over five bars.",
        "Context: {trend}, {strength_word}, slope {ratio} ATR over five bars.",
        "The market is in {trend}, {strength_word} by its slope: the twenty-bar average moved {ratio} ATR"
        " in five bars.",
        "All this sits in {trend} ({strength_word}), the average sloping {ratio} ATR over five bars.",
        "Behind it is {trend}, a {strength_word} one, with a slope of {ratio} ATR in five bars.",
    ),
    "trend_flat": (
        "Price is moving sideways: the twenty-bar average moved {ratio} ATR over five bars.",
        "There is no trend to speak of, the twenty-bar average sloping {ratio} ATR in five bars.",
        "The market is flat, with a slope of {ratio} ATR over five bars.",
        "No trend: the average moved just {ratio} ATR over five bars.",
        "The trend is sideways, its slope {ratio} ATR over five bars.",
        "Price has no direction here; the twenty-bar average moved {ratio} ATR in five bars.",
        "This is a sideways market, the average sloping {ratio} ATR over five bars.",
        "Trend-wise nothing is happening: a slope of {ratio} ATR in five bars.",
    ),
    "volume_trend": (
        "Volume over the last five bars is {volume_trend} against the twenty-bar average, {validation}.",
        "Recent volume is {volume_trend} relative to its average, {validation}.",
        "The five-bar volume is {volume_trend}, {validation}.",
        "Volume has been {volume_trend}, {validation}.",
        "Across the last five bars volume is {volume_trend}, {validation}.",
        "Participation is {volume_trend} over the last five bars, {validation}.",
        "The volume trend is {volume_trend}, {validation}.",
        "Over five bars the volume has been {volume_trend} compared with its average, {validation}.",
        "Short-term volume is {volume_trend}, {validation}.",
        "As for volume, it is {volume_trend} over the last five bars, {validation}.",
        "Five-bar volume against the twenty-bar average: {volume_trend}, {validation}.",
        "Volume lately has been {volume_trend}, {validation}.",
    ),
    "swing": (
        "Confirmed swings show {swing}.",
        "The swing structure is {swing}.",
        "The last confirmed swings make {swing}.",
        "Swing points so far give {swing}.",
        "Read from its swings, price is making {swing}.",
        "The swing highs and lows trace {swing}.",
        "As for structure, the swings show {swing}.",
        "Its recent pivots make {swing}.",
        "Structurally, price is printing {swing}.",
        "The confirmed pivots form {swing}.",
    ),
    "range": (
        "The last forty bars form {range}, {ratio#ratio_w} ATR wide, after {leg} of {ratio#ratio_m} ATR.",
        "Price has built {range} over forty bars, {ratio#ratio_w} ATR wide, following {leg} of {ratio#ratio_m} ATR.",
        "After {leg} of {ratio#ratio_m} ATR, the last forty bars have formed {range} {ratio#ratio_w} ATR wide.",
        "This sits in {range} of forty bars and {ratio#ratio_w} ATR, which followed {leg} of {ratio#ratio_m} ATR.",
        "Forty bars of {range}, {ratio#ratio_w} ATR wide, came after {leg} of {ratio#ratio_m} ATR.",
    ),
    "range_neutral": (
        "The last forty bars form {range}, {ratio#ratio_w} ATR wide.",
        "Price has spent forty bars in {range} {ratio#ratio_w} ATR wide.",
        "These forty bars make {range} {ratio#ratio_w} ATR wide.",
        "Price sits in {range} of forty bars, {ratio#ratio_w} ATR from top to bottom.",
        "Forty bars of {range}, {ratio#ratio_w} ATR wide, frame the move.",
    ),
    "range_position": (
        "The close sits in {zone} of the forty-bar high-low, at {ratio}.",
        "Within the forty-bar high-low the close is in {zone}, at {ratio}.",
        "Measured against the last forty bars, the close is in {zone} ({ratio}).",
        "The close ranks at {ratio} of the forty-bar range, in {zone}.",
        "In the forty-bar range the close lies in {zone}, at {ratio}.",
        "Against the high and low of forty bars, the close is at {ratio}, in {zone}.",
        "The close stands at {ratio} of the forty-bar span, in {zone}.",
        "Over forty bars, the close sits in {zone} of the range ({ratio}).",
        "Location in the forty-bar range: {zone}, at {ratio}.",
        "The forty-bar high-low puts the close in {zone}, at {ratio}.",
    ),
    "levels": _join(_SUPPORT, _LEVEL_JOIN, _RESISTANCE),
    "levels_no_support": _join(_NO_SUPPORT, _LEVEL_JOIN, _RESISTANCE),
    "levels_no_resistance": _join(_SUPPORT, _LEVEL_JOIN, _NO_RESISTANCE),
    "levels_none": (
        "No support or resistance level shows in the swings on either side of the close.",
        "The swings mark neither support below nor resistance above.",
        "There is no support below and no resistance above in the swings.",
        "Neither a support nor a resistance level is in view.",
        "No level shows on either side of the close.",
    ),
    "room": (
        "That leaves {ratio} ATR of room to the next proven {level_kind}, {room}.",
        "For the {signal} there is {ratio} ATR to the next proven {level_kind}: {room}.",
        "The {signal} has {ratio} ATR before it meets proven {level_kind}, {room}.",
        "Room to the next proven {level_kind} is {ratio} ATR, {room}.",
        "With proven {level_kind} {ratio} ATR away, the {signal} has {room}.",
    ),
    "open_room": (
        "No proven {level_kind} stands in the way of the {signal}.",
        "The {signal} has no proven {level_kind} in front of it.",
        "There is no proven {level_kind} level ahead of the {signal}.",
        "No {level_kind} with two or more touches lies ahead of the {signal}.",
        "The path of the {signal} is clear of proven {level_kind}.",
    ),
    "risk_room": (
        "Measured against the stop, {rr}.",
        "As for risk and reward, {rr}.",
        "On risk against reward, {rr}.",
        "Weighing risk against that {level_kind}, {rr}.",
        "In trade terms, {rr}.",
    ),
    "mtf": (
        "On {chart} the trend is {trend_word} ({strength_word}) on {volume}.",
        "{Chart} shows a {strength_word} trend that is {trend_word}, on {volume}.",
        "The bigger picture on {chart}: trend {trend_word}, {strength_word}, with {volume}.",
        "Zooming out to {chart}, the trend is {trend_word} and {strength_word}, on {volume}.",
        "{Chart} has its trend {trend_word} ({strength_word}) and {volume} on its last bar.",
        "Higher up, {chart} has a {strength_word} trend that is {trend_word}, its last bar on {volume}.",
        "From {chart}: the trend is {trend_word}, {strength_word}, and its last bar came on {volume}.",
        "On the larger scale of {chart} the trend is {trend_word} ({strength_word}), with {volume}.",
        "{Chart} frames it: a trend that is {trend_word} and {strength_word}, on {volume}.",
        "The trend of {chart} is {trend_word} and {strength_word}; its last bar saw {volume}.",
        "Step back to {chart} and the trend is {trend_word} ({strength_word}) on {volume}.",
        "Seen on {chart}, the trend is {strength_word} and {trend_word}, on {volume}.",
    ),
    "mtf_lower": (
        "On {chart} into the close the trend is {trend_word} ({strength_word}), with {volume} on the last bar.",
        "{Chart} into the close: trend {trend_word}, {strength_word}, {volume} on its last bar.",
        "The last bars on {chart} lead in with a {strength_word} trend that is {trend_word} and {volume}.",
        "Into the close, {chart} is {trend_word} ({strength_word}) on {volume}.",
        "Underneath, {chart} is {trend_word} and {strength_word} into the close, its last bar on {volume}.",
    ),
    "mtf_pattern": (
        "The last bar on {chart} showed {pattern}.",
        "{Chart} last printed {pattern}.",
        "Its latest bar on {chart} was {pattern}.",
        "On {chart} the most recent bar was {pattern}.",
        "{Chart} adds {pattern} on its latest bar.",
    ),
    # -- the call and the plan -----------------------------------------------------------------------------
    "call": (
        "The call is a {strength_word} {signal}, {confirmation}.",
        "That makes a {strength_word} {signal}, {confirmation}.",
        "The verdict: a {strength_word} {signal}, {confirmation}.",
        "All told this is a {strength_word} {signal}, {confirmation}.",
        "So the signal is a {strength_word} {signal}, {confirmation}.",
    ),
    "limits": (
        "It stops short of a strong call because {limits}.",
        "It is not a strong call: {limits}.",
        "What holds it back: {limits}.",
        "It falls short of strong, since {limits}.",
        "Strength is capped because {limits}.",
        "It cannot rate strong, as {limits}.",
        "The rating stays below strong because {limits}.",
        "Against a stronger rating: {limits}.",
    ),
    "strong": (
        "Everything a strong call needs is here: this bar confirms {pattern}, and the room covers the risk.",
        "It earns a strong rating: this bar confirms {pattern}, and the stop is no further than the room.",
        "This bar is the confirmation of {pattern}, and the room is at least the risk, so it rates strong.",
        "Confirmation of {pattern} on this bar, with room that covers the risk, makes it strong.",
        "With {pattern} confirmed on this bar and the risk within the room, it qualifies as strong.",
    ),
    "htf_limit": (
        "The trend on {chart} is {trend_word}, against the call, so it cannot be strong.",
        "The trend on {chart} is {trend_word} and opposes it.",
        "Against it, the trend on {chart} is {trend_word}.",
        "{Chart} is {trend_word}, the other way.",
        "It trades against {chart}, whose trend is {trend_word}.",
    ),
    "htf_ok": (
        "{Chart} is {trend_word} and does not oppose it.",
        "The trend on {chart} is {trend_word}, not against it.",
        "Nothing on {chart} opposes it: its trend is {trend_word}.",
        "{Chart} is {trend_word}, which does not stand in the way.",
        "With {chart} {trend_word}, the bigger trend is not against it.",
    ),
    "range_lifted": (
        "Inside {range} a {signal} would be capped, but the confirmed {bare} marks {rephase#signal}.",
        "The confirmed {bare} lifts the cap that {range} would put on a {signal}.",
        "{Range} would hold a {signal} to weak, were it not for the confirmed {bare}.",
        "Despite {range}, the confirmed {bare} frees the {signal} from the weak cap.",
        "A {signal} in {range} stays weak unless a {bare} is confirmed, as it is here.",
    ),
    "range_limit": (
        "Inside {range} the {signal} is capped at weak.",
        "Because price sits in {range}, the {signal} can only be weak.",
        "{Range} caps the {signal} at weak.",
        "A {signal} inside {range} is held to weak.",
        "The {signal} is limited to weak by {range}.",
    ),
    "veto_overruled": (
        "{Pattern#bare} {ago} still stands against it, so the {signal} is capped at weak.",
        "Because {pattern#bare} from {ago} is still live, the {signal} stays weak.",
        "{Ago} left {pattern#bare} that is still live, which caps the {signal} at weak.",
        "With {pattern#bare} from {ago} still live, the {signal} is held to weak.",
        "The {signal} is held to weak by {pattern#bare} {ago}, still live.",
    ),
    "confirm_needed": (
        "Confirmation would be {bar_dir} closing {close} with a real body, on more volume than the bar before.",
        "It needs follow-through: {bar_dir} that closes {close}, with a real body and rising volume.",
        "Watch for {bar_dir} closing {close} on more volume than the bar before, with a real body.",
        "The next step to look for is {bar_dir} closing {close}, with a real body and more volume.",
        "Follow-through would mean {bar_dir}, a close {close}, a real body and volume above the prior bar.",
        "What it lacks is {bar_dir} with a real body, closing {close} on rising volume.",
        "To confirm, the market has to print {bar_dir} that closes {close} on more volume, with a real body.",
        "{Bar_dir} with a real body, closing {close} on rising volume, would confirm it.",
        "Confirmation: {bar_dir} closing {close}, with a real body, on more volume than the bar before.",
        "Look next for {bar_dir} on increasing volume that closes {close} with a real body.",
    ),
    "invalidation_bull": (
        "The {signal} is invalidated by a close below {price}, the low of the {bare} {ago}.",
        "A close below {price}, the low of the {bare} {ago}, would invalidate it.",
        "It fails on a close below {price}, where the {bare} {ago} made its low.",
        "The stop belongs below {price}, the low of the {bare} {ago}.",
        "Invalidation: a close under {price}, the low of the {bare} {ago}.",
    ),
    "invalidation_bull_recent": (
        "The {signal} is invalidated by a close below {price}, the low of {ago_pos#ago} {bare}.",
        "A close below {price}, the low of {ago_pos#ago} {bare}, would invalidate it.",
        "It fails on a close below {price}, where {ago_pos#ago} {bare} made its low.",
        "The stop belongs below {price}, the low of {ago_pos#ago} {bare}.",
        "Invalidation: a close under {price}, the low of {ago_pos#ago} {bare}.",
    ),
    "invalidation_bear_recent": (
        "The {signal} is invalidated by a close above {price}, the high of {ago_pos#ago} {bare}.",
        "A close above {price}, the high of {ago_pos#ago} {bare}, would invalidate it.",
        "It fails on a close above {price}, where {ago_pos#ago} {bare} made its high.",
        "The stop belongs above {price}, the high of {ago_pos#ago} {bare}.",
        "Invalidation: a close over {price}, the high of {ago_pos#ago} {bare}.",
    ),
    "invalidation_bear": (
        "The {signal} is invalidated by a close above {price}, the high of the {bare} {ago}.",
        "A close above {price}, the high of the {bare} {ago}, would invalidate it.",
        "It fails on a close above {price}, where the {bare} {ago} made its high.",
        "The stop belongs above {price}, the high of the {bare} {ago}.",
        "Invalidation: a close over {price}, the high of the {bare} {ago}.",
    ),
    "hold": (
        "The call is to hold: {reason}.",
        "So this is a hold, because {reason}.",
        "Hold for now: {reason}.",
        "The verdict is hold, as {reason}.",
        "No trade here: {reason}.",
        "The signal is hold, since {reason}.",
        "This is a hold; {reason}.",
        "Stay flat: {reason}.",
        "The answer for now is hold, because {reason}.",
        "Hold, since {reason}.",
        "There is no position to take: {reason}.",
        "For now the call is hold, as {reason}.",
    ),
    "veto": (
        "The live {pattern#bare} {ago} vetoes the {signal} the score alone would give.",
        "The score points to a {signal}, but {pattern#bare} {ago} is still live and vetoes it.",
        "A {signal} is blocked by {pattern#bare} {ago}, which is still live.",
        "Because {pattern#bare} from {ago} is still live, no {signal} is taken.",
        "{Pattern#bare} {ago} is still live and rules out the {signal}.",
    ),
    "lean": (
        "Hold, leaning {side}: too little evidence for a {signal}.",
        "The call is hold with a {side} lean, short of what a {signal} needs.",
        "Hold for now; the evidence leans {side} but stays under the threshold for a {signal}.",
        "No trade yet: the balance tilts {side} without reaching a {signal}.",
        "This is a hold with a {side} tilt, below the bar for a {signal}.",
        "Hold: the weight of evidence is {side}, yet too light for a {signal}.",
        "Stay flat for now; it is {side} on balance, though not by enough to {signal}.",
        "A hold: the score favours the {side} side but falls short of a {signal}.",
        "Hold, slightly {side}, with too little evidence for a {signal}.",
        "For now a hold; the lean is {side}, and a {signal} would need more evidence.",
    ),
    "stand_aside": (
        "{Pattern} is a reason to stand aside until volume returns.",
        "With {pattern} on the bar, the sensible course is to wait.",
        "{Pattern} says wait for a clearer bar.",
        "Stand aside: this is {pattern}.",
        "A bar like this, {pattern}, is one to sit out.",
    ),
    "void_case_bull": (
        "A close below {price} would void the {side} case.",
        "The {side} case is void on a close below {price}.",
        "Below {price} the {side} reading fails.",
        "A close under {price} would end the {side} case.",
        "The {side} side loses its footing on a close below {price}.",
    ),
    "void_case_bear": (
        "A close above {price} would void the {side} case.",
        "The {side} case is void on a close above {price}.",
        "Above {price} the {side} reading fails.",
        "A close over {price} would end the {side} case.",
        "The {side} side loses its footing on a close above {price}.",
    ),
    "wait": (
        "Wait for a bar with volume and a clear close before acting.",
        "The next bar with real volume and a decisive close will say more.",
        "Better to let the next bars show their hand.",
        "Patience: a bar with volume and a clear close is needed first.",
        "Nothing to do until volume and a clear close return.",
        "Let the market show its hand with volume before acting.",
        "A decisive bar on real volume would change the picture; until then, wait.",
        "Until a bar with volume settles it, stay on the sidelines.",
    ),
}

TEMPLATES: list[Template] = [Template(claim, text) for claim, texts in PHRASES.items() for text in texts]

GRAMMAR = Grammar(TEMPLATES)


_BY_CLAIM: dict[str, list[Template]] = {}
for _t in TEMPLATES:
    _BY_CLAIM.setdefault(_t.claim, []).append(_t)


def phrasings(claim: str) -> list[Template]:
    return _BY_CLAIM[claim]
