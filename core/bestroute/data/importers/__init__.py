"""Importers for public outcome formats, and ``FORMAT:PATH`` source specs.

Formats: ``multisample`` (RouterDC JSON), ``routerbench`` (CSV), ``routellm`` (correctness CSVs,
MT-Bench), ``alpaca_eval`` (annotation files), ``jsonl`` (this project's own outcome dataset).
A PATH may be a file, a folder (every file of the format in it) or a glob.

:func:`load_sources` reads several specs: specs of the same format are pooled (the union of their
queries), then the pools of different formats are joined on normalised query text, keeping the
queries present in every format (see :mod:`bestroute.data.merge`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from bestroute.cost import DEFAULT_EXPECTED_OUTPUT_TOKENS
from bestroute.data.dataset import OutcomeRecord, load_dataset
from bestroute.data.importers.alpaca_eval import REFERENCE_QUALITY, import_alpaca_eval
from bestroute.data.importers.multisample import import_multisample
from bestroute.data.importers.routellm import import_routellm
from bestroute.data.importers.routerbench import fit_prices, import_routerbench
from bestroute.data.merge import combine_records, merge_sources
from bestroute.errors import DataFormatError

Importer = Callable[..., list[OutcomeRecord]]


def import_jsonl(
    path: str | Path, *, default_output_tokens: float = DEFAULT_EXPECTED_OUTPUT_TOKENS
) -> list[OutcomeRecord]:
    """This project's outcome dataset (token counts are already in it)."""
    del default_output_tokens
    return load_dataset(path)


#: Format name -> importer ``(path, *, default_output_tokens) -> records``.
FORMATS: dict[str, Importer] = {
    "multisample": import_multisample,
    "routerbench": import_routerbench,
    "routellm": import_routellm,
    "alpaca_eval": import_alpaca_eval,
    "jsonl": import_jsonl,
}


def parse_source(spec: str) -> tuple[str, Path]:
    """Split ``FORMAT:PATH``; a bare path ending in ``.jsonl`` means ``jsonl``."""
    fmt, sep, path = spec.partition(":")
    if sep and fmt in FORMATS and path:
        return fmt, Path(path).expanduser()
    if spec.endswith(".jsonl"):
        return "jsonl", Path(spec).expanduser()
    raise DataFormatError(
        f"cannot read data source {spec!r}: write it as FORMAT:PATH with FORMAT one of "
        f"{sorted(FORMATS)} (e.g. multisample:../shared/data/multisample/gsm8k-test-dev.json)"
    )


def load_source(
    spec: str, *, default_output_tokens: float = DEFAULT_EXPECTED_OUTPUT_TOKENS
) -> list[OutcomeRecord]:
    """Import one ``FORMAT:PATH`` source; duplicate queries in it are pooled into one record."""
    fmt, path = parse_source(spec)
    records = FORMATS[fmt](path, default_output_tokens=default_output_tokens)
    return combine_records(records)


def load_sources(
    specs: Sequence[str], *, default_output_tokens: float = DEFAULT_EXPECTED_OUTPUT_TOKENS
) -> list[OutcomeRecord]:
    """Import and join several sources (same format: union; across formats: intersection)."""
    if not specs:
        raise DataFormatError("no data source given: pass at least one FORMAT:PATH")
    groups: dict[str, list[OutcomeRecord]] = {}
    for spec in specs:
        fmt, _ = parse_source(spec)
        groups.setdefault(fmt, []).extend(
            load_source(spec, default_output_tokens=default_output_tokens)
        )
    return merge_sources(list(groups.values()))


__all__ = [
    "FORMATS",
    "REFERENCE_QUALITY",
    "Importer",
    "fit_prices",
    "import_alpaca_eval",
    "import_jsonl",
    "import_multisample",
    "import_routellm",
    "import_routerbench",
    "load_source",
    "load_sources",
    "parse_source",
]
