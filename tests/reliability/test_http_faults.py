"""Faults through a real HTTP stack: the project's OpenAI-compatible test endpoint on 127.0.0.1
misbehaves for the ``cheap`` model (429 with Retry-After, 500, a hang, malformed JSON, a
connection dropped mid-stream) and serves ``big`` well, called through the real ``openai``
client (``openai:`` pool members) and LangChain's ``ChatOpenAI`` (ChatBestRoute pool entries).

The router trusts every cheap arm, so the plan is cheap@1..@4 then the reference. Each fault
must degrade to the reference with the reason in the trace, and with the calls to the cheap
model bounded (counted at the endpoint). Elapsed-time bounds are liveness checks against the
30 s hang only.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from bestroute import BestRoute
from bestroute.backends.openai_compatible import OpenAICompatibleBackend
from bestroute.pool import Arm, Candidate, Pool
from tests.support.openai_endpoint import Fault, OpenAIEndpoint, ReceivedRequest, WordStreamer
from tests.support.uvicorn_thread import serve_in_thread

HANG_S = 30.0
WORDS = ("four ", "is ", "the ", "answer")
ANSWER = "".join(WORDS)
QUESTION = "What is 2 + 2?"

#: fault -> (the words its reason in the trace contains)
FAULTS: dict[str, tuple[Fault, str]] = {
    "429": (Fault(status=429, headers={"retry-after": "1"}), "HTTP 429"),
    "500": (Fault(status=500), "HTTP 500"),
    "hang": (Fault(delay_s=HANG_S), "TimeoutError"),
    "malformed": (Fault(malformed_json=True), "Error"),
}


class TrustingRouter:
    """Trusts every arm (p = 0.9), or only those in ``trusted``."""

    def __init__(self, arms: Any, trusted: Any = None) -> None:
        self.arms = tuple(arms)
        self.trusted = set(trusted or self.arms)

    def predict(self, queries: Any) -> np.ndarray:
        row = [0.9 if arm in self.trusted else 0.1 for arm in self.arms]
        return np.tile(np.asarray(row, dtype=np.float32), (len(queries), 1))


class LengthScorer:
    def score(self, query: str, responses: list[str]) -> list[float]:
        return [float(len(r)) for r in responses]


class FaultyEndpoint:
    """The endpoint, its URL, and the fault currently applied to ``cheap`` requests."""

    def __init__(self) -> None:
        self.fault: Fault | None = None
        self.fail_numbers: set[int] = set()  # fail only these cheap requests (from 0), if set
        self.cheap_seen = 0
        streamer = WordStreamer(WORDS, delay_s=0.01)
        self.endpoint = OpenAIEndpoint({"cheap": streamer, "big": streamer}, fault=self._hook)
        self.url = ""

    def _hook(self, request: ReceivedRequest) -> Fault | None:
        if request.body.get("model") != "cheap":
            return None
        number, self.cheap_seen = self.cheap_seen, self.cheap_seen + 1
        if self.fail_numbers and number not in self.fail_numbers:
            return None
        return self.fault

    def reset(self, fault: Fault | None) -> None:
        self.fault, self.fail_numbers, self.cheap_seen = fault, set(), 0
        self.endpoint.received.clear()

    def calls(self) -> collections.Counter[str]:
        return collections.Counter(str(r.body.get("model")) for r in self.endpoint.received)


@pytest.fixture(scope="module")
def faulty() -> Iterator[FaultyEndpoint]:
    server = FaultyEndpoint()
    with serve_in_thread(server.endpoint.app) as url:
        server.url = url
        # warm up: the clients' imports and first connection are not what the timeouts bound
        asyncio.run(openai_engine(url).arun("warm up"))
        chat_bestroute(url).invoke("warm up")
        yield server


def openai_engine(url: str, **options: Any) -> BestRoute:
    cheap = OpenAICompatibleBackend("cheap", base_url=f"{url}/v1", api_key_env=None)
    big = OpenAICompatibleBackend("big", base_url=f"{url}/v1", api_key_env=None)
    pool = Pool(
        [Candidate("cheap", cheap, 0.1, 0.1), Candidate("big", big, 5.0, 15.0)], "big", max_n=4
    )
    options.setdefault("sample_timeout_s", 2.0)
    return BestRoute(pool, TrustingRouter(pool.router_arms), LengthScorer(), **options)


def chat_openai(url: str, model: str) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model=model, base_url=f"{url}/v1", api_key="unused", max_retries=0)


def chat_bestroute(url: str, **options: Any) -> Any:
    from langchain_bestroute import ChatBestRoute

    return ChatBestRoute(
        models={
            "cheap": (chat_openai(url, "cheap"), 0.1, 0.1),
            "big": (chat_openai(url, "big"), 5.0, 15.0),
        },
        router=TrustingRouter([Arm("cheap", n) for n in (1, 2, 3, 4)]),
        reference="big",
        scorer=LengthScorer(),
        timeout=options.pop("timeout", 2.0),
        **options,
    )


def reasons(trace: Any) -> str:
    return " | ".join(e for a in trace.attempts for e in a.errors)


# ------------------------------------------------------------------ openai: members


@pytest.mark.parametrize("stream", [False, True], ids=["ainvoke", "astream"])
@pytest.mark.parametrize("name", list(FAULTS))
async def test_openai_members_degrade_to_the_reference(
    faulty: FaultyEndpoint, name: str, stream: bool
) -> None:
    fault, reason = FAULTS[name]
    engine = openai_engine(faulty.url)
    faulty.reset(fault)
    started = time.monotonic()
    if stream:
        *chunks, result = [item async for item in engine.astream(QUESTION)]
        assert "".join(c.text for c in chunks) == ANSWER
    else:
        result = await engine.arun(QUESTION)
    assert time.monotonic() - started < HANG_S / 2
    assert result.arm == Arm("big", 1) and result.text == ANSWER
    assert reason in reasons(result.trace)
    # one failing call to the cheap model, a malformed stream included (it fails the model's
    # call, not read as an empty answer that the model's n = 2 arm would try again)
    assert faulty.calls() == {"cheap": 1, "big": 1}


async def test_a_connection_dropped_before_the_first_chunk_falls_back(
    faulty: FaultyEndpoint,
) -> None:
    engine = openai_engine(faulty.url)
    faulty.reset(Fault(close_after_chunks=0))
    *chunks, result = [item async for item in engine.astream(QUESTION)]
    assert result.arm == Arm("big", 1) and "".join(c.text for c in chunks) == ANSWER
    assert faulty.calls() == {"cheap": 1, "big": 1}
    assert result.trace.attempts[0].errors


#: streams that fail before their first chunk: (fault, the words of the reason in the trace)
PRE_CHUNK_FAULTS = {
    "dropped": (Fault(close_after_chunks=0), "RemoteProtocolError"),
    "not-a-stream": (Fault(malformed_json=True), "Error"),
}


@pytest.mark.parametrize("member", ["openai", "ChatOpenAI"])
@pytest.mark.parametrize("name", list(PRE_CHUNK_FAULTS))
async def test_a_stream_failing_before_its_first_chunk_moves_to_the_next_model(
    faulty: FaultyEndpoint, name: str, member: str
) -> None:
    """The plan is cheap@1..@4 then big: a stream cut (or not a stream) before its first chunk
    is a failure of the cheap model's call, so big answers next; cheap@2 is not tried."""
    fault, reason = PRE_CHUNK_FAULTS[name]
    faulty.reset(fault)
    started = time.monotonic()
    if member == "openai":
        *chunks, result = [item async for item in openai_engine(faulty.url).astream(QUESTION)]
        text, trace = "".join(c.text for c in chunks), result.trace.to_dict()
    else:
        pieces = [chunk async for chunk in chat_bestroute(faulty.url).astream(QUESTION)]
        text = "".join(str(piece.content) for piece in pieces)
        trace = pieces[-1].response_metadata["bestroute"]
    assert time.monotonic() - started < HANG_S / 2
    assert text == ANSWER
    assert [attempt["arm"] for attempt in trace["attempts"]] == ["cheap@1", "big@1"]
    assert reason in " ".join(trace["attempts"][0]["errors"])
    assert faulty.calls() == {"cheap": 1, "big": 1}


