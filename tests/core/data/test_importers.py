"""Importers on slices of the real public files, and the joins the replay evaluation relies on.

The slices (tests/fixtures/data, cut by its make_slices.py) keep the original formats; the counts
below are the slices' (the full files' in parentheses). GSM8K test-dev is there whole.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bestroute.data.dataset import candidates_of
from bestroute.data.importers import (
    fit_prices,
    import_alpaca_eval,
    import_multisample,
    import_routellm,
    import_routerbench,
    load_source,
    load_sources,
    parse_source,
)
from bestroute.data.importers._common import count_tokens
from bestroute.data.merge import merge_sources, normalize_query
from bestroute.errors import DataFormatError

GPT4 = "gpt-4-1106-preview"
MIXTRAL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
OPEN_MODELS = 7
GSM8K_QUESTIONS = 511  # the whole of GSM8K test-dev
MMLU_QUESTIONS = 153  # (2,000): the first 150 and the 3 whose RouteLLM prompt has a "nan" option
ALPACA_INSTRUCTIONS = 102  # (805): the first 100 and the 2 phi-2 lacks


@pytest.fixture(scope="module")
def gsm8k_join(public_data: Path) -> list:
    return load_sources(
        [
            f"multisample:{public_data / 'multisample' / 'gsm8k-test-dev.json'}",
            f"routellm:{public_data / 'routellm' / 'gsm8k' / 'gsm8k-test-dev.csv'}",
        ]
    )


@pytest.fixture(scope="module")
def mmlu_routellm(public_data: Path) -> list:
    return load_source(f"routellm:{public_data / 'routellm' / 'mmlu'}")


@pytest.fixture(scope="module")
def alpaca_all(public_data: Path) -> list:
    return load_source(f"alpaca_eval:{public_data / 'alpaca_eval'}")


def test_multisample_fractions_become_ten_samples(public_data: Path) -> None:
    path = public_data / "multisample" / "gsm8k-test-dev.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    records = import_multisample(path, default_output_tokens=123)
    assert len(records) == GSM8K_QUESTIONS
    for record, item in zip(records, raw, strict=True):
        assert record.query == item["question"]
        assert set(record.candidates) == set(item["scores"])
        for model, fraction in item["scores"].items():
            outcome = record.candidates[model]
            assert outcome.multi_sample
            assert len(outcome.samples) == 10
            assert sum(s.quality for s in outcome.samples) == round(10 * fraction)
            assert {s.output_tokens for s in outcome.samples} == {123}
            assert outcome.input_tokens == count_tokens(model, item["question"])


def test_multisample_continuous_scores_stay_single(public_data: Path) -> None:
    path = public_data / "multisample" / "mmlu_train.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    records = import_multisample(path)
    assert len(records) == MMLU_QUESTIONS
    for record, item in zip(records, raw, strict=True):
        for model, score in item["scores"].items():
            outcome = record.candidates[model]
            assert not outcome.multi_sample and outcome.max_n() == 1
            assert [s.quality for s in outcome.samples] == [float(score)]


def test_multisample_grid_is_decided_per_file(tmp_path: Path) -> None:
    grid = [{"question": "a", "scores": {"m": 0.3, "k": 1}}, {"question": "b", "scores": {"m": 0}}]
    mixed = [{"question": "c", "scores": {"m": 0.5}}, {"question": "d", "scores": {"m": 0.123}}]
    (tmp_path / "grid.json").write_text(json.dumps(grid), encoding="utf-8")
    (tmp_path / "mixed.json").write_text(json.dumps(mixed), encoding="utf-8")
    on_grid = import_multisample(tmp_path / "grid.json")
    assert [len(r.candidates["m"].samples) for r in on_grid] == [10, 10]
    assert sum(s.quality for s in on_grid[0].candidates["m"].samples) == 3
    off_grid = import_multisample(tmp_path / "mixed.json")
    # 0.5 lies on the grid, but the file is continuous: still one score, never 10 samples
    assert [(len(r.candidates["m"].samples), r.candidates["m"].multi_sample) for r in off_grid] == [
        (1, False),
        (1, False),
    ]
    both = import_multisample(tmp_path)
    assert len(both) == 4


def test_routellm_gsm8k_csv(public_data: Path) -> None:
    records = import_routellm(public_data / "routellm" / "gsm8k" / "gsm8k-test-dev.csv")
    assert len(records) == GSM8K_QUESTIONS
    assert all(set(r.candidates) == {MIXTRAL, GPT4} for r in records)
    assert sum(r.candidates[GPT4].samples[0].quality for r in records) == 434
    assert sum(r.candidates[MIXTRAL].samples[0].quality for r in records) == 333
    sample = records[0].candidates[GPT4].samples[0]
    assert sample.text and sample.output_tokens == count_tokens(GPT4, sample.text)


def test_routellm_mmlu_folder(mmlu_routellm: list) -> None:
    records = mmlu_routellm
    # 213 rows (14,042); 3 prompts (105) repeat across subject files and are pooled
    assert len(records) == 210  # (13,937)
    assert len({r.id for r in records}) == len(records)
    # the slice keeps 3 prompts with an option pandas wrote as "nan" (A. once, D. twice)
    assert not any(re.search(r"(?m)^[A-D]\. nan$", r.query) for r in records)
    assert sum(bool(re.search(r"(?m)^[A-D]\. None$", r.query)) for r in records) >= 3
    assert all(r.candidates[GPT4].samples[0].output_tokens == 250 for r in records[:50])


def test_routellm_mt_bench(public_data: Path) -> None:
    records = import_routellm(public_data / "routellm" / "mt_bench")
    assert len(records) == 8  # 4 questions (80) x 2 turns
    for record in records:
        assert set(record.candidates) == {MIXTRAL, GPT4}
        for outcome in record.candidates.values():
            sample = outcome.samples[0]
            assert 1 <= sample.quality <= 10
            assert sample.text and "[The End of" not in sample.text
    second = next(r for r in records if r.metadata["turn"] == 2)
    first = next(r for r in records if r.id == second.id.replace("-t2", "-t1"))
    assert second.query.startswith(first.query + "\n\n")


def test_routerbench_rows(public_data: Path) -> None:
    path = public_data / "routerbench" / "arc_challenge_train.csv.gz"
    records = load_source(f"routerbench:{path}")
    assert len(records) == 100  # (1,039)
    assert len(candidates_of(records)) == 11
    # some ARC rows miss a score: that model is skipped for that row, never given a quality
    outcomes = sum(len(r.candidates) for r in records)
    assert outcomes == 1090 < 11 * len(records)  # (11,337)
    assert len({r.id for r in records}) == len(records)
    record = records[0]
    sample = record.candidates[GPT4].samples[0]
    assert sample.text == "D" and sample.quality == 1.0
    assert record.metadata["total_cost"][GPT4] == pytest.approx(0.00533)
    assert record.query.startswith("George wants to warm his hands")


def test_routerbench_prices_fit_the_observed_costs(public_data: Path) -> None:
    records = import_routerbench(public_data / "routerbench")
    assert len(records) == 100 + 20 + 60  # ARC, MBPP, Winogrande (2,225)
    prices = fit_prices(records)
    assert len(prices) == 11
    assert prices[GPT4].input == pytest.approx(10.0, rel=0.02)
    assert prices[GPT4].output == pytest.approx(30.0, rel=0.05)
    assert prices["claude-v2"].input == pytest.approx(8.0, rel=0.05)
    assert prices["gpt-3.5-turbo-1106"].output == pytest.approx(2.0, rel=0.05)


def test_alpaca_eval_merges_every_model_with_the_reference(
    public_data: Path, alpaca_all: list
) -> None:
    folder = public_data / "alpaca_eval"
    one = import_alpaca_eval(folder / "claude-2.1.json.gz")
    assert len(one) == ALPACA_INSTRUCTIONS
    assert set(one[0].candidates) == {"gpt4_1106_preview", "claude-2.1"}
    assert one[0].candidates["gpt4_1106_preview"].samples[0].quality == 1.5
    raw_pref = 1.0000630276  # claude-2.1's first annotation
    assert one[0].candidates["claude-2.1"].samples[0].quality == pytest.approx(raw_pref)
    every = alpaca_all
    assert len(every) == ALPACA_INSTRUCTIONS
    assert len(candidates_of(every)) == 16
    assert sum("phi-2" in r.candidates for r in every) == ALPACA_INSTRUCTIONS - 2
    assert all(r.candidates["gpt4_1106_preview"].samples[0].quality == 1.5 for r in every)
    # several files given as separate specs pool the same way
    two = load_sources(
        [f"alpaca_eval:{folder / 'phi-2.json.gz'}", f"alpaca_eval:{folder / 'claude-2.1.json.gz'}"]
    )
    assert len(two) == ALPACA_INSTRUCTIONS
    assert sum(len(r.candidates) for r in two) == ALPACA_INSTRUCTIONS * 3 - 2


def test_gsm8k_join_gives_seven_open_models_against_gpt4(gsm8k_join: list) -> None:
    assert len(gsm8k_join) == GSM8K_QUESTIONS
    for record in gsm8k_join:
        assert len(record.candidates) == OPEN_MODELS + 2
        assert GPT4 in record.candidates
        assert sum(len(o.samples) == 10 for o in record.candidates.values()) == OPEN_MODELS


def test_mmlu_join_matches_all_prompts(public_data: Path, mmlu_routellm: list) -> None:
    multisample = load_source(f"multisample:{public_data / 'multisample' / 'mmlu_train.json'}")
    records = merge_sources([multisample, mmlu_routellm])
    # every multisample prompt matches (the 3 with a "nan" option too); the other RouteLLM rows go
    assert len(records) == MMLU_QUESTIONS < len(mmlu_routellm)
    assert all(GPT4 in r.candidates and len(r.candidates) == OPEN_MODELS + 2 for r in records)


def test_normalize_query() -> None:
    assert normalize_query("  What\n is\t2+2?  ") == "What is 2+2?"
    assert normalize_query("Pick one\nA. nan\nB. 2\nAnswer:") == "Pick one A. None B. 2"
    assert normalize_query("banana split") == "banana split"


def test_merge_keeps_only_shared_queries(gsm8k_join: list) -> None:
    first = gsm8k_join[:10]
    second = gsm8k_join[5:20]
    merged = merge_sources([first, second])
    assert [r.id for r in merged] == [r.id for r in gsm8k_join[5:10]]


def test_bad_specs_and_files(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="FORMAT:PATH"):
        parse_source("csv:/x.csv")
    assert parse_source("data/out.jsonl")[0] == "jsonl"
    with pytest.raises(FileNotFoundError):
        load_source(f"multisample:{tmp_path / 'absent.json'}")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"question": "q", "scores": {"m": "x"}}]), encoding="utf-8")
    with pytest.raises(DataFormatError, match="not a number"):
        import_multisample(bad)
    csv_file = tmp_path / "r.csv"
    csv_file.write_text("prompt,m\nhello,maybe\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="line 2"):
        import_routellm(csv_file)
