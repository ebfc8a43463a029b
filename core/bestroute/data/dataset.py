"""The outcome dataset: what each candidate model did on each query.

On disk it is JSON Lines (UTF-8), one query per line::

    {"id": "q1", "query": "What is 2+2?",
     "candidates": {"model-a": {"input_tokens": 12, "multi_sample": true,
                                "samples": [{"output_tokens": 40, "quality": 1.0,
                                             "text": "4", "reward": 0.7}]}},
     "metadata": {"source": "gsm8k"}}

``quality`` is the oracle quality of one sample (1/0 correctness, a judge score...), ``reward`` an
optional proxy-reward score, ``text`` the optional response text. ``multi_sample`` is false when
the samples are not independent draws (a single continuous score): such a candidate offers only
``n = 1`` arms. ``metadata`` is optional free-form JSON (source file, subject...). Token counts are
per call: ``input_tokens`` is paid once per call, each sample's ``output_tokens`` once.

:func:`load_dataset` validates every line and raises
:class:`~bestroute.data.dataset.DatasetValidationError` (a
:class:`~bestroute.errors.DataFormatError`) listing each bad record by line number.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from bestroute._checks import is_finite_number
from bestroute.data._unicode import json_has_lone_surrogate, undecodable_byte
from bestroute.errors import DataFormatError, DatasetValidationError

#: How many problems a validation error lists before it stops collecting.
MAX_REPORTED_PROBLEMS = 20

_RECORD_KEYS = frozenset({"id", "query", "candidates", "metadata"})
_CANDIDATE_KEYS = frozenset({"input_tokens", "samples", "multi_sample"})
_SAMPLE_KEYS = frozenset({"output_tokens", "quality", "text", "reward"})


@dataclass(frozen=True, slots=True)
class OutcomeSample:
    """One sampled response's outcome."""

    output_tokens: float
    quality: float
    text: str | None = None
    reward: float | None = None


@dataclass(slots=True)
class CandidateOutcome:
    """All samples one candidate drew for one query."""

    input_tokens: float
    samples: list[OutcomeSample]
    multi_sample: bool = True

    def max_n(self) -> int:
        """Largest ``n`` this candidate offers: its sample count, or 1 for single-pass scores."""
        return len(self.samples) if self.multi_sample else min(1, len(self.samples))


@dataclass(slots=True)
class OutcomeRecord:
    """One query and every candidate's outcomes on it."""

    id: str
    query: str
    candidates: dict[str, CandidateOutcome] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


# -- conversion ----------------------------------------------------------------------------------


def record_to_dict(record: OutcomeRecord) -> dict[str, Any]:
    """The JSON form of one record (``text``/``reward`` omitted when absent)."""
    candidates: dict[str, Any] = {}
    for name, outcome in record.candidates.items():
        samples = []
        for sample in outcome.samples:
            item: dict[str, Any] = {
                "output_tokens": sample.output_tokens,
                "quality": sample.quality,
            }
            if sample.text is not None:
                item["text"] = sample.text
            if sample.reward is not None:
                item["reward"] = sample.reward
            samples.append(item)
        candidates[name] = {
            "input_tokens": outcome.input_tokens,
            "multi_sample": outcome.multi_sample,
            "samples": samples,
        }
    data: dict[str, Any] = {"id": record.id, "query": record.query, "candidates": candidates}
    if record.metadata:
        data["metadata"] = record.metadata
    return data


def record_from_dict(data: Any) -> OutcomeRecord:
    """Parse and validate one record; raises :class:`DataFormatError` naming every problem."""
    problems = _record_problems(data)
    if problems:
        raise DataFormatError("; ".join(problems))
    candidates = {
        name: CandidateOutcome(
            input_tokens=value["input_tokens"],
            samples=[
                OutcomeSample(
                    output_tokens=s["output_tokens"],
                    quality=float(s["quality"]),
                    text=s.get("text"),
                    reward=None if s.get("reward") is None else float(s["reward"]),
                )
                for s in value["samples"]
            ],
            multi_sample=bool(value.get("multi_sample", True)),
        )
        for name, value in data["candidates"].items()
    }
    return OutcomeRecord(
        id=str(data["id"]),
        query=data["query"],
        candidates=candidates,
        metadata=dict(data.get("metadata") or {}),
    )


# -- validation ----------------------------------------------------------------------------------


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and is_finite_number(value)


def _record_problems(data: Any) -> list[str]:
    """Everything wrong with one parsed JSON record (empty when it is valid)."""
    if not isinstance(data, Mapping):
        return [f"a record must be a JSON object, got {type(data).__name__}"]
    problems: list[str] = []
    unknown = sorted(set(data) - _RECORD_KEYS)
    if unknown:
        problems.append(f"unknown field(s) {unknown}; allowed: {sorted(_RECORD_KEYS)}")
    record_id = data.get("id")
    if isinstance(record_id, bool) or not isinstance(record_id, str | int) or record_id == "":
        problems.append(f"'id' must be a non-empty string, got {record_id!r}")
    query = data.get("query")
    if not isinstance(query, str) or not query.strip():
        problems.append("'query' must be a non-empty string")
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        problems.append("'metadata' must be an object when present")
    candidates = data.get("candidates")
    if not isinstance(candidates, Mapping) or not candidates:
        problems.append("'candidates' must be a non-empty object mapping model name -> outcome")
        return problems
    for name, outcome in candidates.items():
        if not isinstance(name, str) or not name.strip():
            problems.append(f"candidate names must be non-empty strings, got {name!r}")
        problems.extend(f"candidate {name!r}: {p}" for p in _candidate_problems(outcome))
    return problems


