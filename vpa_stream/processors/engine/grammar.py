"""Sentence templates with typed slots, rendered by the realiser and parsed back by the faithfulness checker.

A template is text with slots ``{type}`` or ``{type#name}`` (``{Type}`` capitalises the value at the start of
a sentence). Each slot type renders a canonical value (a code, a count, a formatted number, a tuple of pattern
codes) into words through the lexicon, and compiles to a regular expression that reads those words back into
the same canonical value. So every sentence the realiser writes can be parsed into its claim: the claim kind of
its template and the canonical value of each slot, which the checker compares with the facts of the prompt.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vpa_stream.processors.engine import lexicon as lx

Value = str | int | tuple[str, ...]
Row = dict[str, Value]

_SLOT = re.compile(r"\{(\w+)(?:#(\w+))?\}")
_PRICE = r"\d[\d,]*(?:\.\d+)?"
_RATIO = r"-?\d+\.\d\d"


def _alternation(phrases: list[str]) -> str:
    return "(?:" + "|".join(re.escape(p) for p in sorted(set(phrases), key=len, reverse=True)) + ")"


def _ago_phrases(noun: str, plural: str) -> dict[str, int]:
    out = {f"this {noun}": 0, f"the previous {noun}": 1, f"the {noun} before": 1}
    for k in range(2, 13):
        out[f"{lx.number_word(k)} {plural} ago"] = k
    return out


_AGO: dict[str, int] = {"today": 0, "yesterday": 1}
for _tf, (_chart, _noun, _plural) in lx.TIMEFRAMES.items():
    _AGO.update(_ago_phrases(_noun, _plural))


_AGO_POS: dict[str, int] = {"today's": 0, "yesterday's": 1}
for _tf, (_chart, _noun, _plural) in lx.TIMEFRAMES.items():
    _AGO_POS.update({f"this {_noun}'s": 0, f"the previous {_noun}'s": 1})


_WHEN: dict[str, int] = {"today": 0, "yesterday": 1}
for _tf, (_chart, _noun, _plural) in lx.TIMEFRAMES.items():
    _WHEN.update({f"on this {_noun}": 0, f"on the previous {_noun}": 1})
    _WHEN.update({f"{lx.number_word(k)} {_plural} ago": k for k in range(2, 13)})


def when_words(bars_ago: int, timeframe: str, pick: int = 0) -> str:
    """An adverbial bar reference: "today", "on the previous bar", "three sessions ago"."""
    noun, plural = lx.bar_noun(timeframe), lx.bar_noun(timeframe, 2)
    if bars_ago == 0:
        options = [f"on this {noun}"] + (["today"] if timeframe == "1d" else [])
    elif bars_ago == 1:
        options = [f"on the previous {noun}"] + (["yesterday"] if timeframe == "1d" else [])
    else:
        options = [f"{lx.number_word(bars_ago)} {plural} ago"]
    return options[pick % len(options)]


def ago_possessive(bars_ago: int, timeframe: str, pick: int = 0) -> str:
    """A possessive bar reference for this bar or the one before: "today's", "the previous session's"."""
    noun = lx.bar_noun(timeframe)
    if bars_ago == 0:
        options = [f"this {noun}'s"] + (["today's"] if timeframe == "1d" else [])
    else:
        options = [f"the previous {noun}'s"] + (["yesterday's"] if timeframe == "1d" else [])
    return options[pick % len(options)]


def ago_words(bars_ago: int, timeframe: str, pick: int = 0) -> str:
    """Words for "``bars_ago`` bars before t" in ``timeframe`` (daily bars also say today / yesterday)."""
    noun, plural = lx.bar_noun(timeframe), lx.bar_noun(timeframe, 2)
    if bars_ago == 0:
        options = [f"this {noun}"] + (["today"] if timeframe == "1d" else [])
    elif bars_ago == 1:
        options = [f"the previous {noun}", f"the {noun} before"] + (["yesterday"] if timeframe == "1d" else [])
    else:
        options = [f"{lx.number_word(bars_ago)} {plural} ago"]
    return options[pick % len(options)]


@dataclass(frozen=True, slots=True)
class SlotType:
    pattern: str  # regular expression of its words
    read: Callable[[str], Value]  # words -> canonical value


def _lexicon_slot(slot: str) -> SlotType:
    phrases = [p for options in lx.WORDS[slot].values() for p in options]
    return SlotType(_alternation(phrases), lambda text: lx.code_of(slot, text) or "?")


def _pattern_list(text: str) -> tuple[str, ...]:
    parts = re.split(r", | and ", text)
    return tuple(sorted(_PATTERN_CODE.get(p, "?") for p in parts))


_PATTERN_CODE = {**{v: k for k, v in lx.PATTERN_PHRASE.items()}, **{v: k for k, v in lx.PATTERN_BARE.items()}}
_ONE_PATTERN = _alternation(list(lx.PATTERN_PHRASE.values()))
_NUMBER_WORD = _alternation([*lx.NUMBER_WORDS]) + r"|\d[\d,]*"

def _touches(text: str) -> int:
    return lx.number_of(text.split(" ")[0]) or 0


def _list_slot(slot: str) -> SlotType:
    """A list of one lexicon slot's phrases ("a, b and c"), read back as the sorted tuple of their codes."""
    one = _lexicon_slot(slot).pattern

    def read(text: str) -> tuple[str, ...]:
        return tuple(sorted(lx.code_of(slot, part) or "?" for part in re.split(r", and |, | and ", text)))

    return SlotType(f"{one}(?:, {one})*(?:,? and {one})?", read)


