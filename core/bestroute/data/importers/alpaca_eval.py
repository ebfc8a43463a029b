"""AlpacaEval 2.0 annotations (``alpaca_eval/<model>.json.gz``).

Each file is a JSON list of judged pairs: ``instruction``, ``output_1`` by the reference
``generator_1`` (``gpt4_1106_preview``), ``output_2`` by ``generator_2`` and ``preference`` in
[1, 2] from a GPT-4-turbo judge (above 1.5: ``generator_2`` won).

Quality, higher is better: ``generator_2``'s sample has quality = ``preference``; the reference's
own sample has quality :data:`REFERENCE_QUALITY` = 1.5 (a tie with itself). So "quality >= the
reference's" means "the judge preferred the model at least as often as not". Loading several
files (a folder, a glob) gives one record per instruction holding every model and the reference;
a pair without a preference keeps only the reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bestroute._checks import is_finite_number
from bestroute.cost import DEFAULT_EXPECTED_OUTPUT_TOKENS
from bestroute.data.dataset import CandidateOutcome, OutcomeRecord, OutcomeSample
from bestroute.data.importers._common import count_tokens, find_files, read_json
from bestroute.errors import DataFormatError

#: Quality of the reference's own response: the preference of a tie.
REFERENCE_QUALITY = 1.5


def _sample(model: str, text: Any, quality: float, default_tokens: float) -> OutcomeSample:
    text = text if isinstance(text, str) and text else None
    tokens = count_tokens(model, text) if text else default_tokens
    return OutcomeSample(output_tokens=tokens, quality=quality, text=text)


def import_alpaca_eval(
    path: str | Path, *, default_output_tokens: float = DEFAULT_EXPECTED_OUTPUT_TOKENS
) -> list[OutcomeRecord]:
    """Read one annotations file, or all of them in a folder (see the module docstring)."""
    by_instruction: dict[str, OutcomeRecord] = {}
    for file in find_files(Path(path), (".json.gz", ".json"), "alpaca_eval annotations"):
        data = read_json(file)
        if not isinstance(data, list):
            raise DataFormatError(f"{file}: expected a JSON list of annotations")
        for index, item in enumerate(data):
            try:
                instruction = item["instruction"]
                reference, model = str(item["generator_1"]), str(item["generator_2"])
            except (KeyError, TypeError):
                raise DataFormatError(
                    f"{file}: annotation {index} needs instruction, generator_1, generator_2"
                ) from None
            if not isinstance(instruction, str) or not instruction.strip():
                raise DataFormatError(
                    f"{file}: annotation {index}: 'instruction' must be a non-empty string, got "
                    f"{instruction!r}"
                )
            if not reference.strip() or not model.strip():
                raise DataFormatError(
                    f"{file}: annotation {index}: generator_1 and generator_2 must name models"
                )
            record = by_instruction.get(instruction)
            if record is None:
                record = OutcomeRecord(
                    f"alpaca_eval-{len(by_instruction)}",
                    instruction,
                    {},
                    {"source": "alpaca_eval", "dataset": item.get("dataset")},
                )
                by_instruction[instruction] = record
            if reference not in record.candidates:
                record.candidates[reference] = CandidateOutcome(
                    input_tokens=count_tokens(reference, instruction),
                    samples=[
                        _sample(
                            reference,
                            item.get("output_1"),
                            REFERENCE_QUALITY,
                            default_output_tokens,
                        )
                    ],
                )
            preference = item.get("preference")
            if model == reference or model in record.candidates:
                continue
            if not is_finite_number(preference):
                continue
            record.candidates[model] = CandidateOutcome(
                input_tokens=count_tokens(model, instruction),
                samples=[
                    _sample(model, item.get("output_2"), float(preference), default_output_tokens)
                ],
            )
    return list(by_instruction.values())
