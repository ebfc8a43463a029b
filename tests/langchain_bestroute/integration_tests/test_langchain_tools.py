"""Tools through ChatBestRoute on real local models: bound tools, structured output, an agent."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.outputs import LLMResult
from langchain_core.tools import tool
from pydantic import BaseModel, Field

from langchain_bestroute import ChatBestRoute

pytestmark = pytest.mark.slow  # real local models (SmolLM2, MiniLM)

REFERENCE = "smollm2-135m-greedy"


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers a and b."""
    return a * b


class Answer(BaseModel):
    """The answer to the user's question."""

    answer: str = Field(description="the answer")


class SampleRecorder(BaseCallbackHandler):
    """Records the sampled (child) calls: what they were invoked with and what they returned."""

    def __init__(self) -> None:
        self.params: dict[UUID, dict[str, Any]] = {}
        self.results: dict[UUID, LLMResult] = {}

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        if parent_run_id is not None:
            self.params[run_id] = kwargs.get("invocation_params", {})

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        if run_id in self.params:
            self.results[run_id] = response


@pytest.fixture
def greedy_reference(local_pool: Any) -> ChatBestRoute:
    """Threshold 1: no arm qualifies and the greedy reference endpoint answers (deterministic)."""
    return ChatBestRoute(**local_pool.params(threshold=1.0))


def test_every_sample_gets_the_tools_and_the_selected_call_comes_back(
    local_pool: Any, best_of_two_router: Any
) -> None:
    model = ChatBestRoute(**local_pool.params(router=best_of_two_router))
    recorder = SampleRecorder()
    message = model.bind_tools([multiply], tool_choice="multiply").invoke(
        "What is 12 times 7?", config={"callbacks": [recorder]}
    )
    routing = message.response_metadata["bestroute"]
    assert routing["n"] == 2 and len(routing["scores"]) == 2
    (params,) = recorder.params.values()  # n = 2 from one batched call
    assert [t["function"]["name"] for t in params["tools"]] == ["multiply"]
    assert params["tool_choice"] == "multiply"
    (result,) = recorder.results.values()
    samples = [generation.message for generation in result.generations[0]]
    assert len(samples) == 2
    selected = samples[routing["selected"]]
    assert message.tool_calls == selected.tool_calls
    assert all(call["name"] == "multiply" for s in samples for call in s.tool_calls)


def test_tool_calls_come_back_from_invoke_and_stream(greedy_reference: ChatBestRoute) -> None:
    bound = greedy_reference.bind_tools([multiply], tool_choice="any")
    message = bound.invoke("What is 12 times 7?")
    assert isinstance(message, AIMessage)
    assert [call["name"] for call in message.tool_calls] == ["multiply"]
    assert message.tool_calls[0]["args"] == {"a": 12, "b": 7}
    assert message.response_metadata["bestroute"]["arm"] == f"{REFERENCE}@1"
    full: AIMessageChunk | None = None
    for chunk in bound.stream("What is 12 times 7?"):
        full = chunk if full is None else full + chunk
    assert full is not None
    assert full.tool_calls == [{**message.tool_calls[0], "id": full.tool_calls[0]["id"]}]


def test_with_structured_output(greedy_reference: ChatBestRoute) -> None:
    structured = greedy_reference.with_structured_output(Answer, include_raw=True)
    result = structured.invoke("What is the capital of France?")
    assert isinstance(result["parsed"], Answer)
    assert result["parsed"].answer.strip()
    raw = result["raw"]
    assert raw.tool_calls[0]["name"] == "Answer"
    assert raw.usage_metadata["output_tokens"] > 0


def test_an_agent_with_a_real_tool_runs_to_completion(greedy_reference: ChatBestRoute) -> None:
    from langchain.agents import create_agent
    from langchain.agents.middleware import wrap_model_call

    @wrap_model_call
    def call_the_tool_then_answer(request: Any, handler: Any) -> Any:
        # A 135M model needs the call forced; once the tool has answered, it must reply in text.
        answered = any(isinstance(m, ToolMessage) for m in request.messages)
        return handler(request.override(tool_choice="none" if answered else "multiply"))

    agent = create_agent(greedy_reference, [multiply], middleware=[call_the_tool_then_answer])
    state = agent.invoke(
        {"messages": [HumanMessage("What is 12 times 7?")]}, config={"recursion_limit": 8}
    )
    messages = state["messages"]
    calls = [m for m in messages if isinstance(m, AIMessage) and m.tool_calls]
    results = [m for m in messages if isinstance(m, ToolMessage)]
    assert len(calls) == 1 and calls[0].tool_calls[0]["name"] == "multiply"
    assert [r.content for r in results] == ["84"]
    final = messages[-1]
    assert isinstance(final, AIMessage) and not final.tool_calls
    assert final.response_metadata["bestroute"]["arm"] == f"{REFERENCE}@1"
