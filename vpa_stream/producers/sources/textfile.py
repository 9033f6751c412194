"""Delimited text files as the tools write them: compressed or not, any common encoding, any common delimiter.

``TextTable`` opens a file once to learn its layout (``open_binary`` for gzip/bz2/xz/zstd/zip, detected by the
file's first bytes; the encoding from its BOM, else UTF-8, else cp1252; CRLF or CR line ends; the delimiter
from the first lines or ``--delimiter``; the header: one row, the two-row (Price/Ticker) header of yfinance
``download``, or none for the headerless layouts of ``HEADERLESS``) and then yields its data rows in chunks of
cells with their line numbers. A row with more cells than the header is a fault of that row, never a stop.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io
import lzma
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from vpa_stream.producers.sources.base import SourceError
from vpa_stream.producers.sources.table import FIELD_NAMES, TIME_NAMES, normal_name

_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"),
          (b"PK\x03\x04", "zip"))
#: layouts of files without a header row, by their number of cells (Binance's kline files have none)
HEADERLESS = {
    6: ("date", "open", "high", "low", "close", "volume"),
    12: ("open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "count",
         "taker_buy_volume", "taker_buy_quote_volume", "ignore"),
}
DELIMITERS = {",": ",", ";": ";", "tab": "\t", "\\t": "\t", "\t": "\t", "|": "|", "pipe": "|",
              "space": " ", "whitespace": " ", " ": " "}
_SNIFF_LINES = 20
_NUMBER = re.compile(r"^[-+]?(\d+([.,]\d*)?|\.\d+)([eE][-+]?\d+)?$")
_DATE_LIKE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")


def file_kind(path: Path) -> str:
    """parquet, a compression name, or text: from the file's first bytes, whatever its name says."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"PAR1"):
        return "parquet"
    return next((name for magic, name in _MAGIC if head.startswith(magic)), "text")


def check_delimiter(value: str | None) -> str | None:
    """``--delimiter``: a character, or tab/pipe/space; None detects it from the file."""
    if value is None or value == "" or value == "auto":
        return None
    key = value if len(value) == 1 else value.lower()
    if key in DELIMITERS:
        return DELIMITERS[key]
    if len(value) == 1 and not value.isalnum() and value not in "\"'.":
        return value
    raise ValueError(f"unusable delimiter {value!r}: use one character such as ',', ';', '|', or tab or space")


def open_binary(path: Path) -> IO[bytes]:
    kind = file_kind(path)
    if kind == "gzip":
        return gzip.open(path, "rb")
    if kind == "bz2":
        return bz2.open(path, "rb")
    if kind == "xz":
        return lzma.open(path, "rb")
    if kind == "zstd":
        import pyarrow as pa  # pyarrow's zstd codec: no extra dependency

        return io.BufferedReader(pa.input_stream(str(path), compression="zstd"))  # type: ignore[arg-type]
    if kind == "zip":
        archive = zipfile.ZipFile(path)
        members = [m for m in archive.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX")]
        if len(members) != 1:
            names = ", ".join(m.filename for m in members[:5])
            raise SourceError(f"{path}: a zip archive with {len(members)} files ({names}): extract it and read "
                              "the files, or a directory of them")
        return archive.open(members[0])
    return open(path, "rb")


def detect_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if len(head) >= 8 and head[1::2].count(0) > len(head) // 4 and head[0::2].count(0) == 0:
        return "utf-16-le"
    if len(head) >= 8 and head[0::2].count(0) > len(head) // 4 and head[1::2].count(0) == 0:
        return "utf-16-be"
    for cut in range(4):  # a multi-byte character may straddle the end of the sample
        try:
            head[: len(head) - cut].decode("utf-8")
            return "utf-8"
        except UnicodeDecodeError:
            continue
    return "cp1252"


_READ_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError,
                                                 zipfile.BadZipFile)


@dataclass(frozen=True, slots=True)
class Layout:
    encoding: str
    delimiter: str  # " " = runs of whitespace
    header_lines: int  # non-blank lines before the data (a "sep=;" line included)
    columns: tuple  # names, or (level 0, level 1) pairs for a two-row header
    two_level: bool = False
    headerless: bool = False
    decimal_comma: bool = False


