"""Token percentiles per format of export directories, read back from their files (issue 17).

    python benchmarks/bench_tokens.py EXPORT_DIR [EXPORT_DIR ...] [--tokenizer cl100k_base]

Each row is counted as ``export`` counts it (``tokens.sequence_tokens``: every turn's text plus the chat-template
allowance; a preference pair's longer sequence), over every split file of each ``<format>/`` folder; the
signal-type mix comes from the sidecars.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from vpa_stream.sinks.exports import SPLITS
from vpa_stream.sinks.formats import FORMATS
from vpa_stream.sinks.tokens import percentiles, resolve_tokenizer, sequence_tokens


def measure(export: Path, tokenizer: str) -> dict[str, dict[str, int]]:
    counter = resolve_tokenizer(tokenizer)
    out: dict[str, dict[str, int]] = {}
    for name, fmt in FORMATS.items():
        files = [export / name / f"{s}.jsonl" for s in SPLITS if (export / name / f"{s}.jsonl").exists()]
        rows = [json.loads(line) for f in files for line in f.read_text(encoding="utf-8").splitlines() if line]
        if rows:
            out[name] = percentiles([sequence_tokens(counter, fmt.sequences(r)) for r in rows])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("exports", nargs="+", type=Path)
    parser.add_argument("--tokenizer", default="cl100k_base")
    args = parser.parse_args()
    for export in args.exports:
        meta = export / "hf" / "meta" / "sidecar.jsonl"
        lines = meta.read_text(encoding="utf-8").splitlines() if meta.exists() else []
        mix = Counter(json.loads(line)["signal_type"] for line in lines)
        print(f"{export}  rows by type: {dict(sorted(mix.items()))}")
        print("| format | rows | p50 | p95 | p99 | max |\n|---|---|---|---|---|---|")
        for name, s in measure(export, args.tokenizer).items():
            print(f"| `{name}` | {s['n']:,} | {s['p50']:,} | {s['p95']:,} | {s['p99']:,} | {s['max']:,} |")


if __name__ == "__main__":
    main()
