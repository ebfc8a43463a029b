"""The engine's batched routing and scoring give the decisions of the one-at-a-time path.

Fast tests with small deterministic routers and scorers (real numpy, no model); the same checks
with the shipped MiniLM router and reward model are in test_batched_forward_models.py.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from bestroute.backends.function import FunctionBackend
from bestroute.batching import BatchingConfig
from bestroute.engine import BestRoute
from bestroute.errors import InvalidQueryError
from bestroute.policy import ThresholdPolicy
from bestroute.pool import Arm, Candidate, Pool
from bestroute.scoring.base import VerifierScorer

QUERIES = [f"question {i} " + "word " * (i % 7) for i in range(40)]


class LengthRouter:
    """P(arm) from the query's length and the arm's n; records every batch it is given."""

    def __init__(self, arms: Sequence[Arm], fail_on: str | None = None) -> None:
        self._arms = tuple(arms)
        self.batches: list[int] = []
        self.fail_on = fail_on
        self.gate = threading.Event()
        self.gate.set()

    @property
    def arms(self) -> tuple[Arm, ...]:
        return self._arms

    def predict(self, queries: Sequence[str]) -> np.ndarray:
        assert self.gate.wait(timeout=30)
        self.batches.append(len(queries))
        if self.fail_on in queries:
            raise ValueError(f"cannot route {self.fail_on!r}")
        lengths = np.array([len(q) for q in queries], dtype=np.float64)[:, None]
        ns = np.array([arm.n for arm in self._arms], dtype=np.float64)[None, :]
        return 1.0 / (1.0 + np.exp(-(lengths / 10.0 - 2.5 + 0.4 * ns)))


class LengthScorer:
    """Rewards the response length relative to the query's; scores in batches too."""

    def __init__(self) -> None:
        self.batch_calls: list[int] = []

    def score(self, query: str, responses: Sequence[str]) -> list[float]:
        return [len(r) / (1 + len(query)) for r in responses]

    def score_batch(self, queries: Sequence[str], responses: Sequence[str]) -> list[float]:
        self.batch_calls.append(len(responses))
        return [len(r) / (1 + len(q)) for q, r in zip(queries, responses, strict=True)]


def engine(router: LengthRouter, scorer: object, batching: BatchingConfig | None) -> BestRoute:
    async def answer(messages: object, n: int = 1, **params: object) -> list[str]:
        length = len(str(messages))
        return [f"answer {'!' * ((length * (i + 3)) % 11)}" for i in range(n)]

    pool = Pool(
        [
            Candidate("small", FunctionBackend(answer, supports_n=True), 0.1, 0.1, 20),
            Candidate("big", FunctionBackend(answer, supports_n=True), 5.0, 15.0, 20),
        ],
        reference="big",
        max_n=3,
    )
    return BestRoute(pool, router, scorer, ThresholdPolicy(0.6), batching=batching)  # type: ignore[arg-type]


ARMS = [Arm("small", 1), Arm("small", 2), Arm("small", 3)]


def test_concurrent_coroutines_get_the_one_at_a_time_decisions() -> None:
    alone = engine(LengthRouter(ARMS), LengthScorer(), None)
    expected = [alone.route(q) for q in QUERIES]
    router = LengthRouter(ARMS)
    batched = engine(router, LengthScorer(), BatchingConfig())

    async def all_at_once() -> list[object]:
        router.gate.clear()  # hold the first batch until every caller has queued
        tasks = [asyncio.ensure_future(batched.aroute(q)) for q in QUERIES]
        batcher = batched._forward.router_batches
        assert batcher is not None
        while batcher._queue.qsize() < len(QUERIES) - 1:
            await asyncio.sleep(0)
        router.gate.set()
        return list(await asyncio.gather(*tasks))

    decisions = asyncio.run(all_at_once())
    assert max(router.batches) > 1  # the calls really were batched
    for got, want in zip(decisions, expected, strict=True):
        assert got.arm == want.arm and got.plan == want.plan  # type: ignore[attr-defined]
        assert got.probabilities == pytest.approx(want.probabilities, abs=1e-12)  # type: ignore[attr-defined]
        assert got.input_tokens == want.input_tokens  # type: ignore[attr-defined]


def test_concurrent_threads_get_the_one_at_a_time_decisions() -> None:
    alone = engine(LengthRouter(ARMS), LengthScorer(), None)
    expected = [alone.route(q) for q in QUERIES]
    router = LengthRouter(ARMS)
    batched = engine(router, LengthScorer(), BatchingConfig())
    with ThreadPoolExecutor(max_workers=16) as pool:
        decisions = list(pool.map(batched.route, QUERIES))
    assert sum(router.batches) == len(QUERIES)
    for got, want in zip(decisions, expected, strict=True):
        assert (got.arm, got.plan) == (want.arm, want.plan)
        assert got.probabilities == pytest.approx(want.probabilities, abs=1e-12)


async def test_a_router_error_reaches_only_its_caller() -> None:
    router = LengthRouter(ARMS, fail_on=QUERIES[3])
    batched = engine(router, LengthScorer(), BatchingConfig())
    results = await asyncio.gather(
        *(batched.aroute(q) for q in QUERIES[:8]), return_exceptions=True
    )
    assert isinstance(results[3], ValueError)
    assert all(not isinstance(r, BaseException) for i, r in enumerate(results) if i != 3)


async def test_an_empty_query_is_still_rejected_before_routing() -> None:
    batched = engine(LengthRouter(ARMS), LengthScorer(), BatchingConfig())
    with pytest.raises(InvalidQueryError):
        await batched.aroute("   ")


async def test_concurrent_best_of_n_scores_in_shared_batches_and_picks_the_same() -> None:
    scorer = LengthScorer()
    batched = engine(LengthRouter(ARMS), scorer, BatchingConfig())
    alone = engine(LengthRouter(ARMS), LengthScorer(), None)
    results = await asyncio.gather(*(batched.arun(q) for q in QUERIES))
    expected = [await alone.arun(q) for q in QUERIES]
    scored = [r for r in results if r.trace.final and len(r.trace.final.samples) > 1]
    assert scored, "some queries should take an arm with n > 1"
    assert sum(scorer.batch_calls) == sum(len(r.trace.final.samples) for r in scored)  # type: ignore[union-attr]
    for got, want in zip(results, expected, strict=True):
        assert got.text == want.text
        assert got.trace.final.scores == pytest.approx(want.trace.final.scores)  # type: ignore[union-attr]


async def test_a_scorer_without_score_batch_is_called_per_call() -> None:
    calls: list[str] = []

    def verify(query: str, response: str) -> float:
        calls.append(query)
        return float(len(response))

    batched = engine(LengthRouter(ARMS), VerifierScorer(verify), BatchingConfig())
    results = await asyncio.gather(*(batched.arun(q) for q in QUERIES))
    sampled = [len(r.trace.final.samples) for r in results]  # type: ignore[union-attr]
    assert max(sampled) > 1
    assert len(calls) == sum(n for n in sampled if n > 1)
    for result in results:
        final = result.trace.final
        assert final is not None
        if len(final.samples) > 1:
            assert result.text == max(s.text for s in final.samples)  # the longest answer wins