class TextTable:
    """A delimited text file: its layout, found once, and its data rows in chunks (see the module docstring)."""

    def __init__(self, path: Path, delimiter: str | None = None) -> None:
        self.path = path
        self.where = str(path)
        self.layout = self._detect(delimiter)

    # -- reading lines ------------------------------------------------------------------------------------------
    def _open_text(self, encoding: str) -> IO[str]:
        return io.TextIOWrapper(open_binary(self.path), encoding=encoding, errors="replace", newline=None)

    def _lines(self, encoding: str) -> Iterator[tuple[int, str]]:
        """(line number, text) of the non-blank lines; a read failure mid-file is one clear line."""
        number = 0
        try:
            with self._open_text(encoding) as text:
                for number, line in enumerate(text, 1):
                    line = line.rstrip("\r\n")
                    if line.strip() and line.strip("\x00"):
                        yield number, line
        except SourceError:
            raise
        except _READ_ERRORS as exc:
            raise SourceError(f"{self.where}: cannot be read past line {number}: {type(exc).__name__}: {exc}") from exc

    def _split(self, line: str, delimiter: str) -> list[str]:
        if delimiter == " ":
            return line.split()
        if '"' in line:
            return next(csv.reader([line], delimiter=delimiter), [])
        return line.split(delimiter)

    # -- layout -------------------------------------------------------------------------------------------------
    def _detect(self, delimiter: str | None) -> Layout:
        try:
            with open_binary(self.path) as f:
                head = f.read(65536)
        except SourceError:
            raise
        except _READ_ERRORS as exc:
            raise SourceError(f"{self.where}: cannot be read: {type(exc).__name__}: {exc}") from exc
        if not head.strip():
            raise SourceError(f"{self.where}: the file is empty")
        start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if re.match(rb"(?i)<(!doctype|html|\?xml|head|body|table|div)\b", start) or start[:1] in (b"{", b"["):
            kind = "JSON" if start[:1] in (b"{", b"[") else "HTML or XML"
            raise SourceError(f"{self.where}: this is {kind}, not a table of bars (an error page saved as CSV?)")
        encoding = detect_encoding(head)
        sample = head.decode(encoding, errors="replace")
        control = sum(1 for ch in sample if (ch < " " and ch not in "\t\r\n") or ch == "\ufffd")
        if control > 0.05 * len(sample):
            raise SourceError(f"{self.where}: binary data, not text: bar files are CSV or other delimited text "
                              "(optionally gzip, bz2, xz, zstd or zip compressed) or Parquet")
        lines = []
        for item in self._lines(encoding):
            lines.append(item)
            if len(lines) >= _SNIFF_LINES:
                break
        skip = 0
        if lines and re.fullmatch(r"\s*sep=(.)\s*", lines[0][1]):  # Excel's delimiter hint line
            delimiter = delimiter or lines[0][1].strip()[4]
            lines, skip = lines[1:], 1
        texts = [t for _, t in lines]
        if not texts:
            raise SourceError(f"{self.where}: no rows")
        delimiter = delimiter or sniff_delimiter(texts)
        rows = [[c.strip() for c in self._split(t, delimiter)] for t in texts]
        decimal_comma = delimiter != "," and _decimal_comma(rows[1:])
        two = _two_level(rows)
        if two is not None:
            header_lines, columns = two
            return Layout(encoding, delimiter, header_lines + skip, columns, two_level=True,
                          decimal_comma=decimal_comma)
        first = rows[0]
        if _all_data(first):
            layout = HEADERLESS.get(len(first))
            if layout is None:
                raise SourceError(f"{self.where}: no header row, and {len(first)} cells per row is not a layout we "
                                  f"know (6: date,open,high,low,close,volume; 12: Binance klines); add a header "
                                  "row naming the columns")
            return Layout(encoding, delimiter, skip, layout, headerless=True, decimal_comma=decimal_comma)
        if len(first) < 2:
            raise SourceError(f"{self.where}: found one column ({first[0][:60]!r}); the delimiter is not a comma, "
                              "semicolon, tab or pipe: give it with --delimiter")
        return Layout(encoding, delimiter, 1 + skip, tuple(first), decimal_comma=decimal_comma)

    # -- data ---------------------------------------------------------------------------------------------------
    def chunks(self, size: int) -> Iterator[TextChunk]:
        layout = self.layout
        width = len(layout.columns)
        keys = list(layout.columns) if not layout.two_level else pd.MultiIndex.from_tuples(layout.columns)
        buffer: list[tuple[int, list[str], str]] = []
        seen = 0
        for number, line in self._lines(layout.encoding):
            seen += 1
            if seen <= layout.header_lines:
                continue
            buffer.append((number, self._split(line, layout.delimiter), line))
            if len(buffer) >= size:
                yield _chunk(buffer, width, keys)
                buffer = []
        if buffer:
            yield _chunk(buffer, width, keys)


