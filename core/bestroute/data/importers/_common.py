"""Helpers shared by the importers: token counting, file discovery, CSV setup."""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
import zlib
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from bestroute.cost import TiktokenCounter, TokenCounter, counter_for
from bestroute.data._unicode import json_has_lone_surrogate
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


#: What reading a damaged file raises: bad UTF-8, a corrupt or cut gzip stream.
_READ_ERRORS = (UnicodeDecodeError, OSError, EOFError, zlib.error)


def read_text(path: Path) -> str:
    """The whole text of ``path`` (``.gz`` decompressed); a damaged file is a DataFormatError."""
    try:
        with open_text(path) as handle:
            return handle.read()
    except _READ_ERRORS as error:
        raise DataFormatError(f"{path}: {_read_error(error)}") from None


def parse_json(path: Path, text: str, what: str = "") -> Any:
    """``text`` (from ``path``, ``what`` = e.g. "line 3: ") parsed as JSON, else DataFormatError.

    A lone surrogate escape (``"\\ud800"``) is refused too: it is not text.
    """
    try:
        data = json.loads(text)
    except RecursionError:
        raise DataFormatError(f"{path}: {what}the JSON is nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, or an integer of more than 4300 digits
        raise DataFormatError(f"{path}: {what}not valid JSON ({error})") from None
    if json_has_lone_surrogate(text, data):
        raise DataFormatError(
            f"{path}: {what}a string holds a lone surrogate escape (\\ud800-\\udfff), which is "
            "not text: fix or drop it"
        )
    return data


def read_json(path: Path) -> Any:
    """The JSON document in ``path`` (``.gz`` decompressed); any damage is a DataFormatError."""
    return parse_json(path, read_text(path))


def read_csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line_number, row)`` for each CSV row (line of the row's first line).

    A damaged file (bad UTF-8, a cut gzip stream, a malformed quote) and a row with more fields
    than the header raise :class:`DataFormatError` naming the line.
    """
    line = 0
    try:
        with open_text(path) as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames:
                raise DataFormatError(f"{path}: empty CSV (no header)")
            line = reader.line_num
            for row in reader:
                if None in row:
                    raise DataFormatError(
                        f"{path}: line {line + 1} has more fields than the header "
                        f"({len(reader.fieldnames)}); quote fields that hold commas"
                    )
                yield line + 1, row
                line = reader.line_num
    except (*_READ_ERRORS, csv.Error) as error:
        where = f" (after line {line})" if line else ""
        raise DataFormatError(f"{path}: {_read_error(error)}{where}") from None


def _read_error(error: BaseException) -> str:
    if isinstance(error, UnicodeDecodeError):
        return f"not UTF-8 text ({error}); save the file as UTF-8"
    if isinstance(error, csv.Error):
        return f"not a readable CSV ({error})"
    return f"the file is damaged or not what its name says ({type(error).__name__}: {error})"


def source_name(path: Path) -> str:
    """The file's name without ``.json``/``.csv``/``.gz`` suffixes (used in ids and metadata)."""
    name = path.name
    for suffix in (".gz", ".json", ".jsonl", ".csv"):
        name = name.removesuffix(suffix)
    return name
