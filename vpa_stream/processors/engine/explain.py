"""The explanation of DOMAIN §7: an analyst's note written from the facts of the prompt, claim by claim.

The first line keeps the codes (``Signal: BUY (MODERATE)``); then up to four paragraphs in plain words: the
background (the evidence of the last bars, oldest first: what confirmed or voided each pattern and which side it
is on), this bar (effort against result, with its numbers), location and context (trend, range, levels and the
room to them, other timeframes), and the plan (how the sides weigh, the call, what makes it strong or holds it
back, what would confirm it, where it is invalidated). Every sentence is a template of ``phrasebook`` filled from a
true row of ``facts``, so the checker can parse it back and verify it; the phrasing, the optional sentences and
the order of the first two paragraphs are chosen deterministically from the id.
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Any

from vpa_stream.processors.config import VPAConfig
from vpa_stream.processors.engine.facts import Facts, facts
from vpa_stream.processors.engine.grammar import Row
from vpa_stream.processors.engine.phrasebook import phrasings

#: evidence claim stems, oldest bar first within the background paragraph
_STEMS = ("live", "confirmed_ft", "confirmed_lvt", "void_close", "void_against", "void_taken")
#: paragraph orders the story allows: background and this bar may swap; location follows, the plan ends
_ORDERS = ((0, 1, 2), (1, 0, 2))


class Chooser:
    """Deterministic choices from the example id: the same id always gets the same words.

    The id is hashed once (blake2b); each choice mixes that seed with the CRC-32 of its key, so choices are
    independent of each other, identical in every process and cheap.
    """

    def __init__(self, example_id: str) -> None:
        self.seed = int.from_bytes(hashlib.blake2b(example_id.encode(), digest_size=4).digest(), "big")

    def number(self, key: str) -> int:
        x = (zlib.crc32(key.encode()) ^ self.seed) * 0x9E3779B1 & 0xFFFFFFFF  # Knuth's multiplicative mix
        return x ^ (x >> 16)

    def chance(self, key: str, percent: int) -> bool:
        return self.number(key) % 100 < percent


class Writer:
    def __init__(self, f: Facts, choose: Chooser) -> None:
        self.f = f
        self.choose = choose

    def say(self, claim: str, row: Row, key: str) -> str:
        templates = phrasings(claim)
        n = self.choose.number(f"{claim}|{key}")
        return templates[n % len(templates)].render(row, n // len(templates), self.f.timeframe)

    def first(self, claim: str, key: str = "") -> str | None:
        rows = self.f.true(claim)
        return self.say(claim, rows[0], key or claim) if rows else None


def _evidence_rows(f: Facts) -> list[tuple[str, Row]]:
    """(plain claim kind, row) of each evidence group of the earlier bars, oldest first."""
    rows = [(f"ev_{stem}{many}", row) for stem in _STEMS for many in ("", "_many")
            for row in f.true(f"ev_{stem}{many}")]
    rows.sort(key=lambda kr: -int(kr[1]["ago"]))  # type: ignore[arg-type]
    return rows


def _background(w: Writer) -> list[str]:
    f = w.f
    out: list[str] = []
    quiet = w.first("quiet_history")
    if quiet is not None:
        out.append(quiet)
    told: set[str] = set()  # the sides whose relation to the call has been said
    glossed = False
    for kind, row in _evidence_rows(f):
        side = str(row["side"])
        key = f"{kind}|{row['ago']}|{side}"
        if row["state"] != "VOID" and side not in told:
            told.add(side)  # the first live sentence of a side says which way it counts; the others need not
            if f.side == 0:
                out.append(w.say(kind + "_side", row, key))
            else:
                rel = "FOR" if (1 if side == "BULLISH" else -1) == f.side else "AGAINST"
                out.append(w.say(kind + "_rel", {**row, "relation": rel, "signal": f.signal}, key))
        else:
            out.append(w.say(kind, row, key))
        if not glossed and row["state"] != "VOID" and len(row["patterns"]) == 1:  # type: ignore[arg-type]
            pattern = row["patterns"][0]  # type: ignore[index]
            if w.choose.chance(f"gloss|{pattern}", 50):
                out.append(w.say("gloss", {"pattern": pattern, "gloss": pattern}, f"gloss|{pattern}"))
                glossed = True
    for kind in ("htf_evidence", "htf_evidence_hold"):
        for row in f.true(kind):
            out.append(w.say(kind, row, f"{kind}|{row['chart']}"))
    return out


def _this_bar(w: Writer, inp: dict[str, Any]) -> list[str]:
    f = w.f
    out: list[str] = []
    for kind in ("evidence_now", "evidence_now_hold"):
        for row in f.true(kind):
            out.append(w.say(kind, row, f"{kind}|{row['side']}"))
            heaviest = row["patterns"][0]  # type: ignore[index]
            if w.choose.chance(f"gloss-now|{heaviest}", 60):
                out.append(w.say("gloss", {"pattern": heaviest, "gloss": heaviest}, f"gloss-now|{heaviest}"))
    pierce = w.first("pierce")
    if pierce is not None:
        out.append(pierce)
    out.append(w.say("bar_effort", f.true("bar_effort")[0], "bar_effort"))
    wicks = f.true("wick")
    if wicks and w.choose.chance("wick", 50):
        out.append(w.say("wick", max(wicks, key=lambda r: str(r["ratio"])), "wick"))
    fired = {name for name, p in inp["pattern_analysis"].items() if p["detected"]}
    if not fired & {"ANOMALY", "ABSORPTION_BULLISH", "ABSORPTION_BEARISH"}:  # their glosses already say it
        out.append(w.say("effort_result", f.true("effort_result")[0], "effort_result"))
    shape = w.first("shape")
    if shape is not None and w.choose.chance("shape", 60):
        out.append(shape)
    extremes = f.true("extreme")
    said_volume = False
    if extremes and w.choose.chance("extreme", 80):
        row = extremes[w.choose.number("extreme-row") % len(extremes)]
        said_volume = str(row["extreme"]).endswith("VOLUME")
        out.append(w.say("extreme", row, "extreme"))
    prior = w.first("prior_volume")
    if prior is not None and not said_volume and w.choose.chance("prior", 60):
        out.append(prior)
    for row in f.true("neutral_pattern"):
        out.append(w.say("neutral_pattern", row, f"neutral|{row['pattern']}"))
    return out


def _context(w: Writer) -> list[str]:
    f = w.f
    out = [s for s in (w.first("trend"), w.first("trend_flat")) if s is not None]
    volume = f.true("volume_trend")[0]
    if volume["validation"] != "NONE":  # with no verdict on the trend, the sentence would say nothing
        out.append(w.say("volume_trend", volume, "volume_trend"))
    swing = w.first("swing")
    if swing is not None and w.choose.chance("swing", 40):
        out.append(swing)
    ranged = False
    for kind in ("range", "range_neutral"):
        for row in f.true(kind):
            out.append(w.say(kind, row, "range"))
            ranged = True
    if ranged or w.choose.chance("position", 40):
        out.append(w.say("range_position", f.true("range_position")[0], "position"))
    for kind in ("levels", "levels_no_support", "levels_no_resistance", "levels_none"):
        for row in f.true(kind):
            out.append(w.say(kind, row, "levels"))
    for kind in ("room", "open_room", "risk_room"):
        for row in f.true(kind):
            if kind != "open_room" or w.choose.chance("open-room", 50):
                out.append(w.say(kind, row, kind))
    echoed = {str(row["chart"]) for kind in ("htf_evidence", "htf_evidence_hold") for row in f.true(kind)}
    for kind in ("mtf", "mtf_lower"):
        for row in f.true(kind):
            out.append(w.say(kind, row, f"{kind}|{row['chart']}"))
    for row in f.true("mtf_pattern"):
        if row["chart"] not in echoed and w.choose.chance(f"mtf-pattern|{row['chart']}", 60):
            out.append(w.say("mtf_pattern", row, f"mtf_pattern|{row['chart']}"))
    return out


def _plan(w: Writer) -> list[str]:
    f = w.f
    out: list[str] = []
    balance = f.true("balance")
    if balance:
        want = "MATCHES" if f.reason == "CONFLICT" else "OUTWEIGHS"
        chosen = [r for r in balance if r["weigh"] == want] or balance
        out.append(w.say("balance", chosen[0], "balance"))
    elif f.side and f.true("one_sided") and w.choose.chance("one-sided", 50):
        out.append(w.say("one_sided", f.true("one_sided")[0], "one_sided"))
    if f.side:
        out.append(w.say("call", f.true("call")[0], "call"))
        strong = f.true("strong")
        stop = (f.true("invalidation_bull") + f.true("invalidation_bear") + f.true("invalidation_bull_recent")
                + f.true("invalidation_bear_recent"))
        if f.strength == "STRONG" and strong:
            same = [r for r in strong if stop and r["pattern"] == stop[0]["pattern"]]
            out.append(w.say("strong", (same or strong)[0], "strong"))
        elif f.true("limits"):
            out.append(w.say("limits", f.true("limits")[0], "limits"))
        for kind in ("htf_limit", "range_limit", "range_lifted", "veto_overruled"):
            rows = f.true(kind)
            if rows:  # one sentence each: the heaviest veto says it
                out.append(w.say(kind, rows[0], kind))
        ok = w.first("htf_ok")
        if ok is not None and w.choose.chance("htf_ok", 40):
            out.append(ok)
        needed = w.first("confirm_needed")
        if needed is not None:
            out.append(needed)
        for kind in ("invalidation_bull", "invalidation_bear", "invalidation_bull_recent", "invalidation_bear_recent"):
            for row in f.true(kind):
                out.append(w.say(kind, row, "invalidation"))
        return out
    for kind in ("hold", "veto", "lean", "stand_aside"):
        rows = f.true(kind)
        if rows:
            out.append(w.say(kind, rows[0], kind))
    needed = w.first("confirm_needed")
    if needed is not None:
        out.append(needed)
    for kind in ("void_case_bull", "void_case_bear"):
        for row in f.true(kind):
            out.append(w.say(kind, row, kind))
    if f.true("wait"):
        out.append(w.say("wait", {}, "wait"))
    return out


def explain(record_input: dict[str, Any], signal: dict[str, str], decimals: int, example_id: str,
            cfg: VPAConfig | None = None) -> str:
    """The explanation of one example: a pure function of its input, its signal, the config and its id."""
    f = facts(record_input, signal, cfg, decimals)
    w = Writer(f, Chooser(example_id))
    background, bar, context = _background(w), _this_bar(w, record_input), _context(w)
    if f.true("quiet_history") and len(background) == 1:
        bar = background + bar  # a bar with no history: its background is one sentence of its own paragraph
        background = []
    parts = [background, bar, context]
    order = _ORDERS[w.choose.number("order") % len(_ORDERS)]
    paragraphs = [" ".join(parts[i]) for i in order if parts[i]] + [" ".join(_plan(w))]
    return f"Signal: {signal['type']} ({signal['strength']})\n\n" + "\n\n".join(paragraphs)
