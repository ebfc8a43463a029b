"""The engine's router and reward-model forward passes, micro-batched across concurrent calls.

:class:`BatchedForward` gives the engine one router row per query and one list of rewards per
(query, responses), from threads or coroutines. With a :class:`~bestroute.batching.BatchingConfig`
the router's ``predict`` runs on batches of the queries of concurrent calls (one
:class:`~bestroute.batching.MicroBatcher`), and so does a scorer with ``score_batch`` (the
:class:`~bestroute.scoring.reward_model.RewardModel`: all responses of all waiting calls in one
``score_batch``). Scorers without ``score_batch`` (verifiers, LLM judges) are called one call at a
time on a worker thread, as is everything when batching is off (``config=None``).

A scorer with ``prepare(queries)`` (the reward model: it embeds the queries into its encoder's
cache) can do its query-side work while the samples are still being drawn:
:meth:`BatchedForward.aprepare` runs it, batched like the rest, and scoring then finds the
query embedding ready. Preparing is an optimisation only: if it fails, scoring does the work.

Batched results equal the one-at-a-time ones up to float rounding (padding is masked).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from bestroute._sync import to_worker
from bestroute.batching import BatchingConfig, MicroBatcher
from bestroute.router.base import Router
from bestroute.scoring.base import Scorer

#: A scoring request: the query and the responses to score.
ScoreItem = tuple[str, list[str]]


@runtime_checkable
class BatchScorer(Protocol):
    """A scorer that scores parallel lists of queries and responses in one call."""

    def score_batch(self, queries: Sequence[str], responses: Sequence[str]) -> list[float]: ...


@runtime_checkable
class PreparingScorer(Protocol):
    """A scorer that can do its query-side work before the responses exist."""

    def prepare(self, queries: Sequence[str]) -> None: ...


class HasModels(Protocol):
    """What :class:`BatchedForward` reads its router and scorer from (the engine)."""

    router: Router
    scorer: Scorer | None


class BatchedForward:
    """Router rows and reward scores for single calls, batched across concurrent calls.

    The router and scorer are read from ``owner`` at every batch, so replacing the engine's
    ``router`` or ``scorer`` takes effect at once.
    """

    def __init__(self, owner: HasModels, config: BatchingConfig | None) -> None:
        self.owner = owner
        self.config = config
        self.router_batches: MicroBatcher[str, np.ndarray] | None = None
        self.score_batches: MicroBatcher[ScoreItem, list[float]] | None = None
        self.prepare_batches: MicroBatcher[str, None] | None = None
        if config is not None:
            self.router_batches = MicroBatcher(
                self._predict_many,
                window_s=config.window_s,
                max_batch=config.max_batch,
                name="bestroute-router-batcher",
            )
            self.score_batches = MicroBatcher(
                self._score_many,
                window_s=config.window_s,
                max_batch=config.max_batch,
                name="bestroute-scorer-batcher",
            )
            self.prepare_batches = MicroBatcher(
                self._prepare_many,
                window_s=config.window_s,
                max_batch=config.max_batch,
                name="bestroute-scorer-query-batcher",
            )

    # ----------------------------------------------------------------- router
    def predict(self, query: str) -> np.ndarray:
        """The router's probabilities for ``query`` (one row), blocking the calling thread."""
        if self.router_batches is None:
            return np.asarray(self.owner.router.predict([query]))[0]
        return self.router_batches.submit(query)

    async def apredict(self, query: str) -> np.ndarray:
        """The router's probabilities for ``query`` (one row), off the event loop."""
        if self.router_batches is None:
            return await to_worker(self.predict, query)
        return await self.router_batches.asubmit(query)

    def _predict_many(self, queries: list[str]) -> list[np.ndarray]:
        rows = np.asarray(self.owner.router.predict(queries))
        if rows.shape[0] != len(queries):
            raise RuntimeError(
                f"the router returned {rows.shape[0]} rows for {len(queries)} queries"
            )
        return list(rows)

    # ----------------------------------------------------------------- scorer
    async def ascore(self, query: str, responses: Sequence[str]) -> list[float]:
        """The scorer's rewards of ``responses`` to ``query``, off the event loop."""
        scorer = self.owner.scorer
        if scorer is None:
            raise RuntimeError("no scorer to score responses with")
        if self.score_batches is None or not isinstance(scorer, BatchScorer):
            return list(await to_worker(scorer.score, query, list(responses)))
        return await self.score_batches.asubmit((query, list(responses)))

    async def aprepare(self, query: str) -> None:
        """Let the scorer do its work on ``query`` now (off the event loop), when it can."""
        scorer = self.owner.scorer
        if not isinstance(scorer, PreparingScorer):
            return
        if self.prepare_batches is None:
            await to_worker(scorer.prepare, [query])
        else:
            await self.prepare_batches.asubmit(query)

    def _prepare_many(self, queries: list[str]) -> list[None]:
        scorer = self.owner.scorer
        if isinstance(scorer, PreparingScorer):  # else the scorer was replaced meanwhile
            scorer.prepare(queries)
        return [None] * len(queries)

    def _score_many(self, items: list[ScoreItem]) -> list[list[float]]:
        scorer = self.owner.scorer
        if not isinstance(scorer, BatchScorer):  # the scorer was replaced meanwhile
            assert scorer is not None
            return [list(scorer.score(query, responses)) for query, responses in items]
        queries = [query for query, responses in items for _ in responses]
        flat = [response for _, responses in items for response in responses]
        scores = list(scorer.score_batch(queries, flat))
        if len(scores) != len(flat):
            raise RuntimeError(
                f"the scorer returned {len(scores)} scores for {len(flat)} responses"
            )
        result: list[list[float]] = []
        start = 0
        for _, responses in items:
            result.append([float(s) for s in scores[start : start + len(responses)]])
            start += len(responses)
        return result
