"""Tools, an agent with a real tool, and LlamaIndex instrumentation through BestRouteLLM.

The small local model is made dependable the way one would in production: the tool call is
forced (``tool_choice``), which prefills the call's opening, and the tool's description shows
its arguments by example (without it SmolLM2-135M copies the JSON schema as the arguments).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, ToolCallBlock
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import LLMChatEndEvent, LLMChatStartEvent
from llama_index.core.instrumentation.span_handlers import SimpleSpanHandler
from llama_index.core.tools import FunctionTool

from bestroute.scoring.base import VerifierScorer

pytestmark = pytest.mark.slow  # real local models (SmolLM2, MiniLM)


def recording_multiply() -> tuple[Callable[[int, int], int], list[tuple[int, int]]]:
    calls: list[tuple[int, int]] = []

    def multiply(a: int, b: int) -> int:
        """Multiply two integers a and b, for example {"a": 2, "b": 3}."""
        calls.append((a, b))
        return a * b

    return multiply, calls


def has_tool_call(query: str, response: str) -> float:
    """A verifier for tool use: a response that calls a tool beats one that does not."""
    return 1.0 if '"name": "multiply"' in response else 0.0


def test_chat_with_tools_gives_every_candidate_the_tools(make_llm: Any, pool: Any) -> None:
    multiply, _ = recording_multiply()
    llm = make_llm(pool.n3, scorer=VerifierScorer(has_tool_call))
    response = llm.chat_with_tools(
        [FunctionTool.from_defaults(fn=multiply)],
        user_msg="What is 6 times 7?",
        tool_choice="multiply",
        seed=0,
    )
    trace = response.raw["bestroute"]
    assert trace["arm"] == f"{pool.cheap}@3"
    samples = trace["attempts"][0]["samples"]
    # every candidate got the tool, and its call is part of what the scorer read
    assert len(samples) == 3
    assert all('"name": "multiply"' in sample["text"] for sample in samples)
    assert trace["scores"] == [1.0, 1.0, 1.0]
    # the chosen message carries its tool call, read back by the LLM that wrote it
    [call] = llm.get_tool_calls_from_response(response)
    assert call.tool_name == "multiply"
    chosen = samples[trace["selected"]]["metadata"]["tool_calls"][0]
    assert call.tool_kwargs == chosen["tool_kwargs"]
    assert any(isinstance(block, ToolCallBlock) for block in response.message.blocks)


def test_predict_and_call_runs_the_real_tool(make_llm: Any, pool: Any) -> None:
    multiply, calls = recording_multiply()
    llm = make_llm(pool.n1)
    output = llm.predict_and_call(
        [FunctionTool.from_defaults(fn=multiply)],
        user_msg="What is 6 times 7?",
        tool_choice="multiply",
    )
    assert len(calls) == 1
    a, b = calls[0]
    assert output.response == str(a * b)
    assert output.sources[0].tool_name == "multiply"


def test_no_tool_call_is_an_error_only_when_asked(make_llm: Any, pool: Any) -> None:
    llm = make_llm(pool.n1)
    response = llm.chat([ChatMessage(role="user", content="Say hi.")])
    assert llm.get_tool_calls_from_response(response, error_on_no_tool_call=False) == []
    with pytest.raises(ValueError, match="0 tool calls"):
        llm.get_tool_calls_from_response(response)


async def test_function_agent_with_a_real_tool_completes(make_llm: Any, pool: Any) -> None:
    multiply, calls = recording_multiply()
    agent = FunctionAgent(
        tools=[FunctionTool.from_defaults(fn=multiply, return_direct=True)],
        llm=make_llm(pool.n1),
        initial_tool_choice="multiply",
        system_prompt="You multiply numbers with the multiply tool.",
    )
    output = await asyncio.wait_for(agent.run(user_msg="What is 6 times 7?"), timeout=600)
    assert len(calls) == 1
    a, b = calls[0]
    assert output.response.content == str(a * b)
    assert [c.tool_name for c in output.tool_calls] == ["multiply"]


class _Recorder(BaseEventHandler):
    events: list[BaseEvent]

    @classmethod
    def class_name(cls) -> str:
        return "Recorder"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self.events.append(event)


@pytest.fixture
def instrumented() -> Iterator[tuple[_Recorder, SimpleSpanHandler]]:
    root = get_dispatcher()
    recorder, spans = _Recorder(events=[]), SimpleSpanHandler()
    root.add_event_handler(recorder)
    root.add_span_handler(spans)
    try:
        yield recorder, spans
    finally:
        root.event_handlers.remove(recorder)
        root.span_handlers.remove(spans)


def test_instrumentation_sees_the_routed_call_and_the_sampled_call_inside_it(
    make_llm: Any, pool: Any, instrumented: tuple[_Recorder, SimpleSpanHandler]
) -> None:
    recorder, spans = instrumented
    response = make_llm(pool.n1).chat([ChatMessage(role="user", content="Name a river.")])
    chat_events = [
        (type(e).__name__, e.span_id.split("-")[0] if e.span_id else None)
        for e in recorder.events
        if isinstance(e, LLMChatStartEvent | LLMChatEndEvent)
    ]
    assert chat_events == [
        ("LLMChatStartEvent", "BestRouteLLM.chat"),
        ("LLMChatStartEvent", "TransformersLLM.achat"),
        ("LLMChatEndEvent", "TransformersLLM.achat"),
        ("LLMChatEndEvent", "BestRouteLLM.chat"),
    ]
    start = next(e for e in recorder.events if isinstance(e, LLMChatStartEvent))
    assert start.model_dict["class_name"] == "BestRouteLLM"
    end = [e for e in recorder.events if isinstance(e, LLMChatEndEvent)][-1]
    assert end.response is not None
    assert end.response.raw["bestroute"]["arm"] == response.raw["bestroute"]["arm"]
    # the sampled call's span is a child of the routed call's span
    by_id = {span.id_: span for span in spans.completed_spans}
    sampled = next(s for s in by_id.values() if s.id_.startswith("TransformersLLM.achat"))
    parents = []
    parent_id = sampled.parent_id
    while parent_id in by_id:
        parents.append(parent_id.split("-")[0])
        parent_id = by_id[parent_id].parent_id
    assert "BestRouteLLM.chat" in parents