SLOT_TYPES: dict[str, SlotType] = {
    "touches": SlotType(f"(?:{_NUMBER_WORD}) touch(?:es)?", _touches),
    "limits": _list_slot("limit"),
    "price": SlotType(_PRICE, lambda text: text.replace(",", "")),
    "ratio": SlotType(_RATIO, lambda text: text),
    "count": SlotType(f"(?:{_NUMBER_WORD})", lambda text: lx.number_of(text) or 0),
    "ago": SlotType(_alternation(list(_AGO)), lambda text: _AGO[text]),
    "ago_pos": SlotType(_alternation(list(_AGO_POS)), lambda text: _AGO_POS[text]),
    "when": SlotType(_alternation(list(_WHEN)), lambda text: _WHEN[text]),
    "pattern": SlotType(_ONE_PATTERN, lambda text: _PATTERN_CODE.get(text, "?")),
    "bare": SlotType(_alternation(list(lx.PATTERN_BARE.values())), lambda text: _PATTERN_CODE.get(text, "?")),
    "patterns": SlotType(f"{_ONE_PATTERN}(?:, {_ONE_PATTERN})*(?: and {_ONE_PATTERN})?", _pattern_list),
    "gloss": SlotType(_alternation(list(lx.PATTERN_GLOSS.values())),
                      lambda text: {v: k for k, v in lx.PATTERN_GLOSS.items()}.get(text, "?")),
    "chart": SlotType(_alternation([lx.chart(tf) for tf in lx.TIMEFRAMES]),
                      lambda text: {lx.chart(tf): tf for tf in lx.TIMEFRAMES}.get(text, "?")),
    "noun": SlotType(_alternation([n for _, a, b in lx.TIMEFRAMES.values() for n in (a, b)]), lambda text: text),
    **{slot: _lexicon_slot(slot) for slot in lx.WORDS},
}


def render_value(kind: str, value: Value, pick: int, timeframe: str) -> str:
    """The words of a canonical ``value`` of slot type ``kind``."""
    if kind in lx.WORDS:
        return lx.words(kind, str(value), pick)
    if kind in ("price", "ratio"):
        return str(value)
    if kind == "count":
        return lx.number_word(int(value))  # type: ignore[arg-type]
    if kind == "ago":
        return ago_words(int(value), timeframe, pick)  # type: ignore[arg-type]
    if kind == "ago_pos":
        return ago_possessive(int(value), timeframe, pick)  # type: ignore[arg-type]
    if kind == "when":
        return when_words(int(value), timeframe, pick)  # type: ignore[arg-type]
    if kind == "pattern":
        return lx.PATTERN_PHRASE[str(value)]
    if kind == "bare":
        return lx.PATTERN_BARE[str(value)]
    if kind == "patterns":
        names = [lx.PATTERN_PHRASE[n] for n in value]  # type: ignore[union-attr]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    if kind == "gloss":
        return lx.PATTERN_GLOSS[str(value)]
    if kind == "chart":
        return lx.chart(str(value))
    if kind == "noun":
        return str(value)
    if kind == "touches":
        return lx.counted(int(value), "touch", "touches")  # type: ignore[arg-type]
    if kind == "limits":
        phrases = [lx.words("limit", code, pick) for code in value]  # type: ignore[union-attr]
        return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    raise KeyError(kind)