@dataclass
class TextChunk:
    frame: pd.DataFrame  # cells as text, one column per header column (None where a row was short)
    rows: np.ndarray  # line numbers
    nfields: np.ndarray  # cells per row
    faults: dict[int, tuple[str, str]]  # position -> (reason, the line as written)


def _chunk(buffer: list[tuple[int, list[str], str]], width: int, keys: object) -> TextChunk:
    faults: dict[int, tuple[str, str]] = {}
    cells: list[list[str | None]] = []
    for i, (_, row, line) in enumerate(buffer):
        if len(row) > width:
            if any(c.strip() for c in row[width:]):
                faults[i] = (f"{len(row)} fields where the header has {width} (a stray delimiter or a thousands "
                             "separator?)", line)
            row = row[:width]
        elif len(row) < width:
            row = row + [None] * (width - len(row))  # type: ignore[list-item]
        cells.append(row)  # type: ignore[arg-type]
    frame = pd.DataFrame(cells, columns=keys, dtype=object)  # type: ignore[arg-type]
    rows = np.fromiter((n for n, _, _ in buffer), dtype=np.int64, count=len(buffer))
    nfields = np.fromiter((len(r) for _, r, _ in buffer), dtype=np.int64, count=len(buffer))
    return TextChunk(frame, rows, nfields, faults)


def sniff_delimiter(lines: list[str]) -> str:
    """The delimiter that splits the header and the first rows alike into the most cells (at least 3), else
    runs of whitespace. The header must agree: with decimal commas ("118,56;132,06") the comma splits the rows
    but not the header."""
    best, best_key = ",", (False, 0.0, 0)
    for candidate in (",", ";", "\t", "|"):
        counts = [len(next(csv.reader([t], delimiter=candidate), [])) for t in lines]
        common = max(set(counts), key=counts.count)
        share = counts.count(common) / len(counts)
        key = (counts[0] == common, share, common)
        if common >= 3 and share >= 0.8 and key > best_key:
            best, best_key = candidate, key
    if best_key[2] == 0:
        counts = [len(t.split()) for t in lines]
        common = max(set(counts), key=counts.count)
        if common >= 5 and counts.count(common) >= 0.8 * len(counts):
            return " "
    return best


def _is_number(cell: str) -> bool:
    return bool(_NUMBER.match(cell.strip().lstrip("$")))


def _all_data(row: list[str]) -> bool:
    """A row of data, not of names: numbers, except perhaps a date in the first cell."""
    if len(row) < 5:
        return False
    first, rest = row[0], row[1:]
    return all(_is_number(c) for c in rest if c) and (_is_number(first) or bool(_DATE_LIKE.match(first)))


def _decimal_comma(rows: list[list[str]]) -> bool:
    cells = [c for r in rows for c in r[1:] if c]
    with_comma = sum(bool(re.fullmatch(r"-?[\d.]*\d,\d+", c)) for c in cells)
    with_dot_only = sum(bool(re.fullmatch(r"-?\d+\.\d+", c)) for c in cells)
    return with_comma > 0 and with_comma >= with_dot_only


def _two_level(rows: list[list[str]]) -> tuple[int, tuple[tuple[str, str], ...]] | None:
    """A yfinance ``download`` header: a row of price fields and a row of tickers (either order), then perhaps
    the index name row (``Date,,,``); returns (header lines, (field-or-ticker pairs)) or None."""
    if len(rows) < 3 or len(rows[0]) != len(rows[1]) or len(rows[0]) < 3:
        return None
    top, second = rows[0], rows[1]

    def fields(row: list[str]) -> int:
        return sum(normal_name(c) in FIELD_NAMES for c in row[1:])

    def names_only(row: list[str]) -> bool:
        return all(c and not _is_number(c) for c in row[1:]) and fields(row) == 0

    if not ((fields(top) >= 3 and names_only(second)) or (fields(second) >= 3 and names_only(top))):
        return None
    third = rows[2]
    index_row = bool(third) and not any(c for c in third[1:]) and normal_name(third[0]) in (*TIME_NAMES, "")
    time_name = third[0] if index_row and third[0] else "date"
    pairs = [(time_name, "")] + [(a, b) for a, b in zip(top[1:], second[1:], strict=True)]
    return (3 if index_row else 2), tuple(pairs)
