"""RouteLLM evaluation outcomes (``routellm/``): correctness CSVs and MT-Bench judgements.

* **CSV** (``gsm8k/*.csv``, ``mmlu/*.csv``): a ``prompt`` column, one ``True``/``False``
  correctness column per model, and for some files ``<model>_response`` with the answer text.
  Each model's cell becomes one sample (quality 1.0/0.0; an empty cell skips the model for that
  row). Output tokens come from the response text when present, else ``default_output_tokens``.
  An answer option that pandas wrote as ``nan`` is restored to its text ``None``.
* **MT-Bench** (a folder or ``judgements.jsonl`` beside ``question.jsonl``): GPT-4 judge scores
  1-10 per model, question and turn. Each (question, turn) is one record; a second turn's query
  is the conversation's user turns joined by a blank line. Quality is the judge score; the
  response text is cut from the judge prompt.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bestroute.cost import DEFAULT_EXPECTED_OUTPUT_TOKENS
from bestroute.data.dataset import CandidateOutcome, OutcomeRecord, OutcomeSample
from bestroute.data.importers._common import (
    count_tokens,
    find_files,
    read_csv_rows,
    source_name,
)
from bestroute.errors import DataFormatError

_RESPONSE_SUFFIX = "_response"
_TRUTH = {"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0, "1.0": 1.0, "0.0": 0.0}
_NAN_OPTION = re.compile(r"(?m)^([A-Z])\. nan[ \t]*$")
_SINGLE_ANSWER = re.compile(
    r"\[The Start of Assistant's Answer\]\n(.*)\n\[The End of Assistant's Answer\]", re.S
)
_LAST_TURN = re.compile(
    r".*### Assistant A:\n(.*?)\n*<\|The End of Assistant A's Conversation with User\|>", re.S
)


def _restore_nan_options(text: str) -> str:
    return _NAN_OPTION.sub(r"\1. None", text) if ". nan" in text else text


def _csv_records(path: Path, default_output_tokens: float) -> list[OutcomeRecord]:
    rows = read_csv_rows(path)
    records: list[OutcomeRecord] = []
    problems: list[str] = []
    name = source_name(path)
    models: list[str] | None = None
    for line, row in rows:
        if models is None:
            if "prompt" not in row:
                raise DataFormatError(f"{path}: a RouteLLM CSV needs a 'prompt' column")
            models = [c for c in row if c != "prompt" and not c.endswith(_RESPONSE_SUFFIX)]
        query = _restore_nan_options(row["prompt"] or "")
        if not query.strip():
            problems.append(f"line {line}: empty prompt")
            continue
        candidates: dict[str, CandidateOutcome] = {}
        for model in models:
            cell = (row.get(model) or "").strip()
            if not cell:
                continue
            quality = _TRUTH.get(cell.lower())
            if quality is None:
                problems.append(f"line {line}: {model!r} is {cell!r}, expected True/False")
                continue
            text = row.get(model + _RESPONSE_SUFFIX) or None
            tokens = count_tokens(model, text) if text else default_output_tokens
            candidates[model] = CandidateOutcome(
                input_tokens=count_tokens(model, query),
                samples=[OutcomeSample(output_tokens=tokens, quality=quality, text=text)],
            )
        if candidates:
            records.append(
                OutcomeRecord(f"{name}-{len(records)}", query, candidates, {"source": name})
            )
    if problems:
        raise DataFormatError(f"{path}: {len(problems)} bad row(s): " + "; ".join(problems[:20]))
    return records


def _judged_response(prompt: str) -> str | None:
    match = _SINGLE_ANSWER.search(prompt) or _LAST_TURN.match(prompt)
    return match.group(1).strip() if match else None


def _mt_bench_records(judgements: Path, default_output_tokens: float) -> list[OutcomeRecord]:
    questions_file = judgements.with_name("question.jsonl")
    if not questions_file.is_file():
        raise DataFormatError(f"{judgements}: MT-Bench needs question.jsonl beside it")
    questions: dict[Any, dict[str, Any]] = {}
    for line in questions_file.read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            questions[item["question_id"]] = item
    by_turn: dict[tuple[Any, int], OutcomeRecord] = {}
    for number, line in enumerate(judgements.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        item = json.loads(line)
        try:
            question = questions[item["question_id"]]
            turn = int(item["turn"])
            model = str(item["model"])
            score = float(item["score"])
        except (KeyError, TypeError, ValueError) as error:
            raise DataFormatError(f"{judgements}: line {number}: missing or bad {error}") from None
        key = (item["question_id"], turn)
        if key not in by_turn:
            query = "\n\n".join(question["turns"][:turn])
            by_turn[key] = OutcomeRecord(
                f"mt_bench-{item['question_id']}-t{turn}",
                query,
                {},
                {"source": "mt_bench", "category": question.get("category"), "turn": turn},
            )
        record = by_turn[key]
        text = _judged_response(str(item.get("user_prompt", "")))
        record.candidates.setdefault(
            model,
            CandidateOutcome(
                input_tokens=count_tokens(model, record.query),
                samples=[
                    OutcomeSample(
                        output_tokens=count_tokens(model, text) if text else default_output_tokens,
                        quality=score,
                        text=text,
                    )
                ],
            ),
        )
    return sorted(by_turn.values(), key=lambda r: (r.metadata["turn"], r.id))


def import_routellm(
    path: str | Path, *, default_output_tokens: float = DEFAULT_EXPECTED_OUTPUT_TOKENS
) -> list[OutcomeRecord]:
    """Read a RouteLLM CSV, a folder of them, or an MT-Bench folder (see the module docstring)."""
    path = Path(path)
    if path.name == "judgements.jsonl":
        return _mt_bench_records(path, default_output_tokens)
    if path.is_dir() and (path / "judgements.jsonl").is_file():
        return _mt_bench_records(path / "judgements.jsonl", default_output_tokens)
    records: list[OutcomeRecord] = []
    for file in find_files(path, (".csv", ".csv.gz"), "RouteLLM CSV"):
        records.extend(_csv_records(file, default_output_tokens))
    return records