async def test_a_connection_dropped_after_chunks_were_sent_raises(faulty: FaultyEndpoint) -> None:
    from bestroute.errors import AllArmsFailedError

    engine = openai_engine(faulty.url)
    faulty.reset(Fault(close_after_chunks=1))
    seen: list[str] = []
    with pytest.raises(AllArmsFailedError, match="cheap@1 failed mid-stream") as caught:
        async for item in engine.astream(QUESTION):
            seen.append(item.text)  # type: ignore[union-attr]
    assert "".join(seen) == WORDS[0]
    assert caught.value.errors and caught.value.errors[0][0] == "cheap@1"
    assert faulty.calls() == {"cheap": 1}


async def test_retries_wait_for_retry_after_then_the_cheap_model_answers(
    faulty: FaultyEndpoint,
) -> None:
    engine = openai_engine(faulty.url, max_retries=2)
    faulty.reset(Fault(status=429, headers={"retry-after": "0.3"}))
    faulty.fail_numbers = {0}
    result = await engine.arun(QUESTION)
    assert result.arm == Arm("cheap", 1) and result.text == ANSWER
    assert faulty.calls() == {"cheap": 2}


# ------------------------------------------------------------------ LangChain ChatOpenAI


@pytest.mark.parametrize("path", ["ainvoke", "invoke", "astream", "stream", "streaming=True"])
@pytest.mark.parametrize("name", ["429", "500", "hang"])
async def test_chat_openai_entries_degrade_to_the_reference(
    faulty: FaultyEndpoint, name: str, path: str
) -> None:
    fault, _ = FAULTS[name]
    llm = chat_bestroute(faulty.url, streaming=path == "streaming=True")
    faulty.reset(fault)
    started = time.monotonic()
    if path == "streaming=True":  # invoke streams under the hood
        message = await asyncio.to_thread(llm.invoke, QUESTION)
    elif path == "ainvoke":
        message = await llm.ainvoke(QUESTION)
    elif path == "invoke":
        message = await asyncio.to_thread(llm.invoke, QUESTION)
    elif path == "astream":
        pieces = [chunk async for chunk in llm.astream(QUESTION)]
        message = pieces[0]
        for piece in pieces[1:]:
            message = message + piece
    else:

        def drain() -> Any:
            pieces = list(llm.stream(QUESTION))
            total = pieces[0]
            for piece in pieces[1:]:
                total = total + piece
            return total

        message = await asyncio.to_thread(drain)
    assert time.monotonic() - started < HANG_S / 2
    assert str(message.content) == ANSWER
    metadata = message.response_metadata["bestroute"]
    assert metadata["arm"] == "big@1"
    assert [a["arm"] for a in metadata["attempts"]] == ["cheap@1", "big@1"]
    # one cheap request: ChatOpenAI's connections are never reused across event loops
    assert faulty.calls() == {"cheap": 1, "big": 1}


