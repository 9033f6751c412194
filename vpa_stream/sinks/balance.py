"""``export --balance cap|oversample``: stratify the *train* split by (signal type, strength), deterministically.

Under rules v2 a STRONG BUY or SELL is rare (16 of the 9,663 sample examples), too rare for a model to learn
from the natural distribution, and HOLD is most of the data. The rules:
  1. ``cap``: every class is cut to at most ``class_cap`` rows (default: the size of the largest BUY or SELL
     class, and at least 5% of the train split, so in practice the HOLD classes are cut first and the
     directional classes keep every row). The
     rows kept are those of lowest sha256(id), a pure function of the ids (as ``--hold-cap``).
  2. ``oversample``: after the cap, every class below ``class_floor`` rows (default: a quarter of the cap) is
     repeated, its rows in sha256(id) order, round after round, until it reaches the floor or each row has
     been written ``MAX_COPIES`` times (beyond that a model memorises the rows rather than learning the class).
  3. The rows keep their chronological order; the copies of a row follow it. Validation and test are never
     balanced: evaluation measures the distribution a user will meet.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from vpa_stream.schemas.example_record import signal_of
from vpa_stream.sinks.exports import hold_rank

BALANCE_MODES = ("cap", "oversample")
MAX_COPIES = 10
#: the default cap is never below this share of the train split (a budget may have left few BUY/SELL rows)
MIN_CAP_SHARE = 0.05
DIRECTIONS = ("BUY", "SELL")


class BalanceError(ValueError):
    """Options no train split can satisfy."""


@dataclass(frozen=True, slots=True)
class BalanceOptions:
    mode: str
    class_cap: int | None = None
    class_floor: int | None = None

    def check(self) -> None:
        if self.mode not in BALANCE_MODES:
            raise BalanceError(f"unknown --balance {self.mode!r}: use {' or '.join(BALANCE_MODES)}")
        for name, value in (("--class-cap", self.class_cap), ("--class-floor", self.class_floor)):
            if value is not None and value < 1:
                raise BalanceError(f"{name} must be 1 or more")
        if self.mode == "cap" and self.class_floor is not None:
            raise BalanceError("--class-floor needs --balance oversample")


@dataclass
class BalanceReport:
    mode: str
    cap: int
    floor: int | None
    before: dict[str, int] = field(default_factory=dict)  # "TYPE STRENGTH" -> rows
    after: dict[str, int] = field(default_factory=dict)


def label_of(example: dict[str, Any]) -> str:
    signal = signal_of(example)
    return f"{signal['type']} {signal['strength']}"


def balance_train(rows: list[dict[str, Any]], options: BalanceOptions) -> tuple[list[dict[str, Any]], BalanceReport]:
    """The balanced train rows (copies included, in order) and the class counts before and after."""
    options.check()
    before = Counter(label_of(e) for e in rows)
    directional = [n for label, n in before.items() if label.split()[0] in DIRECTIONS]
    cap = options.class_cap or max(max(directional, default=1), math.ceil(MIN_CAP_SHARE * len(rows)))
    floor = (options.class_floor or max(1, cap // 4)) if options.mode == "oversample" else None
    by_class: dict[str, list[dict[str, Any]]] = {}
    for e in rows:
        by_class.setdefault(label_of(e), []).append(e)
    copies: dict[str, int] = {}
    for items in by_class.values():
        ranked = sorted(items, key=lambda e: hold_rank(e["id"]))[:cap]
        for e in ranked:
            copies[e["id"]] = 1
        if floor is not None and len(ranked) < floor:
            extra = min(floor, len(ranked) * MAX_COPIES) - len(ranked)
            for i in range(extra):
                copies[ranked[i % len(ranked)]["id"]] += 1
    out = [e for e in rows if e["id"] in copies for _ in range(copies[e["id"]])]
    report = BalanceReport(options.mode, cap, floor, dict(sorted(before.items())),
                           dict(sorted(Counter(label_of(e) for e in out).items())))
    return out, report
