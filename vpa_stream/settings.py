"""Defaults for the CLI: built-in, then a TOML config file, then VPA_* environment variables, then flags.

The TOML file (``--config FILE``, else ``./vpa-stream.toml`` when present) has a ``[defaults]`` table of
option names as the CLI spells them (``out = "data"``, ``bootstrap_servers = "..."``) and an ``[engine]``
table of VPAConfig fields. An environment variable ``VPA_OUT=data`` sets the ``out`` default likewise.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

from vpa_stream.processors.config import VPAConfig
from vpa_stream.schemas.errors import EXIT_USAGE, VpaStreamError

DEFAULT_CONFIG_FILE = "vpa-stream.toml"


class SettingsError(VpaStreamError, ValueError):
    """A config file or environment variable that cannot be used: a usage error (exit code 2)."""

    exit_code = EXIT_USAGE


def load_file(path: str | None) -> dict[str, Any]:
    candidate = Path(path) if path else Path(DEFAULT_CONFIG_FILE)
    if not candidate.exists():
        if path:
            raise SettingsError(f"config file {path} does not exist")
        return {}
    try:
        return tomllib.loads(candidate.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {candidate}: {exc}") from exc


def option_defaults(file_data: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """Defaults for the given option names: the file's [defaults] table overlaid by VPA_* variables."""
    table = dict(file_data.get("defaults", {}))
    for name in names:
        env = os.environ.get("VPA_" + name.upper())
        if env is not None:
            table[name] = env
    return {k: v for k, v in table.items() if k in names}


def engine_config(file_data: dict[str, Any]) -> VPAConfig:
    table = dict(file_data.get("engine", {}))
    known = {f.name: f for f in fields(VPAConfig) if not f.name.startswith("_")}
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise SettingsError(f"unknown [engine] setting(s): {', '.join(unknown)}")
    for key, value in list(table.items()):
        if isinstance(value, list):
            table[key] = tuple(tuple(v) if isinstance(v, list) else v for v in value)
    try:
        return VPAConfig(**table)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"[engine]: {exc}") from exc
