"""Each HTTP fault of a cheap model, through the real ``openai`` client: calls per model, the
arm that answered and the time to the answer.

A test endpoint on 127.0.0.1 (``tests.support.openai_endpoint``) serves a ``cheap`` and a ``big``
model; a fault hook makes every request for ``cheap`` misbehave. The router trusts every cheap
arm, so the plan is cheap@1..@4 then the reference. Run from the repo root:

    PYTHONPATH=core:. python benchmarks/fault_table.py [--sample-timeout 2]

Prints one Markdown row per fault and path (ainvoke, astream).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bestroute.backends.openai_compatible import OpenAICompatibleBackend
from bestroute.engine import BestRoute, Result
from bestroute.pool import Arm, Candidate, Pool
from tests.support.openai_endpoint import (
    Fault,
    OpenAIEndpoint,
    ReceivedRequest,
    WordStreamer,
)
from tests.support.uvicorn_thread import serve_in_thread

FAULTS: dict[str, Fault] = {
    "429 Retry-After: 1": Fault(status=429, headers={"retry-after": "1"}),
    "500": Fault(status=500),
    "hang 30 s": Fault(delay_s=30.0),
    "malformed JSON": Fault(malformed_json=True),
    "connection closed before the first chunk": Fault(close_after_chunks=0),
    "connection closed after one chunk": Fault(close_after_chunks=1),
}


class TrustingRouter:
    """Every cheap arm qualifies: the plan is cheap@1..@max_n, then the reference."""

    def __init__(self, arms: list[Arm]) -> None:
        self.arms = tuple(arms)

    def predict(self, queries: Any) -> np.ndarray:
        return np.full((len(queries), len(self.arms)), 0.9, dtype=np.float32)


class LengthScorer:
    def score(self, query: str, responses: list[str]) -> list[float]:
        return [float(len(r)) for r in responses]


async def one(engine: BestRoute, stream: bool, limit_s: float) -> tuple[str, float]:
    started = time.perf_counter()

    async def go() -> Result:
        if stream:
            last: Any = None
            async for item in engine.astream("What is 2 + 2?"):
                last = item
            return last
        return await engine.arun("What is 2 + 2?")

    try:
        result = await asyncio.wait_for(go(), limit_s)
        outcome = f"answered by {result.arm.key}"
    except TimeoutError:
        outcome = f"no answer after {limit_s:g} s (measurement cut)"
    except Exception as error:  # the table records what the user gets
        outcome = f"{type(error).__name__}"
    return outcome, time.perf_counter() - started


async def measured(
    engine: BestRoute,
    stream: bool,
    limit_s: float,
    current: dict[str, Fault | None],
    fault: Fault,
    endpoint: OpenAIEndpoint,
    backends: tuple[OpenAICompatibleBackend, ...],
) -> tuple[str, float]:
    """One warm-up call without a fault (clients made, imports done), then the measured one."""
    current["fault"] = None
    await engine.arun("warm up")
    current["fault"] = fault
    endpoint.received.clear()
    try:
        return await one(engine, stream, limit_s)
    finally:
        for backend in backends:
            await backend.aclose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sample-timeout", type=float, default=2.0)
    parser.add_argument("--limit", type=float, default=45.0)
    parser.add_argument("--langchain-only", action="store_true")
    args = parser.parse_args()
    if args.langchain_only:
        langchain_table(args.sample_timeout, args.limit)
        return
    current: dict[str, Fault | None] = {"fault": None}

    def hook(request: ReceivedRequest) -> Fault | None:
        return current["fault"] if request.body.get("model") == "cheap" else None

    streamer = WordStreamer(("four ", "is ", "the ", "answer"), delay_s=0.01)
    endpoint = OpenAIEndpoint({"cheap": streamer, "big": streamer}, fault=hook)
    print("| fault | path | calls cheap | calls big | outcome | time to answer (s) |")
    print("|---|---|---|---|---|---|")
    with serve_in_thread(endpoint.app) as url:
        for name, fault in FAULTS.items():
            for stream in (False, True):
                if fault.close_after_chunks is not None and not stream:
                    continue
                cheap = OpenAICompatibleBackend("cheap", base_url=f"{url}/v1", api_key_env=None)
                big = OpenAICompatibleBackend("big", base_url=f"{url}/v1", api_key_env=None)
                pool = Pool(
                    [Candidate("cheap", cheap, 0.1, 0.1), Candidate("big", big, 5, 15)],
                    "big",
                    max_n=4,
                )
                engine = BestRoute(
                    pool,
                    TrustingRouter(list(pool.router_arms)),
                    LengthScorer(),
                    sample_timeout_s=args.sample_timeout,
                )
                outcome, elapsed = asyncio.run(
                    measured(engine, stream, args.limit, current, fault, endpoint, (cheap, big))
                )
                calls = collections.Counter(r.body.get("model") for r in endpoint.received)
                path = "astream" if stream else "ainvoke"
                print(
                    f"| {name} | {path} | {calls['cheap']} | {calls['big']} | {outcome} | "
                    f"{elapsed:.2f} |",
                    flush=True,
                )
    langchain_table(args.sample_timeout, args.limit)


async def langchain_row(llm: Any, stream: bool, limit_s: float) -> tuple[str, float]:
    started = time.perf_counter()

    async def go() -> Any:
        if stream:
            last: Any = None
            async for chunk in llm.astream("What is 2 + 2?"):
                last = chunk if last is None else last + chunk
            return last
        return await llm.ainvoke("What is 2 + 2?")

    try:
        message = await asyncio.wait_for(go(), limit_s)
        outcome = f"answered by {message.response_metadata['bestroute']['arm']}"
    except TimeoutError:
        outcome = f"no answer after {limit_s:g} s (measurement cut)"
    except Exception as error:
        outcome = type(error).__name__
    return outcome, time.perf_counter() - started


def langchain_table(sample_timeout: float, limit_s: float) -> None:
    """The same faults through ChatBestRoute over ChatOpenAI entries (n drawn as n requests)."""
    from langchain_openai import ChatOpenAI

    from langchain_bestroute import ChatBestRoute

    current: dict[str, Fault | None] = {"fault": None}

    def hook(request: ReceivedRequest) -> Fault | None:
        return current["fault"] if request.body.get("model") == "cheap" else None

    streamer = WordStreamer(("four ", "is ", "the ", "answer"), delay_s=0.01)
    endpoint = OpenAIEndpoint({"cheap": streamer, "big": streamer}, fault=hook)
    print()
    print("ChatBestRoute over ChatOpenAI (max_retries=0), n drawn as n requests:")
    print()
    print("| fault | path | calls cheap | calls big | outcome | time to answer (s) |")
    print("|---|---|---|---|---|---|")
    with serve_in_thread(endpoint.app) as url:

        def chat(model: str) -> Any:
            return ChatOpenAI(model=model, base_url=f"{url}/v1", api_key="unused", max_retries=0)

        for name in ("429 Retry-After: 1", "500", "hang 30 s"):
            for stream in (False, True):
                llm = ChatBestRoute(
                    models={"cheap": (chat("cheap"), 0.1, 0.1), "big": (chat("big"), 5, 15)},
                    router=TrustingRouter([Arm("cheap", n) for n in (1, 2, 3, 4)]),
                    reference="big",
                    scorer=LengthScorer(),
                    timeout=sample_timeout,
                )

                async def warm_then_measure(
                    llm: Any = llm, name: str = name, stream: bool = stream
                ) -> Any:
                    # one loop for both: ChatOpenAI shares its HTTP client across calls
                    current["fault"] = None
                    await llm.ainvoke("warm up")
                    current["fault"] = FAULTS[name]
                    endpoint.received.clear()
                    return await langchain_row(llm, stream, limit_s)

                outcome, elapsed = asyncio.run(warm_then_measure())
                calls = collections.Counter(r.body.get("model") for r in endpoint.received)
                path = "astream" if stream else "ainvoke"
                print(
                    f"| {name} | {path} | {calls['cheap']} | {calls['big']} | {outcome} | "
                    f"{elapsed:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
