"""Pool members used from several event loops: bestroute's shared sync loop and the user's own.

``invoke``/``chat`` run on bestroute's long-lived sync loop, ``ainvoke``/``achat`` on whatever
loop the user runs (a new one per ``asyncio.run``). Default ``ChatOpenAI`` entries share one
cached async HTTP client per base URL across loops, and LlamaIndex's OpenAI LLMs keep the first
async client they make: a pooled connection opened on one loop fails on the next ("Connection
error."). Before the adapters' backends gave each loop its own client, every switch of loop cost
the cheap model a failed call and the reference answered (LlamaIndex: every arm failed). Here
each call, in any order of paths, is answered by the cheap model with one request and no error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from bestroute.pool import Arm
from tests.support.openai_endpoint import OpenAIEndpoint, echo_backend
from tests.support.uvicorn_thread import serve_in_thread

QUESTION = "What is 2 + 2?"
PATHS = ("sync", "async", "sync stream", "async stream") * 2


class CheapRouter:
    """Trusts cheap@1: every call is one request to ``cheap``."""

    arms = (Arm("cheap", 1),)

    def predict(self, queries: Any) -> np.ndarray:
        return np.full((len(queries), 1), 0.9, dtype=np.float32)


def answered_by_cheap_on_every_path(
    server: OpenAIEndpoint,
    calls: dict[str, Callable[[], Any]],
    trace_of: Callable[[Any], dict[str, Any]],
) -> None:
    """Each of :data:`PATHS` in turn: one request, to ``cheap``, answered with no error."""
    for path in PATHS:
        server.received.clear()
        trace = trace_of(calls[path]())
        assert [(a["arm"], a["errors"]) for a in trace["attempts"]] == [("cheap@1", [])], path
        assert [r.body["model"] for r in server.received] == ["cheap"], path


@pytest.fixture(scope="module")
def endpoint() -> Iterator[tuple[OpenAIEndpoint, str]]:
    server = OpenAIEndpoint({"cheap": echo_backend(), "big": echo_backend()})
    with serve_in_thread(server.app) as url:
        yield server, url


def test_default_chat_openai_entries_answer_on_every_loop(
    endpoint: tuple[OpenAIEndpoint, str],
) -> None:
    from langchain_openai import ChatOpenAI

    from langchain_bestroute import ChatBestRoute

    server, url = endpoint

    def chat(model: str) -> Any:  # no http_async_client: langchain-openai's shared default one
        return ChatOpenAI(model=model, base_url=f"{url}/v1", api_key="unused", max_retries=0)

    llm = ChatBestRoute(
        models={"cheap": (chat("cheap"), 0.1, 0.1), "big": (chat("big"), 5.0, 15.0)},
        router=CheapRouter(),
        reference="big",
        timeout=10.0,
    )

    async def astream() -> Any:
        return [chunk async for chunk in llm.astream(QUESTION)][-1]

    calls = {
        "sync": lambda: llm.invoke(QUESTION),
        "async": lambda: asyncio.run(llm.ainvoke(QUESTION)),
        "sync stream": lambda: list(llm.stream(QUESTION))[-1],
        "async stream": lambda: asyncio.run(astream()),
    }
    answered_by_cheap_on_every_path(
        server, calls, lambda message: message.response_metadata["bestroute"]
    )


def test_default_llamaindex_openai_llms_answer_on_every_loop(
    endpoint: tuple[OpenAIEndpoint, str],
) -> None:
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.openai_like import OpenAILike

    from llamaindex_bestroute import BestRouteLLM

    server, url = endpoint

    def llm_of(model: str) -> Any:  # reuse_client=True (the default): one cached AsyncOpenAI
        return OpenAILike(
            model=model, api_base=f"{url}/v1", api_key="unused", is_chat_model=True, max_retries=0
        )

    llm = BestRouteLLM(
        models={"cheap": (llm_of("cheap"), 0.1, 0.1), "big": (llm_of("big"), 5.0, 15.0)},
        router=CheapRouter(),
        reference="big",
        sample_timeout_s=10.0,
    )
    messages = [ChatMessage(role="user", content=QUESTION)]

    async def astream() -> Any:
        return [response async for response in await llm.astream_chat(messages)][-1]

    calls = {
        "sync": lambda: llm.chat(messages),
        "async": lambda: asyncio.run(llm.achat(messages)),
        "sync stream": lambda: list(llm.stream_chat(messages))[-1],
        "async stream": lambda: asyncio.run(astream()),
    }
    answered_by_cheap_on_every_path(server, calls, lambda response: response.raw["bestroute"])
