from __future__ import annotations

import pytest

from bestroute import (
    Arm,
    Candidate,
    HeuristicCounter,
    TiktokenCounter,
    TokenizerCounter,
    counter_for,
)
from bestroute.cost import estimate_arm_cost, is_openai_style


def test_openai_names_count_with_tiktoken_offline() -> None:
    counter = counter_for("gpt-4o-mini")
    assert isinstance(counter, TiktokenCounter)
    assert counter.count("Hello, world!") == 4


def test_unknown_names_use_the_documented_heuristic() -> None:
    counter = counter_for("my-local-model")
    assert isinstance(counter, HeuristicCounter)
    assert counter.count("x" * 9) == 3
    assert counter.count("") == 0


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gpt-4-1106-preview", True),
        ("openai/gpt-4o", True),
        ("o3-mini", True),
        ("mistral-7b", False),
    ],
)
def test_openai_style_detection(name: str, expected: bool) -> None:
    assert is_openai_style(name) is expected


def test_tokenizer_counter_uses_the_models_own_tokenizer() -> None:
    from transformers import AutoTokenizer

    from bestroute.local_models import minilm_path

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()), local_files_only=True)
    assert TokenizerCounter(tokenizer).count("routing queries") == len(
        tokenizer.encode("routing queries", add_special_tokens=False)
    )


def test_arm_cost_is_input_per_call_plus_n_expected_outputs() -> None:
    candidate = Candidate("m", None, input_price=1.0, output_price=2.0, expected_output_tokens=100)
    one_call = estimate_arm_cost(candidate, Arm("m", 3), input_tokens=1000)
    assert one_call == pytest.approx((1000 * 1.0 + 3 * 100 * 2.0) / 1e6)
    three_calls = estimate_arm_cost(candidate, Arm("m", 3), input_tokens=1000, calls=3)
    assert three_calls == pytest.approx((3000 * 1.0 + 3 * 100 * 2.0) / 1e6)
