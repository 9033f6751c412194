"""``export --validate``: read an export directory back the way the trainers will, and say what would fail.

Checks, each reported as passed, failed (with the first problems) or not run (a library is missing):
  - openai: every line one UTF-8 JSON object with only ``messages``; roles system/user/assistant in that order
    (system optional); every content a non-empty string;
  - every format folder: ``datasets.load_dataset("json", data_dir=<folder>)`` loads each split with one schema
    and as many rows as the file (the sidecar folder must not be read as data);
  - every sidecar: one line per row of the split files;
  - LLaMA-Factory: every ``dataset_info.json`` entry names a file that exists, and the columns (and ShareGPT
    tags) it names are in that file's rows;
  - recipes: every path a recipe reads exists.
"""

from __future__ import annotations

import json
import shlex
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vpa_stream.sinks.exports import SPLITS

MAX_LISTED = 5
_HF_SPLITS = {"train": "train", "val": "validation", "test": "test"}


@dataclass
class Validation:
    checks: list[tuple[str, str, list[str]]] = field(default_factory=list)  # (name, passed|failed|not run, problems)

    def add(self, name: str, problems: list[str], not_run: str | None = None) -> None:
        status = "not run" if not_run else "failed" if problems else "passed"
        self.checks.append((name, status, [not_run] if not_run else problems[:MAX_LISTED]))

    @property
    def failed(self) -> bool:
        return any(status == "failed" for _, status, _ in self.checks)

    def lines(self) -> list[str]:
        out = []
        for name, status, problems in self.checks:
            out.append(f"validate {name}: {status}")
            out += [f"  - {p}" for p in problems]
        return out


def _rows(path: Path, problems: list[str]) -> list[dict[str, Any]]:
    rows = []
    for n, raw in enumerate(path.read_bytes().split(b"\n"), 1):
        if not raw:
            continue
        try:
            value = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            problems.append(f"{path.name}:{n}: not UTF-8")
            continue
        except json.JSONDecodeError as exc:
            problems.append(f"{path.name}:{n}: not one JSON object per line ({exc.msg})")
            continue
        if not isinstance(value, dict):
            problems.append(f"{path.name}:{n}: a JSON {type(value).__name__}, not an object")
            continue
        rows.append(value)
    return rows


def _openai(folder: Path) -> list[str]:
    problems: list[str] = []
    for split in SPLITS:
        path = folder / f"{split}.jsonl"
        if not path.exists():
            continue
        for n, row in enumerate(_rows(path, problems), 1):
            where = f"{path.name}:{n}"
            if set(row) != {"messages"} or not isinstance(row["messages"], list):
                problems.append(f"{where}: keys {sorted(row)} (only 'messages' expected)")
                continue
            roles = [m.get("role") for m in row["messages"] if isinstance(m, dict)]
            if roles not in (["system", "user", "assistant"], ["user", "assistant"]):
                problems.append(f"{where}: roles {roles}")
            for m in row["messages"]:
                if not isinstance(m, dict) or not isinstance(m.get("content"), str) or not m["content"].strip():
                    problems.append(f"{where}: a message without text content")
    return problems


def _loads(folder: Path, cache: str) -> list[str]:
    import datasets

    expected = {_HF_SPLITS[s]: sum(1 for line in (folder / f"{s}.jsonl").read_bytes().split(b"\n") if line)
                for s in SPLITS if (folder / f"{s}.jsonl").exists()}
    expected = {k: v for k, v in expected.items() if v}
    try:
        loaded = datasets.load_dataset("json", data_dir=str(folder), cache_dir=cache)
    except Exception as exc:  # what the user would see: one line of it
        first = (str(exc).splitlines() or [""])[0][:200]
        cause = exc.__cause__ or exc.__context__
        why = f" ({type(cause).__name__}: {(str(cause).splitlines() or [''])[0][:200]})" if cause else ""
        return [f"{folder.name}: load_dataset failed: {type(exc).__name__}: {first}{why}"]
    problems = []
    got = {name: split.num_rows for name, split in loaded.items()}
    if got != expected:
        problems.append(f"{folder.name}: splits {got}, files hold {expected}")
    features = {str(split.features) for split in loaded.values()}
    if len(features) > 1:
        problems.append(f"{folder.name}: the splits load with different schemas")
    return problems


