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

import math
import re
from pathlib import Path
from typing import Any

from bestroute.cost import DEFAULT_EXPECTED_OUTPUT_TOKENS
from bestroute.data.dataset import CandidateOutcome, OutcomeRecord, OutcomeSample
from bestroute.data.importers._common import (
    count_tokens,
    find_files,
    parse_json,
    read_csv_rows,
    read_text,
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
            if any(not model.strip() for model in models):
                raise DataFormatError(
                    f"{path}: the header has a column without a name; name it after its model "
                    "or remove it"
                )
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


def _json_lines(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line of a JSON Lines file."""
    items = []
    for number, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        item = parse_json(path, line, f"line {number}: ")
        if not isinstance(item, dict):
            raise DataFormatError(f"{path}: line {number}: expected a JSON object")
        items.append((number, item))
    return items


def _mt_bench_questions(path: Path) -> dict[Any, dict[str, Any]]:
    questions: dict[Any, dict[str, Any]] = {}
    for number, item in _json_lines(path):
        turns = item.get("turns")
        key = item.get("question_id")
        if (
            not isinstance(key, str | int)
            or not isinstance(turns, list)
            or not all(isinstance(turn, str) and turn.strip() for turn in turns)
        ):
            raise DataFormatError(
                f"{path}: line {number}: needs a 'question_id' and 'turns' (a list of "
                "non-empty strings)"
            )
        questions[key] = item
    return questions


def _mt_bench_records(judgements: Path, default_output_tokens: float) -> list[OutcomeRecord]:
    questions_file = judgements.with_name("question.jsonl")
    if not questions_file.is_file():
        raise DataFormatError(f"{judgements}: MT-Bench needs question.jsonl beside it")
    questions = _mt_bench_questions(questions_file)
    by_turn: dict[tuple[Any, int], OutcomeRecord] = {}
    for number, item in _json_lines(judgements):
        key_id = item.get("question_id")
        if not isinstance(key_id, str | int) or key_id not in questions:
            raise DataFormatError(
                f"{judgements}: line {number}: question_id {item.get('question_id')!r} is not in "
                f"{questions_file.name}"
            )
        question = questions[item["question_id"]]
        try:
            turn = int(item["turn"])
            model = str(item["model"])
            score = float(item["score"])
        except (KeyError, TypeError, ValueError, OverflowError) as error:
            raise DataFormatError(f"{judgements}: line {number}: missing or bad {error}") from None
        if not 1 <= turn <= len(question["turns"]):
            raise DataFormatError(
                f"{judgements}: line {number}: turn {turn} is not a turn of question "
                f"{item['question_id']!r} (it has {len(question['turns'])})"
            )
        if isinstance(item["score"], bool) or not math.isfinite(score) or not model.strip():
            raise DataFormatError(
                f"{judgements}: line {number}: needs a finite 'score' and a non-empty 'model'"
            )
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