async def test_langgraph_messages_stream_is_bounded_by_the_timeout(faulty: FaultyEndpoint) -> None:
    from langgraph.graph import END, START, MessagesState, StateGraph

    llm = chat_bestroute(faulty.url)

    async def call(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await llm.ainvoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("model", call)
    graph.add_edge(START, "model")
    graph.add_edge("model", END)
    app = graph.compile()
    faulty.reset(FAULTS["hang"][0])
    started = time.monotonic()
    texts = [
        str(chunk.content)
        async for chunk, _ in app.astream(
            {"messages": [("human", QUESTION)]}, stream_mode="messages"
        )
    ]
    assert time.monotonic() - started < HANG_S / 2
    assert "".join(texts) == ANSWER
    calls = faulty.calls()
    assert calls["cheap"] <= 1 and calls["big"] == 1


async def test_partial_failure_among_n_samples_selects_among_the_survivors(
    faulty: FaultyEndpoint,
) -> None:
    """ChatOpenAI entries draw n = 3 as three requests; one gets a 500, two answer."""
    from langchain_bestroute import ChatBestRoute

    llm = ChatBestRoute(
        models={
            "cheap": {
                "chat_model": chat_openai(faulty.url, "cheap"),
                "input_price": 0.1,
                "output_price": 0.1,
                "supports_n": False,
            },
            "big": (chat_openai(faulty.url, "big"), 5.0, 15.0),
        },
        router=TrustingRouter([Arm("cheap", n) for n in (1, 2, 3)], [Arm("cheap", 3)]),
        reference="big",
        scorer=LengthScorer(),
        timeout=5.0,
    )
    faulty.reset(Fault(status=500))
    faulty.fail_numbers = {1}
    message = await llm.ainvoke(QUESTION)
    metadata = message.response_metadata["bestroute"]
    assert metadata["arm"] == "cheap@3" and str(message.content) == ANSWER
    [attempt] = metadata["attempts"]
    assert attempt["samples"] == 2 and len(attempt["errors"]) == 1
    assert "HTTP 500" in attempt["errors"][0] or "500" in attempt["errors"][0]
    assert faulty.calls() == {"cheap": 3}