def _sidecar(folder: Path) -> list[str]:
    sidecar = folder / "meta" / "sidecar.jsonl"
    if not sidecar.exists():
        return [f"{folder.name}: no meta/sidecar.jsonl"]
    meta = [json.loads(line) for line in sidecar.read_bytes().split(b"\n") if line]
    problems = []
    for split in SPLITS:
        path = folder / f"{split}.jsonl"
        rows = sum(1 for line in path.read_bytes().split(b"\n") if line) if path.exists() else 0
        lines = sum(1 for m in meta if m.get("split") == split)
        if rows != lines:
            problems.append(f"{folder.name}: {split} has {rows} rows and {lines} sidecar lines")
    return problems


def _llamafactory(folder: Path) -> list[str]:
    problems: list[str] = []
    info = json.loads((folder / "dataset_info.json").read_text(encoding="utf-8"))
    for name, entry in info.items():
        path = folder / entry.get("file_name", "")
        if not entry.get("file_name") or not path.is_file():
            problems.append(f"{folder.name}/dataset_info.json {name}: file_name {entry.get('file_name')!r} not found")
            continue
        first = _rows(path, problems)[:1]
        if not first:
            continue
        for role, column in (entry.get("columns") or {}).items():
            if column not in first[0]:
                problems.append(f"{name}: column {role}={column!r} not in {path.name}")
        tags = entry.get("tags") or {}
        turns = first[0].get((entry.get("columns") or {}).get("messages", "conversations")) or []
        for turn in turns if entry.get("formatting") == "sharegpt" else []:
            if tags.get("role_tag", "from") not in turn or tags.get("content_tag", "value") not in turn:
                problems.append(f"{name}: turns lack the role or content tag")
                break
    return problems


def trl_command(script: Path) -> list[str]:
    """The words of the ``trl sft`` command of a recipe script (continuation lines joined)."""
    text = script.read_text(encoding="utf-8").replace("\\\n", " ")
    line = next(line for line in text.splitlines() if line.startswith("trl sft"))
    return shlex.split(line)


def recipe_paths(export: Path) -> dict[str, list[str]]:
    """recipe file -> the paths it reads, relative to the export directory (read back from the files)."""
    import yaml

    out: dict[str, list[str]] = {}
    folder = export / "recipes"
    if (folder / "axolotl.yaml").exists():
        cfg = yaml.safe_load((folder / "axolotl.yaml").read_text(encoding="utf-8"))
        out["axolotl.yaml"] = [p for d in cfg.get("datasets", []) + cfg.get("test_datasets", [])
                               for p in [d["path"], *d.get("data_files", [])]]
    if (folder / "llamafactory.yaml").exists():
        cfg = yaml.safe_load((folder / "llamafactory.yaml").read_text(encoding="utf-8"))
        info_path = Path(cfg["dataset_dir"]) / "dataset_info.json"
        paths = [str(info_path)]
        if (export / info_path).is_file():
            info = json.loads((export / info_path).read_text(encoding="utf-8"))
            for key in ("dataset", "eval_dataset"):
                for name in str(cfg.get(key) or "").split(","):
                    if name:
                        entry = info.get(name.strip())
                        paths.append(str(Path(cfg["dataset_dir"]) / entry["file_name"]) if entry
                                     else f"{info_path}#{name.strip()} (no such entry)")
        out["llamafactory.yaml"] = paths
    if (folder / "trl-sft.sh").exists():
        words = trl_command(folder / "trl-sft.sh")
        out["trl-sft.sh"] = [words[words.index("--dataset_name") + 1]] if "--dataset_name" in words else []
    return out


def validate_export(export: Path) -> Validation:
    result = Validation()
    folders = sorted(p for p in export.iterdir() if p.is_dir() and (p / "meta").is_dir())
    if (export / "openai").is_dir():
        result.add("openai rows", _openai(export / "openai"))
    result.add("sidecars", [p for f in folders for p in _sidecar(f)])
    try:
        import datasets
    except ImportError:
        result.add("load_dataset(data_dir=...)", [], not_run="datasets is not installed (pip install datasets)")
    else:
        datasets.disable_progress_bars()
        datasets.logging.set_verbosity_error()
        with tempfile.TemporaryDirectory() as cache:
            result.add("load_dataset(data_dir=...)", [p for f in folders for p in _loads(f, cache)])
    infos = [f for f in folders if (f / "dataset_info.json").exists()]
    if infos:
        result.add("LLaMA-Factory dataset_info.json", [p for f in infos for p in _llamafactory(f)])
    try:
        paths = recipe_paths(export)
    except ImportError:
        result.add("recipe paths", [], not_run="pyyaml is not installed")
    else:
        result.add("recipe paths", [f"recipes/{name}: {p} does not exist" for name, ps in paths.items() for p in ps
                                    if not (export / p.split("#")[0]).exists() or "#" in p])
    return result
