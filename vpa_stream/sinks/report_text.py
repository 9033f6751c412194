"""Text quality of a dataset's explanations: exact and near-duplicate rates, and template diversity.

- Exact duplicates: sha1 of the normalised text (lower case, whitespace collapsed); the rate is the share of
  examples whose explanation repeats an earlier one.
- Near duplicates: MinHash (``NUM_PERM`` permutations of a 2^61-1 universal hash over blake2b-hashed word
  5-grams) with LSH banding for candidates, each candidate pair then checked on the whole signature; within
  one label (signal type and strength), an example is a near duplicate when some other example of its label
  has an estimated Jaccard similarity of at least ``threshold``. Deterministic: fixed hash parameters.
- Diversity: distinct-1/2 (distinct n-grams over all n-grams, of the raw words and of the words with
  numbers masked), and phrasings: each sentence with its numbers, timeframes and CLASS names masked is a
  skeleton; the share of a skeleton is the share of examples using it. The fixed ``Signal:`` header is left
  out (DOMAIN §7 requires it), so the largest share measures the template, not the contract.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from vpa_stream.processors.engine.grammar import skeleton
from vpa_stream.schemas.example_record import explanation_of, signal_of

NUM_PERM = 128
BANDS = 16  # 16 bands of 8 rows: pairs above ~0.7 Jaccard become candidates with high probability
SHINGLE_WORDS = 5
NEAR_THRESHOLD = 0.8
_PRIME = np.uint64((1 << 61) - 1)
_MAX32 = (1 << 32) - 1

_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")
_TIMEFRAME = re.compile(r"\b\d+(?:m|h|d|wk|mo)\b")
_CLASS = re.compile(r"\b[A-Z][A-Z0-9_]*[A-Z0-9]\b")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def label_of(example: dict[str, Any]) -> str:
    signal = signal_of(example)
    return f"{signal['type']} {signal['strength']}"


# -- duplicates ------------------------------------------------------------------------------------------------

def _permutations(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed (a, b) of h(x) = (a x + b) mod p: derived from a constant seed, so reports are reproducible."""
    rng = np.random.default_rng(20240601)
    a = rng.integers(1, _MAX32, size=num_perm, dtype=np.uint64)
    b = rng.integers(0, _MAX32, size=num_perm, dtype=np.uint64)
    return a, b


def shingles(text: str, n: int = SHINGLE_WORDS) -> set[str]:
    words = normalise(text).split()
    if len(words) <= n:
        return {" ".join(words)}
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


class MinHasher:
    """MinHash signatures of word-shingle sets (32-bit blake2b shingle hashes, cached: templates repeat)."""

    def __init__(self, num_perm: int = NUM_PERM) -> None:
        self.a, self.b = _permutations(num_perm)
        self._hashes: dict[str, int] = {}

    def _hash(self, shingle: str) -> int:
        h = self._hashes.get(shingle)
        if h is None:
            h = self._hashes[shingle] = int.from_bytes(hashlib.blake2b(shingle.encode(), digest_size=4).digest())
        return h

    def signature(self, items: set[str]) -> np.ndarray:
        x = np.fromiter((self._hash(s) for s in items), dtype=np.uint64, count=len(items))
        # a, x < 2^32: a * x fits in 64 bits, so the modular product is exact
        values = ((self.a[:, None] * x[None, :]) % _PRIME + self.b[:, None]) % _PRIME
        return values.min(axis=1)


def near_duplicates(signatures: np.ndarray, threshold: float = NEAR_THRESHOLD, bands: int = BANDS) -> np.ndarray:
    """Boolean mask of the rows with another row of estimated Jaccard >= threshold (LSH candidates, verified)."""
    n, num_perm = signatures.shape
    rows = num_perm // bands
    marked = np.zeros(n, dtype=bool)
    for band in range(bands):
        buckets: dict[bytes, list[int]] = defaultdict(list)
        block = np.ascontiguousarray(signatures[:, band * rows : (band + 1) * rows])
        for i in range(n):
            buckets[block[i].tobytes()].append(i)
        for members in buckets.values():
            if len(members) < 2:
                continue
            group = signatures[members]
            for k, i in enumerate(members):
                if marked[i]:
                    continue  # already known to have a near duplicate
                similarity = (group == signatures[i]).mean(axis=1)
                similarity[k] = 0.0
                close = similarity >= threshold
                if close.any():
                    marked[i] = True
                    marked[np.asarray(members)[close]] = True
    return marked


