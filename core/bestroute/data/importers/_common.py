"""Helpers shared by the importers: token counting, file discovery, CSV setup."""

from __future__ import annotations

import csv
import gzip
import io
import sys
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import IO

from bestroute.cost import TiktokenCounter, TokenCounter, counter_for
from bestroute.errors import DataFormatError

# Public CSVs hold long multi-line responses in single fields.
csv.field_size_limit(sys.maxsize)


@lru_cache(maxsize=256)
def token_counter(model: str) -> TokenCounter:
    """The offline token counter of ``model`` (see :func:`bestroute.cost.counter_for`), cached."""
    return counter_for(model)


def count_tokens(model: str, text: str) -> int:
    """Tokens of ``text`` as ``model`` would count them (tiktoken counts are shared per encoding)."""
    counter = token_counter(model)
    if isinstance(counter, TiktokenCounter):
        return _tiktoken_count(counter.encoding.name, text)
    return counter.count(text)


@lru_cache(maxsize=65536)
def _tiktoken_count(encoding: str, text: str) -> int:
    import tiktoken

    return len(tiktoken.get_encoding(encoding).encode(text, disallowed_special=()))


def find_files(path: Path, suffixes: tuple[str, ...], what: str) -> list[Path]:
    """``path`` itself when it is a file, else the files under it ending in ``suffixes`` (sorted).

    A path with glob characters (``*``, ``?``, ``[``) is expanded.
    """
    if any(ch in str(path) for ch in "*?["):
        anchor = Path(path.anchor) if path.is_absolute() else Path()
        pattern = str(path.relative_to(anchor)) if path.is_absolute() else str(path)
        files = sorted(p for p in anchor.glob(pattern) if p.is_file())
    elif path.is_file():
        return [path]
    elif path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(suffixes))
    else:
        raise FileNotFoundError(f"{what} not found: {path}")
    if not files:
        raise DataFormatError(f"no {what} files ({', '.join(suffixes)}) found at {path}")
    return files


def open_text(path: Path) -> IO[str]:
    """Open a text file, decompressing ``.gz`` transparently."""
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def read_csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line_number, row)`` for each CSV row (line of the row's first line)."""
    with open_text(path) as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames:
            raise DataFormatError(f"{path}: empty CSV (no header)")
        line = reader.line_num
        for row in reader:
            yield line + 1, row
            line = reader.line_num


def source_name(path: Path) -> str:
    """The file's name without ``.json``/``.csv``/``.gz`` suffixes (used in ids and metadata)."""
    name = path.name
    for suffix in (".gz", ".json", ".jsonl", ".csv"):
        name = name.removesuffix(suffix)
    return name
