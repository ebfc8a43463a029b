"""RouterDC multi-sample outcome files (``multisample/*.json``).

Each file is a JSON list of ``{"question": str, "scores": {model: float}, ...}``. Two kinds exist:

* **10-sample fractions** (GSM8K, MBPP, HumanEval): every score is the fraction of 10 temperature
  samples that were correct, always on the k/10 grid. A score ``f`` becomes 10 samples,
  ``round(10 f)`` with quality 1.0 and the rest 0.0, in a fixed pseudo-random order.
* **single-pass scores** (MMLU, ARC, CMMLU): one continuous score per model. Each becomes ONE
  sample with that quality and ``multi_sample=False``: no samples are invented.

The kind is decided per file: a file whose every score lies on the k/10 grid is read as 10-sample
fractions; any off-grid value makes the whole file single-pass (an on-grid value such as 0 in such
a file is still one score). Output tokens are not known: ``default_output_tokens`` each.
"""

from __future__ import annotations

import random
import zlib
from pathlib import Path
from typing import Any

from bestroute._checks import is_finite_number
from bestroute.cost import DEFAULT_EXPECTED_OUTPUT_TOKENS
from bestroute.data.dataset import CandidateOutcome, OutcomeRecord, OutcomeSample
from bestroute.data.importers._common import count_tokens, find_files, read_json, source_name
from bestroute.errors import DataFormatError

#: Samples behind each fraction in the 10-sample files.
SAMPLES_PER_FRACTION = 10
_GRID_TOLERANCE = 1e-6


def on_sample_grid(value: float, samples: int = SAMPLES_PER_FRACTION) -> bool:
    """True when ``value`` is ``k / samples`` for an integer ``k`` in ``0..samples``."""
    scaled = value * samples
    return 0 <= value <= 1 and abs(scaled - round(scaled)) < _GRID_TOLERANCE


def _scores(path: Path, data: Any) -> list[tuple[int, str, dict[str, float], dict[str, Any]]]:
    if not isinstance(data, list):
        raise DataFormatError(f"{path}: expected a JSON list of {{question, scores}} objects")
    rows = []
    problems = []
    for index, item in enumerate(data):
        question = item.get("question") if isinstance(item, dict) else None
        if not isinstance(question, str) or not question.strip():
            problems.append(f"item {index}: needs a non-empty 'question' string")
            continue
        scores = item.get("scores")
        if not isinstance(scores, dict):
            problems.append(f"item {index}: needs a 'scores' object")
            continue
        clean: dict[str, float] = {}
        for model, value in scores.items():
            if value is None:
                continue  # the model was not run on this question
            if not model.strip():
                problems.append(f"item {index}: a score has an empty model name")
                continue
            if not is_finite_number(value):
                problems.append(f"item {index}: score of {model!r} is not a number: {value!r}")
                continue
            clean[model] = float(value)
        extra = {k: v for k, v in item.items() if k not in ("question", "scores")}
        rows.append((index, item["question"], clean, extra))
    if problems:
        raise DataFormatError(f"{path}: " + "; ".join(problems[:20]))
    return rows


def fraction_samples(
    fraction: float, output_tokens: float, seed: str = "", samples: int = SAMPLES_PER_FRACTION
) -> list[OutcomeSample]:
    """``samples`` outcomes with ``round(samples * fraction)`` correct, in a seeded order."""
    correct = round(fraction * samples)
    qualities = [1.0] * correct + [0.0] * (samples - correct)
    random.Random(zlib.crc32(seed.encode("utf-8"))).shuffle(qualities)
    return [OutcomeSample(output_tokens=output_tokens, quality=q) for q in qualities]


def import_multisample(
    path: str | Path, *, default_output_tokens: float = DEFAULT_EXPECTED_OUTPUT_TOKENS
) -> list[OutcomeRecord]:
    """Read one RouterDC JSON file, or every ``*.json`` in a folder (see the module docstring)."""
    records: list[OutcomeRecord] = []
    for file in find_files(Path(path), (".json",), "multisample"):
        rows = _scores(file, read_json(file))
        multi = all(on_sample_grid(v) for _, _, scores, _ in rows for v in scores.values())
        name = source_name(file)
        for index, question, scores, extra in rows:
            record_id = f"{name}-{index}"
            candidates: dict[str, CandidateOutcome] = {}
            for model, value in scores.items():
                if multi:
                    samples = fraction_samples(value, default_output_tokens, f"{record_id}/{model}")
                else:
                    samples = [OutcomeSample(output_tokens=default_output_tokens, quality=value)]
                candidates[model] = CandidateOutcome(
                    input_tokens=count_tokens(model, question),
                    samples=samples,
                    multi_sample=multi,
                )
            if candidates:
                records.append(
                    OutcomeRecord(record_id, question, candidates, {"source": name, **extra})
                )
    return records