def duplicate_rates(examples: Sequence[dict[str, Any]], threshold: float = NEAR_THRESHOLD) -> dict[str, Any]:
    """Exact and near-duplicate rates, overall and per label (signal type and strength)."""
    by_label: dict[str, list[int]] = defaultdict(list)
    digests: list[str] = []
    for i, ex in enumerate(examples):
        by_label[label_of(ex)].append(i)
        digests.append(hashlib.sha1(normalise(explanation_of(ex)).encode()).hexdigest())
    hasher = MinHasher()
    exact_dup = np.zeros(len(examples), dtype=bool)
    near_dup = np.zeros(len(examples), dtype=bool)
    seen: set[str] = set()
    for i, digest in enumerate(digests):
        exact_dup[i] = digest in seen
        seen.add(digest)
    per_label: dict[str, dict[str, Any]] = {}
    for label in sorted(by_label):
        idx = by_label[label]
        sigs = np.stack([hasher.signature(shingles(explanation_of(examples[i]))) for i in idx])
        near_dup[idx] = near_duplicates(sigs, threshold)
        per_label[label] = {
            "n": len(idx),
            "exact_duplicate_rate": float(exact_dup[idx].mean()),
            "near_duplicate_rate": float(near_dup[idx].mean()),
        }
    n = max(len(examples), 1)
    return {
        "n": len(examples),
        "exact_duplicates": int(exact_dup.sum()),
        "exact_duplicate_rate": float(exact_dup.sum() / n),
        "near_duplicates": int(near_dup.sum()),
        "near_duplicate_rate": float(near_dup.sum() / n),
        "near_threshold": threshold,
        "shingle_words": SHINGLE_WORDS,
        "num_perm": NUM_PERM,
        "bands": BANDS,
        "per_label": per_label,
    }


# -- diversity -------------------------------------------------------------------------------------------------

def mask(text: str) -> str:
    """A phrasing's skeleton: numbers -> #, the lexicon's words (classes, patterns, bar references, charts) -> _,
    and, for datasets of engine 1, timeframe labels -> TF and CLASS names -> C."""
    text = skeleton(_TIMEFRAME.sub("TF", text))
    return _CLASS.sub(lambda m: "TF" if m.group(0) == "TF" else "C", text)


def sentences(explanation: str) -> list[str]:
    """The sentences of an explanation after its ``Signal:`` header line."""
    out: list[str] = []
    for line in explanation.split("\n")[1:]:
        out += [s.strip() for s in _SENTENCE_END.split(line) if s.strip()]
    return out


def distinct_n(token_lists: Sequence[Sequence[str]], n: int) -> float:
    """Distinct n-grams over all n-grams of the corpus (0 when there are none)."""
    grams: set[tuple[str, ...]] = set()
    total = 0
    for tokens in token_lists:
        for i in range(len(tokens) - n + 1):
            grams.add(tuple(tokens[i : i + n]))
            total += 1
    return len(grams) / total if total else 0.0


def diversity(examples: Sequence[dict[str, Any]], top: int = 10) -> dict[str, Any]:
    """distinct-1/2 (raw and masked) and the shares of the most used sentence skeletons."""
    texts = [explanation_of(ex) for ex in examples]
    raw = [t.lower().split() for t in texts]
    masked = [mask(t).lower().split() for t in texts]
    skeleton_use: Counter[str] = Counter()
    whole: Counter[str] = Counter()
    for text in texts:
        skeleton_use.update({mask(s) for s in sentences(text)})  # once per example
        whole[mask(text)] += 1
    n = max(len(texts), 1)
    top_skeletons = [{"skeleton": s, "examples": c, "share": c / n} for s, c in skeleton_use.most_common(top)]
    return {
        "n": len(texts),
        "distinct_1": distinct_n(raw, 1),
        "distinct_2": distinct_n(raw, 2),
        "distinct_1_masked": distinct_n(masked, 1),
        "distinct_2_masked": distinct_n(masked, 2),
        "skeletons": len(skeleton_use),
        "largest_phrasing_share": top_skeletons[0]["share"] if top_skeletons else 0.0,
        "top_phrasings": top_skeletons,
        "largest_whole_template_share": (whole.most_common(1)[0][1] / n) if whole else 0.0,
    }


def pct(value: float | None, digits: int = 1) -> str:
    """A share as a percentage for the report and evaluate texts ("n/a" when there is none)."""
    return "n/a" if value is None else f"{value:.{digits}%}"
