"""LlamaIndexBackend over real local LlamaIndex LLMs."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse
from llama_index.core.tools import FunctionTool

from bestroute.errors import ConfigurationError
from bestroute.types import Sample, SampleChunk
from llamaindex_bestroute import LlamaIndexBackend

pytestmark = pytest.mark.slow  # real local models (SmolLM2, MiniLM)


def multiply(a: int, b: int) -> int:
    """Multiply two integers and return the product."""
    return a * b


async def test_agenerate_draws_n_samples_in_one_native_call(
    pool_llms: dict[str, Any], pool: Any
) -> None:
    backend = LlamaIndexBackend(pool_llms[pool.cheap])
    assert backend.supports_n  # TransformersLLM.achat_samples: one batched generate call
    messages = [ChatMessage(role="user", content="Name a fruit.")]
    samples = await backend.agenerate(messages, 2)
    assert len(samples) == 2
    for sample in samples:
        assert isinstance(sample, Sample)
        assert isinstance(sample.message, ChatResponse)
        usage = sample.message.raw["usage"]
        assert sample.input_tokens == usage["prompt_tokens"] > 0
        assert sample.output_tokens == usage["completion_tokens"] > 0
        assert sample.text == sample.message.message.content
        assert sample.metadata["model_name"] == pool.cheap


async def test_tool_calls_are_in_the_scoring_text(pool_llms: dict[str, Any], pool: Any) -> None:
    backend = LlamaIndexBackend(pool_llms[pool.cheap])
    tool = FunctionTool.from_defaults(fn=multiply)
    messages = [ChatMessage(role="user", content="What is 6 times 7?")]
    [sample] = await backend.agenerate(messages, 1, tools=[tool], tool_choice="multiply")
    calls = sample.metadata["tool_calls"]
    assert [call["tool_name"] for call in calls] == ["multiply"]
    assert '"name": "multiply"' in sample.text  # content + calls as JSON: what scorers read


async def test_astream_yields_deltas_then_the_complete_sample(
    pool_llms: dict[str, Any], pool: Any
) -> None:
    backend = LlamaIndexBackend(pool_llms[pool.cheap])
    items = [
        item
        async for item in backend.astream(
            [ChatMessage(role="user", content="Say hello to the world.")]
        )
    ]
    chunks = [item for item in items if isinstance(item, SampleChunk)]
    final = items[-1]
    assert isinstance(final, Sample)
    assert len(chunks) >= 2
    assert "".join(chunk.text for chunk in chunks) == final.message.message.content
    assert final.output_tokens > 0


async def test_completion_only_llm_is_called_through_acomplete(
    smol_backend: Any, completion_llm_class: Any
) -> None:
    llm = completion_llm_class(smol_backend, model_name="smollm2-completion")
    backend = LlamaIndexBackend(llm)
    assert not backend.supports_n
    [sample] = await backend.agenerate("Complete: The sky is", completion=True)
    assert isinstance(sample.message, CompletionResponse)
    assert sample.text == sample.message.text
    # no usage reported: counted with the fallback counter for an unknown model name
    assert sample.input_tokens > 0


async def test_tools_need_a_function_calling_llm(
    smol_backend: Any, completion_llm_class: Any
) -> None:
    backend = LlamaIndexBackend(completion_llm_class(smol_backend))
    tool = FunctionTool.from_defaults(fn=multiply)
    with pytest.raises(ConfigurationError, match="not a function-calling LLM"):
        await backend.agenerate([ChatMessage(role="user", content="6 times 7?")], tools=[tool])