class Template:
    """One phrasing of a claim kind."""

    __slots__ = ("_parts", "claim", "text")

    def __init__(self, claim: str, text: str) -> None:
        self.claim = claim
        self.text = text
        #: the text cut into literals and slots (type, row key, capitalised), rendered without a regex
        parts: list[tuple[str, str, str, bool]] = []
        pos = 0
        for m in _SLOT.finditer(text):
            kind = m.group(1)
            parts.append((text[pos : m.start()], kind.lower(), m.group(2) or kind.lower(), kind[:1].isupper()))
            pos = m.end()
        parts.append((text[pos:], "", "", False))
        self._parts = parts

    def __repr__(self) -> str:
        return f"Template({self.claim!r}, {self.text!r})"

    def slots(self) -> list[tuple[str, str, bool]]:
        """(type, name, capitalised) of each slot, in order."""
        return [(kind, name, cap) for _, kind, name, cap in self._parts if kind]

    def render(self, row: Row, pick: int, timeframe: str) -> str:
        out = []
        for k, (literal, kind, name, capitalised) in enumerate(self._parts):
            out.append(literal)
            if kind:
                text = render_value(kind, row[name], pick + k, timeframe)
                out.append(lx.capitalised(text) if capitalised else text)
        return "".join(out)

    def regex(self, index: int) -> str:
        out = []
        pos = 0
        for k, m in enumerate(_SLOT.finditer(self.text)):
            out.append(re.escape(self.text[pos : m.start()]))
            kind = m.group(1).lower()
            pattern = SLOT_TYPES[kind].pattern
            if m.group(1)[:1].isupper():
                pattern = _capitalised_pattern(kind)
            out.append(f"(?P<t{index}_{k}>{pattern})")
            pos = m.end()
        out.append(re.escape(self.text[pos:]))
        return f"(?P<t{index}>{''.join(out)})"


def _capitalised_pattern(kind: str) -> str:
    """A capitalised slot starts a sentence: its words with the first letter in upper case."""
    return f"(?:{_CAPITALISED.get(kind) or SLOT_TYPES[kind].pattern})"


_CAPITALISED: dict[str, str] = {}


def _capitalise_alternatives(kind: str) -> str:
    phrases: list[str] = []
    if kind in lx.WORDS:
        phrases = [p for options in lx.WORDS[kind].values() for p in options]
    elif kind == "ago":
        phrases = list(_AGO)
    elif kind == "pattern":
        phrases = list(lx.PATTERN_PHRASE.values())
    elif kind == "chart":
        phrases = [lx.chart(tf) for tf in lx.TIMEFRAMES]
    return _alternation([lx.capitalised(p) for p in phrases]) if phrases else SLOT_TYPES[kind].pattern


for _kind in ("ago", "pattern", "chart", *lx.WORDS):
    _CAPITALISED[_kind] = _capitalise_alternatives(_kind)
_CAPITALISED["patterns"] = f"{_CAPITALISED['pattern']}(?:, {_ONE_PATTERN})*(?: and {_ONE_PATTERN})?"


def matches(parsed: Row, row: Row) -> bool:
    """A parsed claim is true of a row when every slot it names has the row's value (a listed subset for lists)."""
    for key, value in parsed.items():
        if key not in row:
            return False
        truth = row[key]
        if isinstance(value, tuple) and isinstance(truth, tuple):
            if not set(value) <= set(truth):
                return False
        elif value != truth:
            return False
    return True


