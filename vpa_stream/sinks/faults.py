"""Preference pairs: a faithful explanation and the same text with one realistic fault the checker flags.

``reject(example)`` tries the fault kinds in an order chosen by sha256 of the id (so the kinds spread over the
corpus deterministically) and returns the first one that the strict faithfulness checker flags against the
example's input (the input the prompt shows):

- ``number``: one number of the body moved by a few units of its last digit, as a model misreading or
  misremembering a price or a ratio would (``1.33`` -> ``1.40``);
- ``class_word``: one class word swapped for another class of the same scale (``thin volume`` ->
  ``heavy volume``, ``a wide range`` -> ``a narrow spread``, ``near its high`` -> ``near its low``);
- ``direction``: evidence said to argue for the call when it argues against it, or the reverse
  (``against the sell`` -> ``in favour of the sell``), or a pattern's side flipped (``bullish`` -> ``bearish``);
- ``dropped_evidence``: the sentences naming one evidence pattern left out;
- ``superlative``: a superlative over the bars shown turned into its opposite (``the heaviest volume`` ->
  ``the lightest volume``).

Every candidate is checked; a kind that does not apply (no such phrase) or that the checker would not flag is
skipped, so each returned answer is unfaithful by construction.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from vpa_stream.processors.engine import lexicon
from vpa_stream.processors.engine.grammar import sentences
from vpa_stream.processors.faithfulness import check_text
from vpa_stream.schemas.example_record import explanation_of, inputs_of, signal_of

FAULT_KINDS = ("number", "class_word", "direction", "dropped_evidence", "superlative")

_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*\.\d+")
_SCALES = ("volume", "spread", "close")
_SUPERLATIVES = (("the heaviest volume", "the lightest volume"), ("the widest spread", "the narrowest spread"),
                 ("the highest close", "the lowest close"))
#: what the checker's problem for each kind starts with
FLAGGED_AS = {"number": ("number ",), "class_word": ("false claim",), "direction": ("false claim",),
             "dropped_evidence": ("evidence ",), "superlative": ("false claim",)}


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    text: str
    problems: tuple[str, ...]


def _rank(example_id: str, salt: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{salt}|{example_id}".encode()).digest()[:4])


def reject(example: dict[str, Any], decimals: int | None = None) -> Fault | None:
    """One faulty version of ``example``'s explanation that the strict checker flags, or None (no kind applies)."""
    text = explanation_of(example)
    head, sep, body = text.partition("\n")
    start = _rank(example["id"], "kind") % len(FAULT_KINDS)
    kinds = FAULT_KINDS[start:] + FAULT_KINDS[:start]
    for kind in kinds:
        for candidate in _CANDIDATES[kind](body, example):
            faulty = head + sep + candidate
            problems = check_text(inputs_of(example), signal_of(example), faulty, None, True, decimals)
            if any(p.startswith(FLAGGED_AS[kind]) for p in problems):
                return Fault(kind, faulty, tuple(problems))
    return None


def _numbers(body: str, example: dict[str, Any]) -> Iterator[str]:
    matches = list(_NUMBER.finditer(body))
    if not matches:
        return
    m = matches[_rank(example["id"], "number") % len(matches)]
    token = m.group(0).replace(",", "")
    decimals = len(token.split(".")[1])
    unit = 10 ** -decimals
    for step in (7, -7, 13, -13, 29):
        value = float(token) + step * unit
        if value > 0:
            yield body[:m.start()] + f"{value:,.{decimals}f}" + body[m.end():]


def _class_words(body: str, example: dict[str, Any]) -> Iterator[str]:
    found = []
    for slot in _SCALES:
        for code, phrases in lexicon.WORDS[slot].items():
            for phrase in phrases:
                for m in re.finditer(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", body):
                    found.append((m.start(), m.end(), slot, code))
    found.sort()
    if not found:
        return
    offset = _rank(example["id"], "class") % len(found)
    for start, end, slot, code in found[offset:] + found[:offset]:
        others = [c for c in lexicon.WORDS[slot] if c != code]
        other = others[_rank(example["id"], slot) % len(others)]
        yield body[:start] + lexicon.words(slot, other) + body[end:]


def _directions(body: str, example: dict[str, Any]) -> Iterator[str]:
    swaps = [(p, lexicon.words("relation", "AGAINST" if code == "FOR" else "FOR"))
             for code, phrases in lexicon.WORDS["relation"].items() for p in phrases]
    swaps += [("bullish", "bearish"), ("bearish", "bullish")]
    for phrase, other in swaps:
        for m in re.finditer(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", body):
            yield body[:m.start()] + other + body[m.end():]


def _dropped_evidence(body: str, example: dict[str, Any]) -> Iterator[str]:
    paragraphs = [p for p in body.strip().split("\n\n")]
    for e in inputs_of(example).get("evidence") or []:
        bare = lexicon.PATTERN_BARE[e["pattern"]]
        kept = [[s for s in sentences(p) if bare not in s.lower()] for p in paragraphs]
        if sum(map(len, kept)) == sum(len(sentences(p)) for p in paragraphs):
            continue  # the pattern is not named in words this way
        rest = [" ".join(k) for k in kept if k]
        if 2 <= len(rest) <= 4:
            yield "\n" + "\n\n".join(rest)


def _superlatives(body: str, example: dict[str, Any]) -> Iterator[str]:
    for a, b in _SUPERLATIVES:
        for phrase, other in ((a, b), (b, a)):
            i = body.find(phrase)
            if i >= 0:
                yield body[:i] + other + body[i + len(phrase):]


_CANDIDATES: dict[str, Callable[[str, dict[str, Any]], Iterator[str]]] = {
    "number": _numbers, "class_word": _class_words, "direction": _directions,
    "dropped_evidence": _dropped_evidence, "superlative": _superlatives,
}
