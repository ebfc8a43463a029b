"""Load and secrets through the real HTTP stack (the test endpoint on 127.0.0.1, ``openai:``
members and LangChain's ``ChatOpenAI``).

* 500 concurrent ``ainvoke`` and 16 threads of ``invoke``: each caller gets its own answer, its
  own trace and exactly the usage the endpoint reported for its request (no cross-talk).
* An API key never appears in traces, logs, exceptions or their tracebacks, even when the
  endpoint echoes it back in its error message (as some providers do).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import traceback
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from bestroute import BestRoute
from bestroute.backends.openai_compatible import OpenAICompatibleBackend
from bestroute.errors import AllArmsFailedError
from bestroute.pool import Arm, Candidate, Pool
from tests.support.openai_endpoint import Fault, OpenAIEndpoint, ReceivedRequest, echo_backend
from tests.support.uvicorn_thread import serve_in_thread

SECRET = "sk-test-7f3a9c1e5b2d4f6a8c0e2b4d6f8a0c2e"


class Router:
    """Trusts cheap@1 only: every call is one request to ``cheap``."""

    arms = (Arm("cheap", 1),)

    def predict(self, queries: Any) -> np.ndarray:
        return np.full((len(queries), 1), 0.9, dtype=np.float32)


def expected_usage(question: str) -> tuple[int, int]:
    """What the endpoint's echo model reports: 4 characters per token of ``user: <q>`` read
    and ``Echo 0: <q>`` written."""
    return math.ceil(len(f"user: {question}") / 4), math.ceil(len(f"Echo 0: {question}") / 4)


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    endpoint = OpenAIEndpoint({"cheap": echo_backend(0.005), "big": echo_backend()})
    with serve_in_thread(endpoint.app) as url:
        yield url


def chat_bestroute(url: str) -> Any:
    from langchain_openai import ChatOpenAI

    from langchain_bestroute import ChatBestRoute

    def chat(model: str) -> Any:
        # Each ChatBestRoute gets its own async HTTP client: langchain-openai otherwise shares one
        # cached client per base URL across event loops, and a client first used on a loop that
        # has since closed (the previous test's) fails every call with "Connection error".
        return ChatOpenAI(
            model=model,
            base_url=f"{url}/v1",
            api_key="unused",
            max_retries=1,
            http_async_client=httpx.AsyncClient(),
        )

    return ChatBestRoute(
        models={"cheap": (chat("cheap"), 0.1, 0.1), "big": (chat("big"), 5.0, 15.0)},
        router=Router(),
        reference="big",
        timeout=60.0,
    )


def check_own_answer(question: str, message: Any) -> None:
    assert str(message.content) == f"Echo 0: {question}"
    trace = message.response_metadata["bestroute"]
    assert trace["arm"] == "cheap@1"
    read, written = expected_usage(question)
    assert message.usage_metadata["input_tokens"] == read
    assert message.usage_metadata["output_tokens"] == written


async def test_500_concurrent_ainvoke_each_get_their_own_answer_and_usage(echo_url: str) -> None:
    llm = chat_bestroute(echo_url)
    questions = [f"Question {i}: what is {i} + {i * 7 % 13}?" + "!" * (i % 9) for i in range(500)]
    messages = await asyncio.gather(*(llm.ainvoke(q) for q in questions))
    for question, message in zip(questions, messages, strict=True):
        check_own_answer(question, message)


def test_16_threads_of_invoke_each_get_their_own_answer_and_usage(echo_url: str) -> None:
    llm = chat_bestroute(echo_url)
    failures: list[BaseException] = []

    def caller(index: int) -> None:
        try:
            for round_ in range(4):
                question = f"Thread {index} round {round_}: name a colour" + "?" * index
                check_own_answer(question, llm.invoke(question))
        except BaseException as error:  # reported below, in the test's thread
            failures.append(error)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    assert not failures, failures[0]


async def test_engine_traces_of_concurrent_calls_do_not_mix(echo_url: str) -> None:
    members = {
        name: OpenAICompatibleBackend(name, base_url=f"{echo_url}/v1", api_key_env=None)
        for name in ("cheap", "big")
    }
    pool = Pool(
        [Candidate("cheap", members["cheap"], 0.1, 0.1), Candidate("big", members["big"], 5, 15)],
        "big",
        max_n=1,
    )
    engine = BestRoute(pool, Router())
    questions = [f"q{i} " + "x" * i for i in range(200)]
    results = await asyncio.gather(*(engine.arun(q) for q in questions))
    for question, result in zip(questions, results, strict=True):
        assert result.trace.decision.query == question
        assert result.text == f"Echo 0: {question}"
        assert (result.trace.input_tokens, result.trace.output_tokens) == expected_usage(question)


# ------------------------------------------------------------------ secrets


@pytest.fixture
def leaky_url() -> Iterator[str]:
    """An endpoint that rejects every request and echoes the bearer token in its message."""

    def echo_key(request: ReceivedRequest) -> Fault:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        return Fault(status=401, message=f"Incorrect API key provided: {token}")

    endpoint = OpenAIEndpoint({"cheap": echo_backend(), "big": echo_backend()}, fault=echo_key)
    with serve_in_thread(endpoint.app) as url:
        yield url


def test_api_keys_never_reach_traces_logs_or_exceptions(
    leaky_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("BESTROUTE_TEST_KEY", SECRET)
    members = {
        name: OpenAICompatibleBackend(
            name, base_url=f"{leaky_url}/v1", api_key_env="BESTROUTE_TEST_KEY"
        )
        for name in ("cheap", "big")
    }
    pool = Pool(
        [Candidate("cheap", members["cheap"], 0.1, 0.1), Candidate("big", members["big"], 5, 15)],
        "big",
        max_n=1,
    )
    engine = BestRoute(pool, Router(), max_retries=1)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AllArmsFailedError) as caught:
        engine.run("What is 2 + 2?")
    error = caught.value
    seen = [
        str(error),
        repr(error),
        "".join(traceback.format_exception(error)),
        json.dumps(error.trace.to_dict(), default=str),
        caplog.text,
        repr(members),
        *(f"{key} {exc!r} {exc}" for key, exc in error.errors),
    ]
    assert "HTTP 401" in str(error)  # the reason is there, without the key
    for text in seen:
        assert SECRET not in text
        assert SECRET[8:] not in text
