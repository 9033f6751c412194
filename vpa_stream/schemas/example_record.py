"""The example record's accessors: the one place outside the engine that knows where its common fields sit.

A record (DOMAIN §6, ``example.v2.avsc``) is ``{"id", "input": {...}, "output": {"signal": {...}, "explanation"}}``.
The sinks (exports, formats, report, evaluate, balance, fit) read it through these functions instead of writing
the key paths themselves, so renaming or moving a field changes the engine, the schema and this module: the
record-vs-schema tests (``tests/schemas/test_codec.py``) fail when the first two disagree, the sinks' tests when
this one does. Fields only one reader needs (the prompt views' candles, the checker's evidence) are read where
they are used.
"""

from __future__ import annotations

from typing import Any

Record = dict[str, Any]

__all__ = [
    "Record", "candle_of", "explanation_of", "id_of", "inputs_of", "signal_of", "signal_type_of", "strength_of",
    "ticker_of", "timeframe_of", "timestamp_of", "with_explanation", "with_inputs", "with_signal",
]


def id_of(record: Record) -> str:
    """The idempotency key ``SYMBOL|TIMEFRAME|CLOSE`` (DOMAIN §1)."""
    return str(record["id"])


def inputs_of(record: Record) -> Record:
    """The point-in-time input: everything the model may read."""
    result: Record = record["input"]
    return result


def ticker_of(record: Record) -> str:
    return str(record["input"]["ticker"])


def timeframe_of(record: Record) -> str:
    """The primary timeframe: the one the example's bar belongs to."""
    return str(record["input"]["primary_timeframe"])


def timestamp_of(record: Record) -> str:
    """The bar's close, ISO-8601 UTC (``2004-09-16T20:00:00Z``): such strings order as times."""
    return str(record["input"]["timestamp"])


def candle_of(record: Record) -> Record:
    """The current (example's own) candle."""
    result: Record = record["input"]["current_candle"]
    return result


def signal_of(record: Record) -> Record:
    """The label: ``{"type": BUY|SELL|HOLD, "strength": STRONG|MODERATE|WEAK, "reason": ...}``."""
    result: Record = record["output"]["signal"]
    return result


def signal_type_of(record: Record) -> str:
    return str(record["output"]["signal"]["type"])


def strength_of(record: Record) -> str:
    return str(record["output"]["signal"]["strength"])


def explanation_of(record: Record) -> str:
    """The analyst's note (plain English, every claim checkable against the input)."""
    return str(record["output"]["explanation"])


def with_signal(record: Record, signal: Record) -> Record:
    """A shallow copy of ``record`` whose label is ``signal`` (an evaluation's model answer, say)."""
    return {**record, "output": {**record["output"], "signal": signal}}


def with_explanation(record: Record, text: str) -> Record:
    """A shallow copy of ``record`` whose note is ``text``."""
    return {**record, "output": {**record["output"], "explanation": text}}


def with_inputs(record: Record, inputs: Record) -> Record:
    """A shallow copy of ``record`` whose input is ``inputs`` (a shortened prompt view, say)."""
    return {**record, "input": inputs}