class Grammar:
    """Every template of every claim kind, compiled into expressions that parse a sentence into its claims.

    A template text shared by several claim kinds (singular and plural subjects can read alike) parses into
    each of them. Templates are indexed by the words a sentence can start with, so a sentence is matched only
    against the templates that could read it.
    """

    def __init__(self, templates: list[Template]) -> None:
        self.templates = templates
        self.claims: dict[str, list[str]] = {}
        unique: list[Template] = []
        for t in templates:
            if t.text not in self.claims:
                unique.append(t)
            self.claims.setdefault(t.text, []).append(t.claim)
        self.unique = unique
        self._slots = [t.slots() for t in unique]
        by_word: dict[str, list[int]] = {}
        for i, t in enumerate(unique):
            for word in _first_words(t):
                by_word.setdefault(word, []).append(i)
        self._by_word = by_word
        self._index: dict[str, re.Pattern[str]] = {}  # compiled on first use: all of them take seconds

    def _expression(self, word: str) -> re.Pattern[str] | None:
        compiled = self._index.get(word)
        if compiled is None:
            members = self._by_word.get(word)
            if members is None:
                return None
            compiled = self._index[word] = re.compile("|".join(self.unique[i].regex(i) for i in members))
        return compiled

    def parse(self, sentence: str) -> list[tuple[str, Row]]:
        """(claim kind, canonical slot values) of each reading of a sentence; empty when no template reads it."""
        compiled = self._expression(_first_word(sentence))
        m = compiled.fullmatch(sentence) if compiled is not None else None
        if m is None:
            return []
        name = m.lastgroup
        assert name is not None
        index = int(name[1:])
        row: Row = {}
        for k, (kind, slot, capitalised) in enumerate(self._slots[index]):
            text = m.group(f"t{index}_{k}")
            if capitalised:
                text = text[:1].lower() + text[1:]
            row[slot] = SLOT_TYPES[kind].read(text)
        return [(claim, row) for claim in self.claims[self.unique[index].text]]


_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*|-?\d")


def _first_word(text: str) -> str:
    m = _WORD.match(text)
    if m is None:
        return ""
    word = m.group(0)
    return "#" if word[-1].isdigit() else word


def _first_words(t: Template) -> set[str]:
    """The words a sentence of template ``t`` can start with."""
    m = _SLOT.match(t.text)
    if m is None:
        return {_first_word(t.text)}
    kind = m.group(1)
    if kind.lower() in ("price", "ratio", "count"):
        return {"#"} | ({w.capitalize() for w in lx.NUMBER_WORDS} if kind.lower() == "count" else set())
    phrases = _slot_phrases(kind.lower())
    if kind[:1].isupper():
        phrases = [lx.capitalised(p) for p in phrases]
    return {_first_word(p) for p in phrases}


def _slot_phrases(kind: str) -> list[str]:
    if kind in lx.WORDS:
        return [p for options in lx.WORDS[kind].values() for p in options]
    if kind == "ago":
        return list(_AGO)
    if kind == "ago_pos":
        return list(_AGO_POS)
    if kind == "when":
        return list(_WHEN)
    if kind in ("pattern", "patterns"):
        return list(lx.PATTERN_PHRASE.values())
    if kind == "bare":
        return list(lx.PATTERN_BARE.values())
    if kind == "gloss":
        return list(lx.PATTERN_GLOSS.values())
    if kind == "chart":
        return [lx.chart(tf) for tf in lx.TIMEFRAMES]
    raise KeyError(kind)


def sentences(paragraph: str) -> list[str]:
    """A paragraph's sentences: split after a full stop followed by a space and a capital letter."""
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", paragraph.strip()) if s]


def _mask_pattern() -> re.Pattern[str]:
    phrases: set[str] = set()
    for kind in ("ago", "ago_pos", "when", "pattern", "bare", "gloss", "chart", *lx.WORDS):
        phrases |= set(_slot_phrases(kind))
    phrases |= {f"{w} {noun}" for w in lx.NUMBER_WORDS for noun in ("touch", "touches")}
    phrases |= {w for w in lx.NUMBER_WORDS}
    phrases |= {lx.capitalised(p) for p in phrases}
    return re.compile(r"(?<![\w-])" + _trie_regex(phrases) + r"(?![\w-])")


def _trie_regex(phrases: set[str]) -> str:
    """One expression for many literal phrases, as a trie (longest match first): far faster than an alternation
    of hundreds of phrases."""
    trie: dict[str, Any] = {}
    for p in phrases:
        node = trie
        for ch in p:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(trie)


_MASK = _mask_pattern()
_NUMBER_TOKEN = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")


def skeleton(sentence: str) -> str:
    """A sentence with its slot values masked: numbers -> #, lexicon words, bar references, pattern names and
    glosses -> _ (the phrasing a reader sees repeated, whatever the data)."""
    return _MASK.sub("_", _NUMBER_TOKEN.sub("#", sentence))