def _candidate_problems(outcome: Any) -> list[str]:
    if not isinstance(outcome, Mapping):
        return ["must be an object with 'input_tokens' and 'samples'"]
    problems: list[str] = []
    unknown = sorted(set(outcome) - _CANDIDATE_KEYS)
    if unknown:
        problems.append(f"unknown field(s) {unknown}; allowed: {sorted(_CANDIDATE_KEYS)}")
    tokens = outcome.get("input_tokens")
    if not _is_number(tokens) or tokens < 0:
        problems.append(f"'input_tokens' must be a number >= 0, got {tokens!r}")
    multi = outcome.get("multi_sample", True)
    if not isinstance(multi, bool):
        problems.append(f"'multi_sample' must be true or false, got {multi!r}")
    samples = outcome.get("samples")
    if not isinstance(samples, list) or not samples:
        problems.append("'samples' must be a non-empty list")
        return problems
    for index, sample in enumerate(samples):
        problems.extend(f"sample {index}: {p}" for p in _sample_problems(sample))
    return problems


def _sample_problems(sample: Any) -> list[str]:
    if not isinstance(sample, Mapping):
        return ["must be an object with 'output_tokens' and 'quality'"]
    problems: list[str] = []
    unknown = sorted(set(sample) - _SAMPLE_KEYS)
    if unknown:
        problems.append(f"unknown field(s) {unknown}; allowed: {sorted(_SAMPLE_KEYS)}")
    tokens = sample.get("output_tokens")
    if not _is_number(tokens) or tokens < 0:
        problems.append(f"'output_tokens' must be a number >= 0, got {tokens!r}")
    if not _is_number(sample.get("quality")):
        problems.append(f"'quality' must be a finite number, got {sample.get('quality')!r}")
    text = sample.get("text")
    if text is not None and not isinstance(text, str):
        problems.append(f"'text' must be a string or null, got {type(text).__name__}")
    reward = sample.get("reward")
    if reward is not None and not _is_number(reward):
        problems.append(f"'reward' must be a finite number or null, got {reward!r}")
    return problems


# -- files ---------------------------------------------------------------------------------------


def load_dataset(path: str | os.PathLike[str]) -> list[OutcomeRecord]:
    """Read and validate an outcome dataset (JSON Lines; blank lines are skipped).

    Every line is checked; all problems (up to :data:`MAX_REPORTED_PROBLEMS`) are reported
    together in one :class:`DatasetValidationError` naming the line numbers.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"outcome dataset not found: {path}")
    records: list[OutcomeRecord] = []
    problems: list[tuple[int, str]] = []
    bad_lines = 0
    seen_ids: dict[str, int] = {}
    # undecodable bytes become lone surrogates (never produced by valid UTF-8): reported per line
    with path.open(encoding="utf-8", errors="surrogateescape") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            bad_byte = undecodable_byte(line)
            line_problems = (
                [f"not UTF-8 text ({bad_byte}); save the file as UTF-8"] if bad_byte else []
            )
            data = None
            if not line_problems:
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as error:
                    line_problems = [f"not valid JSON ({error.msg} at column {error.colno})"]
                except RecursionError:
                    line_problems = ["not a record: the JSON is nested too deeply"]
                except ValueError as error:  # e.g. an integer of more than 4300 digits
                    line_problems = [f"not valid JSON ({error})"]
                else:
                    line_problems = _record_problems(data)
                    if json_has_lone_surrogate(line, data):
                        line_problems.append(
                            "a string holds a lone surrogate escape (\\ud800-\\udfff), which "
                            "is not text: fix or drop it"
                        )
            if not line_problems:
                record = record_from_dict(data)
                if record.id in seen_ids:
                    line_problems = [
                        f"duplicate id {record.id!r} (first on line {seen_ids[record.id]})"
                    ]
                else:
                    seen_ids[record.id] = line_number
                    records.append(record)
            if line_problems:
                bad_lines += 1
                room = MAX_REPORTED_PROBLEMS - len(problems)
                problems.extend((line_number, p) for p in line_problems[: max(room, 0)])
    if problems:
        listed = "\n".join(f"  line {line}: {message}" for line, message in problems)
        more = " (first problems shown)" if len(problems) >= MAX_REPORTED_PROBLEMS else ""
        raise DatasetValidationError(
            f"{path}: {bad_lines} bad record(s){more}; fix these lines "
            f"(format: see bestroute.data.dataset):\n{listed}",
            problems,
        )
    return records


def save_dataset(records: Iterable[OutcomeRecord], path: str | os.PathLike[str]) -> Path:
    """Write records as JSON Lines (atomically: a temporary file, flushed to disk, renamed into
    place, so a crash leaves either the old file or the new one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    ids: set[str] = set()
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            for record in records:
                if record.id in ids:
                    raise DataFormatError(f"duplicate record id {record.id!r}; ids must be unique")
                ids.add(record.id)
                handle.write(json.dumps(record_to_dict(record), ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
    return path


# -- helpers -------------------------------------------------------------------------------------


def candidates_of(records: Iterable[OutcomeRecord]) -> list[str]:
    """Every candidate name appearing in ``records``, in order of first appearance."""
    names: dict[str, None] = {}
    for record in records:
        for name in record.candidates:
            names.setdefault(name, None)
    return list(names)


def common_candidates(records: Sequence[OutcomeRecord]) -> list[str]:
    """Candidates present in every record, in order of first appearance."""
    if not records:
        return []
    return [
        name
        for name in candidates_of(records)
        if all(name in record.candidates for record in records)
    ]


def max_samples(records: Iterable[OutcomeRecord], candidate: str) -> int:
    """The most ``n`` any record offers for ``candidate`` (0 when it never appears)."""
    return max(
        (r.candidates[candidate].max_n() for r in records if candidate in r.candidates),
        default=0,
    )
