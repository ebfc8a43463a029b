"""Micro-batching with the shipped MiniLM router and reward model: batched decisions and
scores are those of the one-at-a-time path, for coroutines and for threads; the reward model
embeds the query while the samples are drawn."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from bestroute.backends.function import FunctionBackend
from bestroute.batching import BatchingConfig
from bestroute.demo import CHEAP, REFERENCE, assets_dir, load_questions, load_threshold
from bestroute.engine import BestRoute
from bestroute.policy import ThresholdPolicy
from bestroute.pool import Arm, Candidate, Pool

pytestmark = pytest.mark.slow

#: Batched and single forward passes differ only by float rounding.
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def demo_models() -> tuple[Any, Any]:
    from bestroute.router.checkpoint import load_router
    from bestroute.scoring.reward_model import load_reward_model

    return load_router(assets_dir() / "router"), load_reward_model(assets_dir() / "reward")


@pytest.fixture(scope="module")
def queries() -> list[str]:
    return [item["query"] for item in load_questions()][:48]


class HeldRouter:
    """The real router, holding its first batch until released (so later calls queue up)."""

    def __init__(self, router: Any) -> None:
        self.router = router
        self.gate = threading.Event()
        self.batches: list[int] = []

    @property
    def arms(self) -> tuple[Any, ...]:
        return tuple(self.router.arms)

    def predict(self, queries: Sequence[str]) -> np.ndarray:
        assert self.gate.wait(timeout=60)
        self.batches.append(len(queries))
        return np.asarray(self.router.predict(list(queries)))


def routing_engine(router: Any, scorer: Any, batching: BatchingConfig | None) -> BestRoute:
    pool = Pool(
        [Candidate(CHEAP, None, 0.10, 0.10, 32), Candidate(REFERENCE, None, 5.0, 15.0, 32)],
        reference=REFERENCE,
        max_n=4,
    )
    return BestRoute(pool, router, scorer, ThresholdPolicy(load_threshold()), batching=batching)


def assert_same_decisions(got: Sequence[Any], want: Sequence[Any]) -> None:
    for a, b in zip(got, want, strict=True):
        assert (a.arm, a.plan) == (b.arm, b.plan)
        for key, p in b.probabilities.items():
            assert abs(a.probabilities[key] - p) <= TOLERANCE


def one_at_a_time(demo_models: tuple[Any, Any], queries: Sequence[str]) -> list[Any]:
    router, scorer = demo_models
    router.encoder.cache.clear()
    alone = routing_engine(router, scorer, None)
    decisions = [alone.route(q) for q in queries]
    router.encoder.cache.clear()
    return decisions


def test_concurrent_coroutines_route_as_one_at_a_time(
    demo_models: tuple[Any, Any], queries: list[str]
) -> None:
    expected = one_at_a_time(demo_models, queries)
    held = HeldRouter(demo_models[0])
    engine = routing_engine(held, demo_models[1], BatchingConfig())

    async def all_at_once() -> list[Any]:
        tasks = [asyncio.ensure_future(engine.aroute(q)) for q in queries]
        batcher = engine._forward.router_batches
        assert batcher is not None
        while batcher._queue.qsize() < len(queries) - 1:
            await asyncio.sleep(0)
        held.gate.set()
        return list(await asyncio.gather(*tasks))

    decisions = asyncio.run(all_at_once())
    assert max(held.batches) > 1
    assert_same_decisions(decisions, expected)


def test_concurrent_threads_route_as_one_at_a_time(
    demo_models: tuple[Any, Any], queries: list[str]
) -> None:
    expected = one_at_a_time(demo_models, queries)
    held = HeldRouter(demo_models[0])
    engine = routing_engine(held, demo_models[1], BatchingConfig())
    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = [pool.submit(engine.route, q) for q in queries]
        batcher = engine._forward.router_batches
        assert batcher is not None
        # one thread processes inline (the batcher was idle), the worker holds the next item:
        # the other 14 queue behind them
        deadline = time.monotonic() + 60
        while batcher._queue.qsize() < 14 and time.monotonic() < deadline:
            time.sleep(0.001)
        held.gate.set()
        decisions = [f.result(timeout=120) for f in futures]
    assert max(held.batches) > 1
    assert_same_decisions(decisions, expected)


def test_concurrent_reward_scoring_matches_scoring_each_call(
    demo_models: tuple[Any, Any], queries: list[str]
) -> None:
    _, scorer = demo_models
    requests = [
        (q, [f"The answer to '{q}' is {i}." * (1 + i % 3) for i in range(1 + j % 4)])
        for j, q in enumerate(queries[:16])
    ]
    expected = [scorer.score(q, responses) for q, responses in requests]
    engine = routing_engine(demo_models[0], scorer, BatchingConfig())

    async def all_at_once() -> list[list[float]]:
        return list(await asyncio.gather(*(engine._forward.ascore(q, rs) for q, rs in requests)))

    scores = asyncio.run(all_at_once())
    for got, want in zip(scores, expected, strict=True):
        assert got == pytest.approx(want, abs=TOLERANCE)
        assert int(np.argmax(got)) == int(np.argmax(want))
    batcher = engine._forward.score_batches
    assert batcher is not None and sum(batcher.batch_sizes) == len(requests)


def reward_answers(query: str, n: int) -> list[str]:
    return [f"Working it out: {query} The answer is {i}." * (1 + i % 2) for i in range(n)]


@pytest.mark.parametrize("batching", [BatchingConfig(), None], ids=["batched", "unbatched"])
def test_the_reward_model_embeds_the_query_while_the_samples_are_drawn(
    demo_models: tuple[Any, Any], queries: list[str], batching: BatchingConfig | None
) -> None:
    from bestroute.demo import general_reward_dir
    from bestroute.scoring.reward_model import load_reward_model

    router, _ = demo_models
    scorer = load_reward_model(general_reward_dir())  # its MLP reads the embeddings
    assert scorer.reads_embeddings
    query = queries[5]
    expected = scorer.score(query, reward_answers(query, 3))
    scorer.encoder.cache.clear()
    seen_while_sampling: list[bool] = []

    async def generate(messages: Any, n: int = 1, **params: Any) -> list[str]:
        key = (query, scorer.encoder.max_tokens)
        for _ in range(3000):  # the query's embedding lands in the cache during this call
            if scorer.encoder.cache.get_many([key])[0] is not None:
                break
            await asyncio.sleep(0.01)
        seen_while_sampling.append(scorer.encoder.cache.get_many([key])[0] is not None)
        return reward_answers(query, n)

    engine = routing_engine(router, scorer, batching)
    engine.pool.candidate(CHEAP).backend = FunctionBackend(generate, supports_n=True)
    decision = engine.route(query)
    decision.plan = [Arm(CHEAP, 3)]
    computed: list[list[str]] = []  # the texts the encoder ran its model on
    original = scorer.encoder._encode_sorted
    scorer.encoder._encode_sorted = lambda texts, size: (
        computed.append(list(texts)) or original(texts, size)
    )
    try:
        result = asyncio.run(engine.aexecute(decision, query))
    finally:
        del scorer.encoder._encode_sorted
    assert seen_while_sampling == [True]
    attempt = result.trace.attempts[0]
    assert attempt.scores == pytest.approx(expected, abs=TOLERANCE)
    assert computed == [[query], reward_answers(query, 3)]  # the query once, before the answers
