"""Signal evaluation: forward returns of each example's bar from a price source, and hit rates against the base.

Forward returns are computed here, in memory, for the report only: they are never written into examples (a
label that knows the future would be lookahead in the dataset itself).

- Entry is the open of bar t+1 (the first price a reader of the example at t's close could trade), exit the
  close of bar t+h, for h in ``HORIZONS`` bars of the example's own series. Splits effective at bars t+2..t+h
  are undone (``Bar.split_ratio``: a split takes effect at its bar's open), so a 2-for-1 is not a -50% return.
  Prices as traded: dividends are not added back.
- A BUY hits when its return is > 0, a SELL when it is < 0. The base rate is the same event over every example
  with a return at that horizon (any label): the hit rate of a coin that always says BUY (or SELL).
- Confidence intervals: percentile bootstrap resampling (symbol, calendar month) clusters, not single
  examples, because returns over overlapping horizons and signals on neighbouring bars are not independent.
  Seeded per group from ``seed`` and the group's name, so the numbers do not depend on evaluation order.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vpa_stream.schemas.example_record import candle_of, signal_type_of, strength_of
from vpa_stream.schemas.models import Bar, iso_utc

log = logging.getLogger(__name__)

HORIZONS = (1, 5, 10, 20)
STRENGTHS = ("STRONG", "MODERATE", "WEAK")
DIRECTIONS = ("BUY", "SELL")
BOOTSTRAP = 2000
CONFIDENCE = 0.95


@dataclass(frozen=True, slots=True)
class PriceSeries:
    """One (symbol, timeframe) of the price source: opens, closes and the cumulative split factor per bar."""

    opens: np.ndarray
    closes: np.ndarray
    split_factor: np.ndarray  # product of split ratios up to and including each bar: price * factor is comparable

    def forward_return(self, t: int, h: int) -> float | None:
        """Return from the open of bar t+1 to the close of bar t+h (None when the series ends first)."""
        if t + h >= len(self.closes) or h < 1:
            return None
        entry = self.opens[t + 1] * self.split_factor[t + 1]
        exit_ = self.closes[t + h] * self.split_factor[t + h]
        return float(exit_ / entry - 1.0)


class PriceTable:
    """Price series of a source, and the bar index of every example id ("SYM|TF|close time")."""

    def __init__(self, bars: Iterable[Bar]) -> None:
        rows: dict[tuple[str, str], list[Bar]] = defaultdict(list)
        for bar in bars:
            rows[(bar.symbol, bar.timeframe)].append(bar)
        self.series: dict[tuple[str, str], PriceSeries] = {}
        self.index: dict[str, tuple[tuple[str, str], int]] = {}
        self.closes: dict[str, float] = {}
        for key, series in rows.items():
            series.sort(key=lambda b: b.close_time)
            self.series[key] = PriceSeries(
                np.array([b.open for b in series], dtype=float),
                np.array([b.close for b in series], dtype=float),
                np.cumprod(np.array([b.split_ratio for b in series], dtype=float)),
            )
            for i, b in enumerate(series):
                example_id = f"{b.symbol}|{b.timeframe}|{iso_utc(b.close_time)}"
                self.index[example_id] = (key, i)
                self.closes[example_id] = b.close

    def forward_return(self, example_id: str, h: int) -> float | None:
        hit = self.index.get(example_id)
        if hit is None:
            return None
        key, t = hit
        return self.series[key].forward_return(t, h)


def _cluster(example: dict[str, Any]) -> str:
    return f"{example['input']['ticker']}|{example['input']['timestamp'][:7]}"


def _seed(seed: int, name: str) -> int:
    return seed + int.from_bytes(hashlib.sha256(name.encode()).digest()[:4])


def bootstrap_ci(hits: np.ndarray, clusters: Sequence[str], seed: int, name: str,
                 resamples: int = BOOTSTRAP) -> tuple[float, float] | None:
    """Percentile interval of the hit rate, resampling whole clusters with replacement (None when empty)."""
    if len(hits) == 0:
        return None
    keys = sorted(set(clusters))
    position = {k: i for i, k in enumerate(keys)}
    idx = np.fromiter((position[c] for c in clusters), dtype=np.int64, count=len(clusters))
    sums = np.bincount(idx, weights=hits.astype(float), minlength=len(keys))
    counts = np.bincount(idx, minlength=len(keys)).astype(float)
    rng = np.random.default_rng(_seed(seed, name))
    draws = rng.integers(0, len(keys), size=(resamples, len(keys)))
    rates = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    alpha = (1 - CONFIDENCE) / 2
    low, high = np.quantile(rates, [alpha, 1 - alpha])
    return float(low), float(high)


def _group_stats(returns: np.ndarray, hits: np.ndarray, clusters: list[str], seed: int, name: str,
                 base: float | None) -> dict[str, Any]:
    n = len(hits)
    ci = bootstrap_ci(hits, clusters, seed, name)
    rate = float(hits.mean()) if n else None
    return {
        "n": n,
        "hit_rate": rate,
        "ci": list(ci) if ci is not None else None,
        "mean_return": float(returns.mean()) if n else None,
        "lift": (rate - base) if rate is not None and base is not None else None,
        "beats_base": bool(ci[0] > base) if ci is not None and base is not None else None,
    }


def evaluate_signals(examples: Sequence[dict[str, Any]], prices: PriceTable, seed: int = 0,
                     horizons: Sequence[int] = HORIZONS) -> dict[str, Any]:
    """Hit rates per signal type, strength and horizon, the base rates, and whether STRONG > MODERATE > WEAK."""
    matched = [ex for ex in examples if ex["id"] in prices.index]
    mismatched = [ex["id"] for ex in matched
                  if abs(prices.closes[ex["id"]] - candle_of(ex)["close"])
                  > 0.5 * 10 ** -int(ex["meta"].get("price_decimals", 2)) + 1e-12]
    if mismatched:
        log.warning("%d examples' close differs from the price source (another source or adjustment?)",
                    len(mismatched), extra={"first": mismatched[0]})
    out: dict[str, Any] = {
        "examples": len(examples),
        "with_prices": len(matched),
        "price_mismatches": len(mismatched),
        "horizons": list(horizons),
        "entry": "open of bar t+1",
        "exit": "close of bar t+h",
        "bootstrap": {"resamples": BOOTSTRAP, "confidence": CONFIDENCE, "cluster": "symbol, calendar month",
                      "seed": seed},
        "base": {},
        "groups": {},
        "ordering": {},
    }
    for h in horizons:
        rows = [(ex, r) for ex in matched if (r := prices.forward_return(ex["id"], h)) is not None]
        returns = np.array([r for _, r in rows], dtype=float)
        clusters = [_cluster(ex) for ex, _ in rows]
        types = [signal_type_of(ex) for ex, _ in rows]
        strengths = [strength_of(ex) for ex, _ in rows]
        base: dict[str, Any] = {}
        for direction in DIRECTIONS:
            hits = returns > 0 if direction == "BUY" else returns < 0
            stats = _group_stats(returns, hits, clusters, seed, f"base {direction} {h}", None)
            base[direction] = {k: stats[k] for k in ("n", "hit_rate", "ci", "mean_return")}
        out["base"][str(h)] = base
        groups: dict[str, Any] = {}
        for direction in DIRECTIONS:
            groups[direction] = {}
            for strength in STRENGTHS:
                sel = np.array([t == direction and s == strength for t, s in zip(types, strengths, strict=True)],
                               dtype=bool)
                r = returns[sel]
                hits = r > 0 if direction == "BUY" else r < 0
                cl = [c for c, keep in zip(clusters, sel, strict=True) if keep]
                groups[direction][strength] = _group_stats(r, hits, cl, seed, f"{direction} {strength} {h}",
                                                           base[direction]["hit_rate"])
        out["groups"][str(h)] = groups
        out["ordering"][str(h)] = {d: _ordered([groups[d][s]["hit_rate"] for s in STRENGTHS]) for d in DIRECTIONS}
    return out


def _ordered(rates: list[float | None]) -> bool | None:
    """STRONG > MODERATE > WEAK (None when a group is empty)."""
    if any(r is None for r in rates):
        return None
    return bool(rates[0] > rates[1] > rates[2])  # type: ignore[operator]
