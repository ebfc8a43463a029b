"""RouterBench rows (``routerbench/*.csv.gz``, as published in RouterDC).

Columns: ``sample_id``, ``prompt`` (a Python list of strings), ``eval_name``, one score column per
model (0/1 or a partial score; empty when the model was not scored on that row: the model is
skipped for that row), ``<model>|model_response`` (a Python list of strings) and
``<model>|total_cost`` (dollars the call cost). Each scored model becomes one sample with the
response text; tokens are counted from the texts. The observed costs are kept in the record's
``metadata["total_cost"]`` so :func:`fit_prices` can recover per-token prices for models that a
prices file does not list.
"""

from __future__ import annotations

import ast
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bestroute.cost import DEFAULT_EXPECTED_OUTPUT_TOKENS
from bestroute.data._unicode import has_lone_surrogate
from bestroute.data.dataset import CandidateOutcome, OutcomeRecord, OutcomeSample
from bestroute.data.importers._common import count_tokens, find_files, read_csv_rows
from bestroute.errors import DataFormatError
from bestroute.prices import ModelPrice, Prices

logger = logging.getLogger(__name__)

_RESPONSE = "|model_response"
_COST = "|total_cost"


def _text_list(cell: str) -> str | None:
    """Decode a cell holding a Python list of strings (plain text is kept as is)."""
    if not cell:
        return None
    try:
        value = ast.literal_eval(cell)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return cell  # not a Python literal (or an unhashable / too deep one): the text itself
    if isinstance(value, list | tuple):
        return "\n".join(str(v) for v in value)
    return str(value)


def _number(cell: str | None) -> float | None:
    if cell is None or not cell.strip():
        return None
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _file_records(path: Path, default_output_tokens: float) -> list[OutcomeRecord]:
    records: list[OutcomeRecord] = []
    problems: list[str] = []
    models: list[str] | None = None
    for line, row in read_csv_rows(path):
        if models is None:
            if "prompt" not in row:
                raise DataFormatError(f"{path}: a RouterBench CSV needs a 'prompt' column")
            models = [c.removesuffix(_RESPONSE) for c in row if c.endswith(_RESPONSE)]
            if not models:
                raise DataFormatError(f"{path}: no '<model>|model_response' columns")
            if any(not model.strip() for model in models):
                raise DataFormatError(f"{path}: a '|model_response' column names no model")
        query = _text_list(row["prompt"])
        if not query or not query.strip():
            problems.append(f"line {line}: empty prompt")
            continue
        if has_lone_surrogate(query):
            problems.append(f"line {line}: the prompt holds a lone surrogate escape (not text)")
            continue
        candidates: dict[str, CandidateOutcome] = {}
        costs: dict[str, float] = {}
        for model in models:
            raw = row.get(model)
            score = _number(raw)
            if score is None:
                if raw and raw.strip():
                    problems.append(f"line {line}: score of {model!r} is not a number: {raw!r}")
                continue
            text = _text_list(row.get(model + _RESPONSE) or "")
            if text is not None and has_lone_surrogate(text):
                problems.append(f"line {line}: the response of {model!r} holds a lone surrogate")
                continue
            tokens = count_tokens(model, text) if text else default_output_tokens
            candidates[model] = CandidateOutcome(
                input_tokens=count_tokens(model, query),
                samples=[OutcomeSample(output_tokens=tokens, quality=score, text=text)],
            )
            cost = _number(row.get(model + _COST))
            if cost is not None:
                costs[model] = cost
        if candidates:
            record_id = row.get("sample_id") or f"{path.name}-{line}"
            metadata = {"source": row.get("eval_name") or path.name, "total_cost": costs}
            records.append(OutcomeRecord(record_id, query, candidates, metadata))
    if problems:
        raise DataFormatError(f"{path}: {len(problems)} bad row(s): " + "; ".join(problems[:20]))
    return records


def import_routerbench(
    path: str | Path, *, default_output_tokens: float = DEFAULT_EXPECTED_OUTPUT_TOKENS
) -> list[OutcomeRecord]:
    """Read one RouterBench CSV (``.csv`` or ``.csv.gz``) or every one in a folder."""
    records: list[OutcomeRecord] = []
    for file in find_files(Path(path), (".csv", ".csv.gz"), "RouterBench CSV"):
        records.extend(_file_records(file, default_output_tokens))
    return records


def fit_prices(records: Sequence[OutcomeRecord], min_rows: int = 5) -> Prices:
    """Per-model prices fitted to the observed ``metadata["total_cost"]`` of imported records.

    For each model, non-negative least squares of ``cost = in_tokens * p_in + out_tokens * p_out``
    over its rows (token counts as the importer counted them, so the fit is approximate where the
    provider's tokenizer differs). Models with fewer than ``min_rows`` costed rows are left out.
    """
    rows: dict[str, list[tuple[float, float, float]]] = {}
    for record in records:
        costs = record.metadata.get("total_cost") or {}
        for model, cost in costs.items():
            outcome = record.candidates.get(model)
            if outcome is None or not outcome.samples:
                continue
            out = sum(s.output_tokens for s in outcome.samples)
            rows.setdefault(model, []).append((outcome.input_tokens, out, cost))
    prices: dict[str, ModelPrice] = {}
    for model, values in rows.items():
        if len(values) < min_rows:
            logger.info("fit_prices: %s has only %d costed rows; skipped", model, len(values))
            continue
        data = np.asarray(values, dtype=np.float64)
        p_in, p_out = _nonnegative_lstsq(data[:, :2], data[:, 2])
        prices[model] = ModelPrice(
            input=round(p_in * 1e6, 6),
            output=round(p_out * 1e6, 6),
            source="fitted to RouterBench total_cost",
        )
    return Prices(prices, DEFAULT_EXPECTED_OUTPUT_TOKENS, "prices fitted to RouterBench total_cost")


def _nonnegative_lstsq(features: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """Two-variable least squares with both coefficients >= 0 (tries the boundary fits)."""
    best: tuple[float, float] | None = None
    best_error = math.inf
    solution = np.linalg.lstsq(features, target, rcond=None)[0]
    candidates = [(float(solution[0]), float(solution[1]))]
    for column in (0, 1):
        x = features[:, column]
        denom = float(x @ x)
        coef = max(float(x @ target) / denom, 0.0) if denom > 0 else 0.0
        candidates.append((coef, 0.0) if column == 0 else (0.0, coef))
    for p_in, p_out in candidates:
        if p_in < 0 or p_out < 0:
            continue
        error = float(np.sum((features @ np.array([p_in, p_out]) - target) ** 2))
        if error < best_error:
            best, best_error = (p_in, p_out), error
    assert best is not None  # the boundary fits are always non-negative
    return best
