"""LlamaIndex: ``astream_chat`` is bounded by the sample timeout, and the routed call's usage is
counted once, even when the pool LLMs were built while
``Settings.callback_manager`` held the same ``TokenCountingHandler`` (they inherit it).

Before (issue #13): n = 1 recorded 2x the tokens used, n = 3 in a query engine 2x as well.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core import Document, Settings, SummaryIndex
from llama_index.core.base.llms.types import ChatMessage, ChatResponse
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.llms.mock import MockLLM

from bestroute.cost import ensure_offline_tiktoken_cache
from bestroute.pool import Arm
from bestroute.scoring.base import VerifierScorer
from llamaindex_bestroute import BestRouteLLM

CHEAP, REFERENCE = "mock-cheap", "mock-reference"


class Router:
    def __init__(self, n: int) -> None:
        self.arms = tuple(Arm(CHEAP, k) for k in (1, 2, 3))
        self.n = n

    def predict(self, queries: Any) -> Any:
        import numpy as np

        row = [0.9 if arm.n == self.n else 0.1 for arm in self.arms]
        return np.tile(np.asarray(row, dtype=np.float32), (len(queries), 1))


@pytest.fixture
def counter() -> Iterator[TokenCountingHandler]:
    """A TokenCountingHandler in Settings.callback_manager *before* the pool LLMs are built."""
    ensure_offline_tiktoken_cache()
    handler = TokenCountingHandler()
    previous = Settings._callback_manager
    Settings.callback_manager = CallbackManager([handler])
    try:
        yield handler
    finally:
        Settings._callback_manager = previous


def routed_llm(n: int) -> BestRouteLLM:
    models = {CHEAP: (MockLLM(max_tokens=5), 0.1, 0.4), REFERENCE: (MockLLM(max_tokens=8), 5, 15)}
    assert Settings.callback_manager.handlers[0] in models[CHEAP][0].callback_manager.handlers
    scorer = VerifierScorer(lambda query, response: float(len(response)))
    return BestRouteLLM(
        models, Router(n), scorer=scorer, callback_manager=Settings.callback_manager
    )


def test_n1_chat_is_counted_once(counter: TokenCountingHandler) -> None:
    llm = routed_llm(1)
    response = llm.chat([ChatMessage(role="user", content="Say hello to the sea.")])
    usage = response.raw["usage"]
    assert response.raw["bestroute"]["arm"] == f"{CHEAP}@1"
    assert len(counter.llm_token_counts) == 1
    assert counter.prompt_llm_token_count == usage["prompt_tokens"]
    assert counter.completion_llm_token_count == usage["completion_tokens"] > 0


def test_n3_in_a_query_engine_is_counted_once(counter: TokenCountingHandler) -> None:
    llm = routed_llm(3)
    index = SummaryIndex.from_documents([Document(text="The sea is salty and wide.")])
    response = index.as_query_engine(llm=llm).query("What is the sea like?")
    [event] = [e for e in counter.llm_token_counts]
    assert str(response)
    assert len(counter.llm_token_counts) == 1
    assert counter.prompt_llm_token_count == event.prompt_token_count > 0
    assert counter.completion_llm_token_count == event.completion_token_count > 0
    # the one event is the routed call's summed usage over the 3 samples
    samples = 3
    assert counter.completion_llm_token_count >= samples


class SilentStreamLLM(MockLLM):
    """A LlamaIndex LLM whose stream accepts the request and then sends nothing for 30 s."""

    async def astream_chat(self, messages: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        async def silent() -> Any:
            await asyncio.sleep(30.0)
            yield ChatResponse(message=ChatMessage(role="assistant", content="late"), delta="late")

        return silent()


async def test_astream_chat_falls_back_at_the_sample_timeout() -> None:
    models = {CHEAP: (SilentStreamLLM(max_tokens=5), 0.1, 0.4), REFERENCE: (MockLLM(), 5, 15)}
    scorer = VerifierScorer(lambda query, response: 1.0)
    llm = BestRouteLLM(models, Router(1), scorer=scorer, sample_timeout_s=0.5)
    started = time.monotonic()
    stream = await llm.astream_chat([ChatMessage(role="user", content="Say hi.")])
    responses = [response async for response in stream]
    assert time.monotonic() - started < 15.0  # liveness: not the stream's 30 s silence
    trace = responses[-1].raw["bestroute"]
    assert trace["arm"] == f"{REFERENCE}@1"
    assert trace["attempts"][0]["errors"] == ["TimeoutError: the sample did not arrive in time"]
