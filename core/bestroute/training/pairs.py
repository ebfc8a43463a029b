"""Preference pairs for training a proxy reward model: from AlpacaEval annotations or records."""

from __future__ import annotations

import gzip
import itertools
import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bestroute.data.dataset import OutcomeRecord
from bestroute.errors import DataFormatError

logger = logging.getLogger(__name__)

#: Pairs whose judge preference lies within this distance of 1.5 (a tie) are skipped.
DEFAULT_MARGIN = 0.25
#: Pairs taken from one query at most (the best and worst responses are paired first).
MAX_PAIRS_PER_QUERY = 20


@dataclass(frozen=True, slots=True)
class PreferencePair:
    """One judged comparison: for ``query``, ``better`` was preferred over ``worse``."""

    query: str
    better: str
    worse: str


def alpaca_eval_pairs(
    paths: str | Path | Iterable[str | Path], *, margin: float = DEFAULT_MARGIN
) -> list[PreferencePair]:
    """Read AlpacaEval annotation files (``<model>.json.gz`` or ``.json``) as preference pairs.

    Each annotation holds ``instruction``, ``output_1`` (the reference model), ``output_2`` (the
    file's model) and ``preference`` in [1, 2]; above 1.5 means ``output_2`` won. Annotations with
    ``|preference - 1.5| < margin`` (ties and near-ties), a missing preference, or two identical
    outputs are skipped (an empty output is kept: it is a real, losing response). Malformed files raise :class:`~bestroute.errors.DataFormatError`.
    """
    if not 0.0 <= margin < 0.5:
        raise ValueError(f"margin must be in [0, 0.5), got {margin}")
    path_list = [paths] if isinstance(paths, str | Path) else list(paths)
    pairs: list[PreferencePair] = []
    for path in path_list:
        records = _read_annotations(Path(path))
        skipped = 0
        for index, record in enumerate(records):
            pair = _pair_from_record(record, margin, Path(path), index)
            if pair is None:
                skipped += 1
            else:
                pairs.append(pair)
        logger.info(
            "%s: %d pairs, %d skipped (ties or missing)", path, len(records) - skipped, skipped
        )
    return pairs


def preference_pairs(
    records: Sequence[OutcomeRecord], *, max_per_query: int = MAX_PAIRS_PER_QUERY
) -> list[PreferencePair]:
    """Pairs of responses to one query with different oracle quality (all candidates pooled)."""
    pairs: list[PreferencePair] = []
    for record in records:
        texts = sorted(
            {
                (sample.quality, sample.text)
                for outcome in record.candidates.values()
                for sample in outcome.samples
                if sample.text
            },
            key=lambda item: -item[0],
        )
        gaps = [
            (q_better - q_worse, PreferencePair(record.query, better, worse))
            for (q_better, better), (q_worse, worse) in itertools.combinations(texts, 2)
            if q_better > q_worse and better != worse
        ]
        gaps.sort(key=lambda item: -item[0])  # widest quality gaps first (stable)
        chosen = [pair for _, pair in gaps]
        pairs.extend(chosen[:max_per_query])
    return pairs


def _read_annotations(path: Path) -> list[Any]:
    if not path.is_file():
        raise DataFormatError(f"no AlpacaEval annotation file at {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataFormatError(
            f"{path} is not a readable AlpacaEval annotations JSON file: {error}"
        ) from error
    if not isinstance(data, list):
        raise DataFormatError(
            f"{path}: expected a JSON list of annotations, got {type(data).__name__}"
        )
    return data


def _pair_from_record(record: Any, margin: float, path: Path, index: int) -> PreferencePair | None:
    if not isinstance(record, dict) or "instruction" not in record:
        raise DataFormatError(
            f"{path}: annotation {index} is not an object with 'instruction', 'output_1', "
            "'output_2' and 'preference'"
        )
    preference = record.get("preference")
    if preference is None:
        return None
    try:
        value = float(preference)
    except (TypeError, ValueError) as error:
        raise DataFormatError(
            f"{path}: annotation {index} has a non-numeric preference {preference!r}"
        ) from error
    if math.isnan(value) or abs(value - 1.5) < margin:
        return None
    reference, other = str(record.get("output_1") or ""), str(record.get("output_2") or "")
    if reference == other:
        return None
    better, worse = (other, reference) if value > 1.5 else (reference, other)
    return PreferencePair(str(record["instruction"]), better, worse)
