"""``bestroute serve`` called by real clients: openai, LangChain's ChatOpenAI, LlamaIndex's
OpenAILike; streaming and not. The pool members are openai clients of the project's endpoint."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bestroute.cost import HeuristicCounter
from bestroute.demo import CHEAP, REFERENCE

QUESTION = "What is 7 plus 5?"
COUNT = HeuristicCounter().count


def expected_usage(details: dict[str, Any], question: str) -> tuple[int, int]:
    """What every sample drawn cost in tokens: the echo endpoint bills ``user: q`` per call and
    ``Echo i: q`` per sample."""
    calls = sum(attempt["calls"] for attempt in details["attempts"])
    samples = sum(attempt["samples"] for attempt in details["attempts"])
    return calls * COUNT(f"user: {question}"), samples * COUNT(f"Echo 0: {question}")


def test_openai_client_gets_the_routed_answer_with_summed_usage(shared_server: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{shared_server}/v1", api_key="unused", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="bestroute", messages=[{"role": "user", "content": QUESTION}]
    )
    completion = raw.parse()
    details = completion.model_extra["bestroute"]  # type: ignore[index]
    assert completion.model == details["model"] in (CHEAP, REFERENCE)
    assert completion.choices[0].message.content.endswith(f": {QUESTION}")
    assert completion.choices[0].finish_reason == "stop"
    assert details["n"] == int(details["arm"].rsplit("@", 1)[1])
    assert len(details["scores"]) == (details["n"] if details["n"] > 1 else 0)
    assert set(details["probabilities"]) == {f"{CHEAP}@{n}" for n in range(1, 5)}
    assert details["actual_cost"] > 0 and details["reference_estimated_cost"] > 0
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (
        expected_usage(details, QUESTION)
    )
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    headers = raw.headers
    assert headers["x-bestroute-arm"] == details["arm"]
    assert headers["x-bestroute-model"] == completion.model
    assert headers["x-bestroute-n"] == str(details["n"])
    assert float(headers["x-bestroute-actual-cost"]) == pytest.approx(
        details["actual_cost"], abs=1e-8
    )
    assert float(headers["x-bestroute-threshold"]) == pytest.approx(details["threshold"], abs=1e-5)


def test_openai_client_streams_with_usage_and_routing_details(shared_server: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{shared_server}/v1", api_key="unused", max_retries=0)
    with client.chat.completions.with_streaming_response.create(
        model="bestroute",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    ) as response:
        routed_arm = response.headers["x-bestroute-arm"]
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.endswith(f": {QUESTION}")
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finish) == 1 and finish[0].choices[0].finish_reason == "stop"
    details = finish[0].model_extra["bestroute"]  # type: ignore[index]
    assert details["routed_arm"] == routed_arm
    usage = chunks[-1].usage
    assert usage is not None and not chunks[-1].choices
    assert (usage.prompt_tokens, usage.completion_tokens) == expected_usage(details, QUESTION)


def test_langchain_chat_openai_invokes_and_streams(shared_server: str) -> None:
    pytest.importorskip("langchain_openai")
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(
        model="bestroute", base_url=f"{shared_server}/v1", api_key="unused", max_retries=0
    )
    message = llm.invoke(QUESTION)
    assert str(message.content).endswith(f": {QUESTION}")
    assert message.response_metadata["model_name"] in (CHEAP, REFERENCE)
    assert message.usage_metadata is not None and message.usage_metadata["input_tokens"] > 0
    streamed = None
    for chunk in llm.stream(QUESTION, stream_usage=True):
        streamed = chunk if streamed is None else streamed + chunk
    assert streamed is not None and str(streamed.content).endswith(f": {QUESTION}")
    assert streamed.usage_metadata is not None
    assert streamed.usage_metadata["output_tokens"] >= COUNT(f"Echo 0: {QUESTION}")


async def test_langchain_chat_openai_async(shared_server: str) -> None:
    pytest.importorskip("langchain_openai")
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model="bestroute", base_url=f"{shared_server}/v1", api_key="unused")
    message = await llm.ainvoke([("system", "Be brief."), ("human", QUESTION)])
    assert str(message.content).endswith(f": {QUESTION}")
    pieces = [chunk.content async for chunk in llm.astream(QUESTION)]
    assert "".join(str(p) for p in pieces).endswith(f": {QUESTION}")


def test_llamaindex_openai_like_chats_completes_and_streams(shared_server: str) -> None:
    pytest.importorskip("llama_index.llms.openai_like")
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.openai_like import OpenAILike

    llm = OpenAILike(
        model="bestroute",
        api_base=f"{shared_server}/v1",
        api_key="unused",
        is_chat_model=True,
        context_window=2048,
        max_retries=0,
    )
    response = llm.chat([ChatMessage(role="user", content=QUESTION)])
    assert str(response.message.content).endswith(f": {QUESTION}")
    raw = response.raw
    assert raw is not None
    details = raw.model_extra["bestroute"] if hasattr(raw, "model_extra") else raw["bestroute"]
    assert details["model"] in (CHEAP, REFERENCE)
    streamed = list(llm.stream_chat([ChatMessage(role="user", content=QUESTION)]))
    assert streamed[-1].message.content.endswith(f": {QUESTION}")
    assert str(llm.complete(QUESTION)).endswith(f": {QUESTION}")


def test_models_and_health(shared_server: str) -> None:
    models = httpx.get(f"{shared_server}/v1/models").json()
    assert [m["id"] for m in models["data"]] == ["bestroute"]
    assert models["data"][0]["bestroute"]["candidates"] == [CHEAP, REFERENCE]
    health = httpx.get(f"{shared_server}/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def _tool_caller() -> Any:
    """A backend that answers every request with a call of the tool it was given."""
    from bestroute.backends.function import FunctionBackend
    from bestroute.types import Sample

    async def generate(messages: Any, **params: Any) -> Sample:
        name = params["tools"][0]["function"]["name"]
        call = {
            "id": "call_1",
            "type": "function",
            "function": {"name": name, "arguments": '{"city": "Paris"}'},
        }
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        return Sample(f'[{{"name": "{name}"}}]', 10, 8, message=message)

    return FunctionBackend(generate)


@pytest.fixture(scope="module")
def tool_server(echo_engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from bestroute.data.pool_config import load_pool_config
    from bestroute.engine import BestRoute
    from bestroute.serve import RoutingService, create_app
    from tests.core.serve.conftest import SETTINGS
    from tests.support.openai_endpoint import OpenAIEndpoint
    from tests.support.pools import write_demo_pool
    from tests.support.uvicorn_thread import serve_in_thread

    endpoint = OpenAIEndpoint({"cheap": _tool_caller(), "big": _tool_caller()})
    with serve_in_thread(endpoint.app) as endpoint_url:
        pool = load_pool_config(
            write_demo_pool(tmp_path_factory.mktemp("tools") / "pool.yaml", endpoint_url)
        )
        engine = BestRoute(pool, echo_engine.router, echo_engine.scorer, echo_engine.policy)
        with serve_in_thread(create_app(RoutingService(engine, SETTINGS))) as url:
            yield url


def test_tool_calls_pass_through_json_and_stream(tool_server: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{tool_server}/v1", api_key="unused", max_retries=0)
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    completion = client.chat.completions.create(
        model="bestroute", messages=messages, tools=[WEATHER_TOOL]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    assert choice.message.tool_calls[0].function.name == "get_weather"
    assert choice.message.tool_calls[0].function.arguments == '{"city": "Paris"}'
    chunks = list(
        client.chat.completions.create(
            model="bestroute",
            messages=messages,
            tools=[WEATHER_TOOL],
            stream=True,
            extra_body={"bestroute": {"threshold": 0.0}},  # n = 1: the member's own stream
        )
    )
    calls = [
        c.choices[0].delta.tool_calls for c in chunks if c.choices and c.choices[0].delta.tool_calls
    ]
    assert len(calls) == 1 and calls[0][0].function.name == "get_weather"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


def test_langchain_agents_get_tool_calls_from_the_server(tool_server: str) -> None:
    pytest.importorskip("langchain_openai")
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model="bestroute", base_url=f"{tool_server}/v1", api_key="unused")
    message = llm.bind_tools([WEATHER_TOOL]).invoke("What is the weather in Paris?")
    assert message.tool_calls == [
        {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1", "type": "tool_call"}
    ]
