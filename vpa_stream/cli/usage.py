"""Usage checks the CLI runs before any work starts: an option value that cannot work is one line, exit code 2.

The checks go by option name, so every command that has the option gets them (``--start`` of backfill, replay,
audit and report alike). They run after parsing and before a source is opened or a file is written.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from vpa_stream.producers.sources.registry import SOURCES
from vpa_stream.producers.sources.specs import split_spec
from vpa_stream.producers.sources.textfile import check_delimiter
from vpa_stream.producers.sources.times import check_time_unit
from vpa_stream.schemas.errors import UsageError

#: option -> (the flag as typed, the smallest value it takes, whether that value itself is allowed)
NUMBERS: dict[str, tuple[str, float, bool]] = {
    "max_records": ("--max-records", 1, True),
    "max_bytes": ("--max-bytes", 1, True),
    "partitions": ("--partitions", 1, True),
    "replication_factor": ("--replication-factor", 1, True),
    "samples": ("--samples", 1, True),
    "speed": ("--speed", 0, True),
    "grace": ("--grace", 0, True),
    "idle_commit": ("--idle-commit", 0, False),
    "max_file_age": ("--max-file-age", 0, False),
    "exit_when_idle": ("--exit-when-idle", 0, True),
    "broker_timeout": ("--broker-timeout", 0, False),
    "embargo_bars": ("--embargo-bars", 0, True),
}
DATES = {"start": "--start", "end": "--end", "val_from": "--val-from", "test_from": "--test-from"}
OUTPUT_DIRS = {"out": "--out", "export_out": "--out", "report_out": "--out"}


def check_args(args: argparse.Namespace) -> None:
    """Raise UsageError for the first option value that cannot work."""
    for name, (flag, low, inclusive) in NUMBERS.items():
        value = getattr(args, name, None)
        if value is None:
            continue
        number = _number(value, flag)
        if not math.isfinite(number) or number < low or (number == low and not inclusive):
            bound = f"at least {low:g}" if inclusive else f"more than {low:g}"
            raise UsageError(f"{flag} {value}: must be {bound}")
    dates = {name: _date(getattr(args, name), flag) for name, flag in DATES.items() if getattr(args, name, None)}
    if "start" in dates and "end" in dates and dates["start"] > dates["end"]:
        raise UsageError(f"--start {args.start} is after --end {args.end}")
    if "val_from" in dates and "test_from" in dates and dates["val_from"] > dates["test_from"]:
        raise UsageError(f"--val-from {args.val_from} is after --test-from {args.test_from}")
    if getattr(args, "tz", None) is not None:
        check_zone(str(args.tz))
    for name, flag in (("session_open", "--session-open"), ("session_close", "--session-close")):
        if getattr(args, name, None) is not None:
            check_clock(str(getattr(args, name)), flag)
    for name, check, flag in (("time_unit", check_time_unit, "--time-unit"),
                              ("delimiter", check_delimiter, "--delimiter")):
        if getattr(args, name, None) is not None:
            try:
                setattr(args, name, check(str(getattr(args, name))))
            except ValueError as exc:
                raise UsageError(f"{flag}: {exc}") from exc
    in_dir = getattr(args, "in_dir", None)
    if in_dir is not None and not Path(in_dir).is_dir():
        raise UsageError(f"--in {in_dir}: no such directory")
    for name, flag in OUTPUT_DIRS.items():
        if getattr(args, name, None) and _writes(args, name):
            check_writable(Path(getattr(args, name)), flag)
    source = getattr(args, "source", None)
    for spec in [source] if isinstance(source, str) else source or []:
        if spec == "none" and getattr(args, "command", None) == "evaluate":
            continue  # evaluate --prices none: no hit rates, no price source
        kind, path, _ = split_spec(str(spec))  # SourceSpecError: a usage error of its own
        if SOURCES[kind].reads_path and path and not Path(path).exists():
            raise UsageError(f"--source {spec}: no such file or directory")


def _writes(args: argparse.Namespace, name: str) -> bool:
    """live writes --out only in embedded mode (no --bootstrap-servers)."""
    return not (getattr(args, "command", None) == "live" and getattr(args, "bootstrap_servers", None))


def _number(value: object, flag: str) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UsageError(f"{flag} {value!r}: not a number") from None


def _date(value: object, flag: str) -> pd.Timestamp:
    text = str(value).strip()
    if not re.match(r"^\d{4}(?:$|[-T ])", text):  # a year first: never "now" or "today" (the wall clock)
        raise UsageError(f"{flag} {value!r}: not a date; use YYYY-MM-DD or an ISO 8601 time (2020-01-31T15:30)")
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, OverflowError):
        raise UsageError(f"{flag} {value!r}: not a date; use YYYY-MM-DD or an ISO 8601 time (2020-01-31T15:30)"
                         ) from None
    if stamp is pd.NaT:
        raise UsageError(f"{flag} {value!r}: not a date")
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp


def check_zone(tz: str) -> None:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, IsADirectoryError):
        raise UsageError(f"--tz {tz!r}: not a time zone; use a name such as America/New_York, Europe/London "
                         "or UTC") from None


def check_clock(value: str, flag: str) -> None:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip())
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise UsageError(f"{flag} {value!r}: not a time of day; use HH:MM, e.g. 16:00")


def check_writable(path: Path, flag: str) -> None:
    """The output directory exists (it is made) and a file can be created in it."""
    try:
        if path.exists() and not path.is_dir():
            raise UsageError(f"{flag} {path}: is a file, not a directory")
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".vpa-write-check-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except UsageError:
        raise
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot write there: {exc.strerror or exc}") from None
