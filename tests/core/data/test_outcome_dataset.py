"""The outcome dataset format: round trip, validation by line, helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bestroute.data.dataset import (
    CandidateOutcome,
    DatasetValidationError,
    OutcomeRecord,
    OutcomeSample,
    candidates_of,
    common_candidates,
    load_dataset,
    max_samples,
    save_dataset,
)
from bestroute.errors import DataFormatError


def _record(record_id: str, models: dict[str, list[float]], multi: bool = True) -> OutcomeRecord:
    return OutcomeRecord(
        record_id,
        f"question {record_id}",
        {
            name: CandidateOutcome(
                input_tokens=7,
                samples=[OutcomeSample(output_tokens=10 + i, quality=q) for i, q in enumerate(qs)],
                multi_sample=multi,
            )
            for name, qs in models.items()
        },
    )


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    record = OutcomeRecord(
        "q1",
        "What is 2+2?",
        {
            "a": CandidateOutcome(
                12,
                [OutcomeSample(40, 1.0, "4", 0.7), OutcomeSample(38.5, 0.0, None, None)],
            ),
            "b": CandidateOutcome(11, [OutcomeSample(250, 0.42)], multi_sample=False),
        },
        {"source": "unit"},
    )
    path = save_dataset([record, _record("q2", {"a": [1.0]})], tmp_path / "d.jsonl")
    loaded = load_dataset(path)
    assert loaded[0] == record
    assert loaded[1].candidates["a"].samples[0].text is None
    assert [r.id for r in loaded] == ["q1", "q2"]


def test_validation_lists_every_bad_line(tmp_path: Path) -> None:
    good = {
        "id": "ok",
        "query": "q",
        "candidates": {"m": {"input_tokens": 1, "samples": [{"output_tokens": 3, "quality": 1}]}},
    }
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({"id": "x", "query": "", "candidates": {}}),
        "",
        json.dumps(
            {
                **good,
                "id": "y",
                "candidates": {
                    "m": {
                        "input_tokens": -1,
                        "samples": [
                            {"output_tokens": 3, "quality": "high", "reward": float("nan")}
                        ],
                    }
                },
            }
        ),
        json.dumps({**good, "id": "ok"}),
        json.dumps({**good, "id": "z", "extra": 1}),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DatasetValidationError) as caught:
        load_dataset(path)
    error = caught.value
    assert isinstance(error, DataFormatError)
    by_line: dict[int, list[str]] = {}
    for line, message in error.problems:
        by_line.setdefault(line, []).append(message)
    assert sorted(by_line) == [2, 3, 5, 6, 7]
    assert "not valid JSON" in by_line[2][0]
    assert any("'query'" in m for m in by_line[3]) and any("'candidates'" in m for m in by_line[3])
    assert any("input_tokens" in m for m in by_line[5])
    assert any("sample 0: 'quality'" in m for m in by_line[5])
    assert any("'reward'" in m for m in by_line[5])
    assert "duplicate id 'ok' (first on line 1)" in by_line[6][0]
    assert "unknown field" in by_line[7][0]
    assert "5 bad record(s)" in str(error) and "line 5:" in str(error)


def test_validation_stops_collecting_at_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "many.jsonl"
    path.write_text("[]\n" * 50, encoding="utf-8")
    with pytest.raises(DatasetValidationError) as caught:
        load_dataset(path)
    assert len(caught.value.problems) == 20
    assert "50 bad record(s)" in str(caught.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="outcome dataset not found"):
        load_dataset(tmp_path / "absent.jsonl")


def test_save_refuses_duplicate_ids(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="duplicate record id"):
        save_dataset([_record("a", {"m": [1.0]}), _record("a", {"m": [0.0]})], tmp_path / "d.jsonl")
    assert not (tmp_path / "d.jsonl").exists()


def test_candidate_helpers() -> None:
    records = [
        _record("1", {"a": [1.0, 0.0, 1.0], "ref": [1.0]}),
        _record("2", {"b": [0.3], "ref": [0.0]}, multi=False),
        _record("3", {"a": [1.0], "ref": [1.0]}),
    ]
    assert candidates_of(records) == ["a", "ref", "b"]
    assert common_candidates(records) == ["ref"]
    assert max_samples(records, "a") == 3
    assert max_samples(records, "b") == 1
    assert max_samples(records, "nobody") == 0
    single = CandidateOutcome(1, [OutcomeSample(1, 0.5), OutcomeSample(1, 0.7)], multi_sample=False)
    assert single.max_n() == 1
