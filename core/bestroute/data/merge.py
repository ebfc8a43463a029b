"""Joining outcome records from several sources by normalised query text.

Two operations:

* :func:`combine_records` pools records of one kind (several alpaca_eval files, several CSVs of one
  benchmark): records whose queries normalise alike become one record holding all their
  candidates (the union of queries).
* :func:`merge_sources` joins different sources (10-sample fractions of open models + GPT-4's
  correctness from another file): only queries present in **every** source are kept (the
  intersection), each with the candidates of all sources.

When two records of a query both hold the same candidate, the first one's outcome is kept.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence

from bestroute.data.dataset import OutcomeRecord

logger = logging.getLogger(__name__)

# pandas reads an answer option "None" as NaN and writes it back as "nan".
_NAN_OPTION = re.compile(r"(?m)^([A-Z])\. nan[ \t]*$")


def normalize_query(text: str) -> str:
    """The join key of a query.

    Whitespace runs collapse to one space, a trailing ``Answer:`` (MMLU prompt suffix) is dropped,
    and an answer option spelled ``nan`` (pandas' rendering of the option text "None") reads as
    ``None``.
    """
    if ". nan" in text:
        text = _NAN_OPTION.sub(r"\1. None", text)
    text = " ".join(text.split())
    if text.endswith("Answer:"):
        text = text.removesuffix("Answer:").rstrip()
    return text


def _absorb(target: OutcomeRecord, other: OutcomeRecord, clashes: dict[str, int]) -> None:
    for name, outcome in other.candidates.items():
        if name in target.candidates:
            clashes[name] = clashes.get(name, 0) + 1
        else:
            target.candidates[name] = outcome
    for key, value in other.metadata.items():
        target.metadata.setdefault(key, value)


def _log_clashes(clashes: dict[str, int], where: str) -> None:
    for name, count in clashes.items():
        logger.info("%s: %d duplicate outcome(s) of %r ignored (first kept)", where, count, name)


def _unique_ids(records: list[OutcomeRecord]) -> list[OutcomeRecord]:
    seen: set[str] = set()
    for record in records:
        if record.id in seen:
            suffix = 2
            while f"{record.id}#{suffix}" in seen:
                suffix += 1
            record.id = f"{record.id}#{suffix}"
        seen.add(record.id)
    return records


def combine_records(records: Iterable[OutcomeRecord]) -> list[OutcomeRecord]:
    """Pool records: one record per normalised query with the union of candidates.

    Order follows each query's first appearance; the first record's id and text are kept.
    """
    by_key: dict[str, OutcomeRecord] = {}
    clashes: dict[str, int] = {}
    for record in records:
        key = normalize_query(record.query)
        if key in by_key:
            _absorb(by_key[key], record, clashes)
        else:
            by_key[key] = OutcomeRecord(
                record.id, record.query, dict(record.candidates), dict(record.metadata)
            )
    _log_clashes(clashes, "combine")
    return _unique_ids(list(by_key.values()))


def merge_sources(sources: Sequence[Sequence[OutcomeRecord]]) -> list[OutcomeRecord]:
    """Join sources on normalised query text, keeping only queries present in all of them.

    Each source is pooled first (:func:`combine_records`). Records follow the first source's
    order and keep its ids and query texts; candidates are added source by source.
    """
    if not sources:
        return []
    pooled = [combine_records(source) for source in sources]
    if len(pooled) == 1:
        return pooled[0]
    keyed = [{normalize_query(r.query): r for r in source} for source in pooled]
    merged: list[OutcomeRecord] = []
    clashes: dict[str, int] = {}
    for key, first in keyed[0].items():
        if not all(key in other for other in keyed[1:]):
            continue
        record = OutcomeRecord(first.id, first.query, dict(first.candidates), dict(first.metadata))
        for other in keyed[1:]:
            _absorb(record, other[key], clashes)
        merged.append(record)
    _log_clashes(clashes, "merge")
    for index, source in enumerate(keyed):
        dropped = len(source) - len(merged)
        if dropped:
            logger.info(
                "merge: %d of %d queries of source %d matched no other source",
                dropped,
                len(source),
                index + 1,
            )
    return merged
