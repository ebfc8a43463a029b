"""LangChainBackend and ChatTransformers on the real local SmolLM2 model."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_core.tools import tool

from bestroute.cost import TiktokenCounter
from bestroute.errors import ConfigurationError
from bestroute.types import Sample, SampleChunk
from langchain_bestroute import ChatModelTokenCounter, ChatTransformers, LangChainBackend
from langchain_bestroute.counting import token_counter_for

pytestmark = pytest.mark.slow  # real local models (SmolLM2, MiniLM)

HELLO = [HumanMessage("Say hello.")]


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers a and b."""
    return a * b


async def test_native_n_draws_all_samples_from_one_call(local_pool: Any) -> None:
    backend = LangChainBackend(local_pool.cheap)
    assert backend.supports_n  # ChatTransformers returns n generations from one call
    samples = await backend.agenerate(HELLO, 2, max_tokens=8)
    assert len(samples) == 2
    for sample in samples:
        assert isinstance(sample.message, AIMessage)
        assert sample.text == sample.message.content
        usage = sample.message.usage_metadata
        assert (sample.input_tokens, sample.output_tokens) == (
            usage["input_tokens"],
            usage["output_tokens"],
        )
        assert 0 < sample.output_tokens <= 8 + 1  # the end-of-sequence token counts


async def test_without_native_n_each_sample_is_its_own_call(local_pool: Any) -> None:
    backend = LangChainBackend(local_pool.cheap, supports_n=False)
    samples = await backend.agenerate(HELLO, 2, max_tokens=8)
    assert len(samples) == 2
    assert all(s.input_tokens == samples[0].input_tokens for s in samples)


async def test_tools_are_bound_on_the_pool_model_and_scored_with_their_calls(
    local_pool: Any,
) -> None:
    backend = LangChainBackend(local_pool.reference)
    (sample,) = await backend.agenerate(
        [HumanMessage("What is 12 times 7?")],
        1,
        tools=[multiply],
        tool_choice="multiply",
    )
    assert [call["name"] for call in sample.message.tool_calls] == ["multiply"]
    summary = json.loads(sample.text.splitlines()[-1])
    assert summary == [{"name": "multiply", "arguments": sample.message.tool_calls[0]["args"]}]
    with pytest.raises(ConfigurationError, match="without tools"):
        await backend.agenerate(HELLO, 1, tool_choice="any")


async def test_astream_yields_chunks_then_the_sample(local_pool: Any) -> None:
    backend = LangChainBackend(local_pool.reference)
    items = [item async for item in backend.astream(HELLO, max_tokens=8)]
    chunks, final = items[:-1], items[-1]
    assert len(chunks) >= 2 and all(isinstance(c, SampleChunk) for c in chunks)
    assert all(isinstance(c.message, AIMessageChunk) for c in chunks)
    assert isinstance(final, Sample)
    assert final.text == "".join(c.text for c in chunks)
    assert final.output_tokens > 0 and final.input_tokens > 0


async def test_chat_transformers_generates_n_candidates_in_one_call(local_pool: Any) -> None:
    result = await local_pool.cheap.agenerate([HELLO], n=3, max_tokens=6)
    assert len(result.generations[0]) == 3
    assert result.llm_output["model_name"] == local_pool.cheap.model_name
    message = local_pool.reference.invoke(HELLO, max_tokens=4)  # the sync path
    assert message.content and message.usage_metadata["output_tokens"] <= 4 + 1


def test_token_counters_are_offline_and_never_zero(local_pool: Any) -> None:
    counter = token_counter_for(local_pool.cheap)
    assert isinstance(counter, ChatModelTokenCounter)
    text = "Hello there, how are you?"
    assert counter.count(text) == len(
        local_pool.backend.tokenizer.encode(text, add_special_tokens=False)
    )
    named_like_openai = ChatTransformers(backend=local_pool.backend, model="gpt-4o-mini")
    assert isinstance(token_counter_for(named_like_openai), TiktokenCounter)
