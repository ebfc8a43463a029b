from __future__ import annotations

import pytest

from bestroute.cost import (
    HeuristicCounter,
    TiktokenCounter,
    TokenizerCounter,
    counter_for,
    dollar_cost,
    is_openai_style,
)


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


def test_dollars_are_tokens_times_price_per_million() -> None:
    assert dollar_cost(1_000_000, 500_000, 2.0, 4.0) == pytest.approx(2.0 + 2.0)
    assert dollar_cost(0, 0, 5.0, 15.0) == 0.0
