"""A pool model that blocks *inside* async code cannot stall the other sync callers.

Sync calls (``run``, ``invoke``, ``stream``) share one long-lived event loop. A model whose
``async def`` blocks its thread (``time.sleep``, a sync client: here a wait on an event, which
blocks the same way and lets the test end it) stops that loop. The loop's heartbeat shows it:
the calls waiting on it move to a fresh loop, and the blocked caller gets a
``DeadlineExceededError`` naming the blocking function at its deadline. The checks are on order
(every other caller is answered while the blocker still blocks), not on timings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from bestroute import BestRoute
from bestroute.backends.function import FunctionBackend
from bestroute.failures import DeadlineExceededError
from bestroute.pool import Arm, Candidate, Pool
from langchain_bestroute import ChatBestRoute

BLOCK_S = 10.0


class CheapRouter:
    arms = (Arm("cheap", 1),)

    def predict(self, queries: Any) -> np.ndarray:
        return np.full((len(queries), 1), 0.9, dtype=np.float32)


class Blocker:
    """An async pool model that blocks its thread (and so its event loop) for up to BLOCK_S."""

    def __init__(self) -> None:
        self.blocking = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()

    async def __call__(self, messages: Any, **params: Any) -> str:
        self.blocking.set()
        self.release.wait(BLOCK_S)  # blocks the loop's thread, as time.sleep(10) would
        self.finished.set()
        return "late"


async def healthy(messages: Any, **params: Any) -> str:
    return "4"


def engine_over(cheap: Callable[..., Any], **options: Any) -> BestRoute:
    pool = Pool(
        [
            Candidate("cheap", FunctionBackend(cheap), 0.1, 0.1),
            Candidate("big", FunctionBackend(healthy), 5.0, 15.0),
        ],
        "big",
        max_n=1,
    )
    return BestRoute(pool, CheapRouter(), **options)


@pytest.fixture
def blocker() -> Iterator[Blocker]:
    blocker = Blocker()
    yield blocker
    blocker.release.set()  # free the blocked loop's thread whatever happened


def test_a_model_blocking_the_sync_loop_stalls_no_other_caller(
    blocker: Blocker, no_hang: Callable[[float], Any]
) -> None:
    blocked_engine = engine_over(blocker, sample_timeout_s=1.0, deadline_s=2.0)
    healthy_engine = engine_over(healthy)
    chat = ChatBestRoute(
        models={
            "cheap": (FakeListChatModel(responses=["4"]), 0.1, 0.1),
            "big": (FakeListChatModel(responses=["4"]), 5.0, 15.0),
        },
        router=CheapRouter(),
        reference="big",
    )
    outcome: dict[str, Any] = {}

    def blocked_caller() -> None:
        try:
            outcome["blocked"] = blocked_engine.run("What is 2 + 2?")
        except BaseException as error:  # checked below
            outcome["blocked"] = error
        outcome["blocked_returned_before_the_blocker_ended"] = not blocker.finished.is_set()

    with no_hang(120):
        thread = threading.Thread(target=blocked_caller)
        thread.start()
        assert blocker.blocking.wait(60)
        # submitted while the loop is blocked (before the stall is even noticed): moved
        assert healthy_engine.run("What is 3 + 1?").text == "4"
        assert not blocker.finished.is_set()
        # submitted after the stall was noticed: a fresh loop takes it; streams too
        assert str(chat.invoke("What is 3 + 1?").content) == "4"
        assert "".join(str(c.content) for c in chat.stream("What is 3 + 1?")) == "4"
        assert not blocker.finished.is_set()
        thread.join(60)
        assert not thread.is_alive()
    error = outcome["blocked"]
    assert isinstance(error, DeadlineExceededError), error
    assert "blocked" in str(error) and "__call__" in str(error)  # where the loop is blocked
    assert outcome["blocked_returned_before_the_blocker_ended"]
    blocker.release.set()
    assert blocker.finished.wait(60)
    # after the blocker ends, sync calls keep working
    assert healthy_engine.run("What is 3 + 1?").text == "4"


def test_a_sync_only_llamaindex_llm_is_run_off_the_loop(
    blocker: Blocker, no_hang: Callable[[float], Any]
) -> None:
    """A CustomLLM with only a sync ``complete`` inherits an ``achat`` that runs it on the
    event loop; the backend runs it in a worker thread, so its own caller falls back to the
    reference at the sample timeout and the other callers never wait for it."""
    from llama_index.core.base.llms.types import (
        ChatMessage,
        CompletionResponse,
        LLMMetadata,
    )
    from llama_index.core.llms import CustomLLM
    from llama_index.core.llms.callbacks import llm_completion_callback
    from llama_index.core.llms.mock import MockLLM

    from llamaindex_bestroute import BestRouteLLM

    class SyncOnly(CustomLLM):
        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(model_name="sync-only")

        @llm_completion_callback()
        def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
            blocker.blocking.set()
            blocker.release.wait(BLOCK_S)
            blocker.finished.set()
            return CompletionResponse(text="late")

        @llm_completion_callback()
        def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
            raise NotImplementedError

    def pool(cheap: Any) -> BestRouteLLM:
        return BestRouteLLM(
            models={"cheap": (cheap, 0.1, 0.1), "big": (MockLLM(max_tokens=2), 5.0, 15.0)},
            router=CheapRouter(),
            reference="big",
            sample_timeout_s=1.0,
        )

    blocked, other = pool(SyncOnly()), pool(MockLLM(max_tokens=2))
    messages = [ChatMessage(role="user", content="What is 2 + 2?")]
    outcome: dict[str, Any] = {}

    def blocked_caller() -> None:
        outcome["response"] = blocked.chat(messages)
        outcome["before_the_blocker_ended"] = not blocker.finished.is_set()

    with no_hang(120):
        thread = threading.Thread(target=blocked_caller)
        thread.start()
        assert blocker.blocking.wait(60)
        assert other.chat(messages).raw["bestroute"]["arm"] == "cheap@1"
        assert not blocker.finished.is_set()
        thread.join(60)
        assert not thread.is_alive()
    trace = outcome["response"].raw["bestroute"]
    assert [a["arm"] for a in trace["attempts"]] == ["cheap@1", "big@1"]
    assert "TimeoutError" in trace["attempts"][0]["errors"][0]
    assert outcome["before_the_blocker_ended"]
