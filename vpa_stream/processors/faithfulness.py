"""Checks that an explanation says only what its prompt holds, claim by claim (DOMAIN §7).

- the first line equals ``Signal: TYPE (STRENGTH)`` of the signal being explained, and the body has 2-4 paragraphs;
- no code or field name in the body (no ALL_CAPS code, no snake_case), no "None", "nan", "UNKNOWN";
- every number printed is a number of the prompt at the printed precision;
- every sentence parses, through the phrasebook's grammar, into a claim whose slot values (lexicon words mapped
  back to codes, bar references, prices, ratios) match a fact of the prompt: a wrong class word, a false
  superlative, a direction word that disagrees with the call, or evidence said to support the call when it
  argues against it, is a false claim;
- every directional pattern of ``input.evidence`` is named, with its bar.

``strict=False`` (for answers written by a fine-tuned model) keeps every check but the parse: a sentence that no
template reads is not counted against it, while its numbers, codes and evidence coverage still are.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from vpa_stream.processors.config import VPAConfig
from vpa_stream.processors.engine import lexicon
from vpa_stream.processors.engine.facts import facts
from vpa_stream.processors.engine.grammar import matches, sentences
from vpa_stream.processors.engine.phrasebook import GRAMMAR
from vpa_stream.schemas.example_record import explanation_of, inputs_of, signal_of

_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")
_CODE = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b|\b(?:BUY|SELL|HOLD|STRONG|MODERATE|WEAK|BULLISH|BEARISH)\b")
_SNAKE = re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b")
_FORBIDDEN = re.compile(r"\b(None|nan|NaN|null|UNKNOWN|inf)\b")
_HEADER = re.compile(r"^Signal: (BUY|SELL|HOLD) \((STRONG|MODERATE|WEAK)\)$")
#: claims that name evidence: their slots say which pattern of which bar (and timeframe)
_EVIDENCE_CLAIMS = {"evidence_now", "evidence_now_hold", "htf_evidence", "htf_evidence_hold"}


def _walk(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)
    else:
        yield value


def parse_header(text: str) -> tuple[str, str] | None:
    """(type, strength) of an answer's first line, or None when it is not ``Signal: TYPE (STRENGTH)``."""
    m = _HEADER.match(text.split("\n", 1)[0].strip())
    return (m.group(1), m.group(2)) if m else None


def check_example(record: dict[str, Any], cfg: VPAConfig | None = None, strict: bool = True) -> list[str]:
    """Problems found in one example record (empty when faithful)."""
    decimals = record.get("meta", {}).get("price_decimals")
    return check_text(inputs_of(record), signal_of(record), explanation_of(record), cfg, strict,
                      decimals)


def check_text(inp: dict[str, Any], signal: dict[str, str], text: str, cfg: VPAConfig | None = None,
               strict: bool = True, decimals: int | None = None) -> list[str]:
    """Problems of ``text`` as the explanation of ``signal`` for the prompt ``inp``."""
    problems: list[str] = []
    head, _, body = text.partition("\n")
    header = f"Signal: {signal['type']} ({signal['strength']})"
    if head.strip() != header:
        problems.append(f"header {head!r} != {header!r}")
    paragraphs = [p.strip() for p in body.strip().split("\n\n")]
    if not body.strip() or any(not p for p in paragraphs):
        problems.append("empty paragraph")
    if not 2 <= len(paragraphs) <= 4:
        problems.append(f"{len(paragraphs)} paragraphs (2-4 expected)")
    for m in _FORBIDDEN.finditer(body):
        problems.append(f"forbidden word {m.group(0)!r}")
    for m in _CODE.finditer(body):
        problems.append(f"code {m.group(0)} in the body")
    for m in _SNAKE.finditer(body):
        problems.append(f"field name {m.group(0)} in the body")
    problems += _numbers(inp, body)

    try:
        f = facts(inp, signal, cfg, decimals)
    except KeyError as exc:  # a record of engine 1, or not an example at all: only the checks above apply
        return [*problems, f"not a v2 record: no {exc.args[0]!r} in the prompt"]
    named: set[tuple[str, int, str]] = set()
    tf = inp["primary_timeframe"]
    for paragraph in paragraphs:
        for sentence in sentences(paragraph):
            readings = GRAMMAR.parse(sentence)
            if not readings:
                if strict:
                    problems.append(f"unverifiable sentence: {sentence!r}")
                else:
                    named |= _named_by_words(sentence, inp)
                continue
            true = [(claim, row) for claim, row in readings if any(matches(row, t) for t in f.true(claim))]
            if not true:
                problems.append(f"false claim ({readings[0][0]}): {sentence!r}")
                continue
            claim, row = true[0]
            if claim in _EVIDENCE_CLAIMS or claim.startswith("ev_"):
                chart = str(row.get("chart", tf))
                ago = int(row["ago"]) if "ago" in row else 0  # type: ignore[arg-type]
                patterns = row.get("patterns") or (row["pattern"],)
                for p in patterns:  # type: ignore[union-attr]
                    named.add((str(p), ago if chart == tf else 0, chart))
    for e in inp["evidence"]:
        key = (e["pattern"], e["bars_ago"] if e["timeframe"] == tf else 0, e["timeframe"])
        if key not in named:
            problems.append(f"evidence {e['pattern']} ({e['timeframe']}, {e['bars_ago']} bars ago) not named")
    return problems


def _numbers(inp: dict[str, Any], body: str) -> list[str]:
    values = [v for v in _walk(inp) if isinstance(v, int | float) and not isinstance(v, bool)]
    rendered: dict[int, set[str]] = {}
    out = []
    for m in _NUMBER.finditer(body):
        token = m.group(0).replace(",", "")
        decimals = len(token.split(".")[1]) if "." in token else 0
        if decimals not in rendered:
            rendered[decimals] = {f"{v:.{decimals}f}" for v in values} | {f"{-v:.{decimals}f}" for v in values}
        if token not in rendered[decimals]:
            out.append(f"number {m.group(0)} not in the prompt")
    return out


def _named_by_words(sentence: str, inp: dict[str, Any]) -> set[tuple[str, int, str]]:
    """For a free-form sentence: the evidence it names by pattern words and a bar reference (lenient mode)."""
    out = set()
    tf = inp["primary_timeframe"]
    lowered = sentence.lower()
    for e in inp["evidence"]:
        name = e["pattern"]
        if lexicon.PATTERN_BARE[name] in lowered:
            out.add((name, e["bars_ago"] if e["timeframe"] == tf else 0, e["timeframe"]))
    return out
