"""BestRoute: route a query to an arm, sample n responses concurrently, keep the best."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from bestroute._sync import run_sync
from bestroute.backends.base import supports_native_n
from bestroute.batched_forward import BatchedForward
from bestroute.batching import BatchingConfig
from bestroute.cost import HeuristicCounter, TokenCounter
from bestroute.errors import (
    AllArmsFailedError,
    ArmMismatchError,
    ConfigurationError,
    InvalidQueryError,
)
from bestroute.policy import ThresholdPolicy
from bestroute.pool import Arm, Pool, PoolModels, estimate_arm_cost, pool_for_router
from bestroute.router.base import Router
from bestroute.scoring.base import Scorer, select_best
from bestroute.trace import Attempt, Decision, Trace
from bestroute.trained_setup import read_trained_setup, resolve_router
from bestroute.types import Messages, Sample, SampleChunk, conversation_text, last_user_text

logger = logging.getLogger(__name__)

QueryMode = Literal["last_user", "conversation"]


@dataclass(slots=True)
class Result:
    """The chosen response and the trace of how it was chosen."""

    text: str
    sample: Sample
    trace: Trace

    @property
    def arm(self) -> Arm:
        final = self.trace.final
        assert final is not None  # a Result only exists for a successful attempt
        return final.arm


class BestRoute:
    """The BEST-Route engine over a pool, a router, a scorer and a threshold policy.

    ``query_mode`` picks what the router reads: the conversation's last user turn (default)
    or the whole conversation. ``sample_timeout_s`` bounds each sampling call; a call that
    times out counts as a failed sample. ``batching`` micro-batches the router's and the
    reward model's forward passes across concurrent calls (see :mod:`bestroute.batching`);
    ``None`` runs each on its own.
    """

    def __init__(
        self,
        pool: Pool,
        router: Router,
        scorer: Scorer | None = None,
        policy: ThresholdPolicy | None = None,
        *,
        query_mode: QueryMode = "last_user",
        sample_timeout_s: float | None = None,
        batching: BatchingConfig | None = BatchingConfig(),  # noqa: B008 (frozen dataclass)
    ) -> None:
        if set(router.arms) != set(pool.router_arms):
            raise ArmMismatchError(
                "the router was trained for arms "
                f"{sorted(a.key for a in router.arms)} but the pool offers "
                f"{sorted(a.key for a in pool.router_arms)}; retrain the router for this pool or "
                "build the pool with the same candidates and max_n"
            )
        if scorer is None and any(arm.n > 1 for arm in pool.router_arms):
            raise ConfigurationError(
                "arms with n > 1 need a scorer to pick the best response: pass scorer=... "
                "(a RewardModel from bestroute.scoring.reward_model, or a VerifierScorer) or "
                "build the pool with max_n=1"
            )
        if scorer is not None and not isinstance(scorer, Scorer):
            raise ConfigurationError(
                "scorer must have score(query, responses) -> list[float] (a RewardModel, a "
                f"VerifierScorer...), got {type(scorer).__name__}"
            )
        if query_mode not in ("last_user", "conversation"):
            raise ConfigurationError(
                f"query_mode must be 'last_user' or 'conversation', not {query_mode!r}"
            )
        self.pool = pool
        self.router = router
        self.scorer = scorer
        self.policy = policy or ThresholdPolicy()
        self.query_mode: QueryMode = query_mode
        self.sample_timeout_s = sample_timeout_s
        #: How router and reward-model forward passes are batched; None: one call at a time.
        self.batching = batching
        self._forward = BatchedForward(self, batching)

    # ------------------------------------------------------------ construction
    @classmethod
    def from_router(
        cls,
        models: Pool | PoolModels,
        router: Router | str | os.PathLike[str],
        scorer: Scorer | None = None,
        policy: ThresholdPolicy | None = None,
        *,
        reference: str | None = None,
        max_n: int | None = None,
        query_mode: QueryMode = "last_user",
        sample_timeout_s: float | None = None,
        batching: BatchingConfig | None = BatchingConfig(),  # noqa: B008 (frozen dataclass)
    ) -> BestRoute:
        """The engine over ``models`` routed by ``router`` (a Router or a checkpoint path).

        ``models`` is a :class:`~bestroute.pool.Pool`, or ``{name: (backend, input_price,
        output_price)}`` / ``{name: Candidate}`` (see :func:`~bestroute.pool.pool_for_router`:
        ``reference`` defaults to the one model without a router arm, ``max_n`` to the
        router's largest ``n``).
        """
        resolved = resolve_router(router)
        if isinstance(models, Pool):
            if reference is not None or max_n is not None:
                raise ConfigurationError(
                    "reference and max_n come from the Pool itself: pass them only with "
                    "models={name: (backend, input_price, output_price)}"
                )
            pool = models
        else:
            pool = pool_for_router(models, resolved.arms, reference=reference, max_n=max_n)
        return cls(
            pool,
            resolved,
            scorer,
            policy,
            query_mode=query_mode,
            sample_timeout_s=sample_timeout_s,
            batching=batching,
        )

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str],
        models: Pool | PoolModels,
        *,
        scorer: Scorer | None = None,
        threshold: float | None = None,
        max_cost_per_query: float | None = None,
        reference: str | None = None,
        max_n: int | None = None,
        query_mode: QueryMode = "last_user",
        sample_timeout_s: float | None = None,
        batching: BatchingConfig | None = BatchingConfig(),  # noqa: B008 (frozen dataclass)
    ) -> BestRoute:
        """The engine of the trained setup at ``path`` over ``models``.

        ``path`` is a folder holding ``router/`` (and optionally ``reward/`` and
        ``threshold.json``, see :mod:`bestroute.trained_setup`) or a router checkpoint itself.
        The saved reward model is the scorer unless ``scorer`` is given; the saved threshold is
        used unless ``threshold`` is given, else :data:`~bestroute.policy.DEFAULT_THRESHOLD`.
        ``models`` and the other keywords are as for :meth:`from_router`.
        """
        setup = read_trained_setup(path)
        return cls.from_router(
            models,
            setup.load_router(),
            scorer if scorer is not None else setup.load_scorer(),
            ThresholdPolicy(setup.threshold_or(threshold), max_cost_per_query),
            reference=reference,
            max_n=max_n,
            query_mode=query_mode,
            sample_timeout_s=sample_timeout_s,
            batching=batching,
        )

    # ----------------------------------------------------------------- routing
    def query_text(self, messages: Messages | str) -> str:
        """The text the router reads for ``messages``, per ``query_mode``."""
        if not isinstance(messages, str) and not isinstance(messages, Sequence):
            raise InvalidQueryError(
                f"messages must be a string or a list of messages, got {type(messages).__name__}"
            )
        text = (
            last_user_text(messages)
            if self.query_mode == "last_user"
            else conversation_text(messages)
        )
        if not text.strip():
            raise InvalidQueryError("the query is empty: give at least one non-empty user message")
        return text

    async def aroute(self, messages: Messages | str, *, query: str | None = None) -> Decision:
        """Decide the arm for one query without sampling (the router's forward is batched with
        those of concurrent calls, off the event loop)."""
        query = query if query is not None else self.query_text(messages)
        started = time.perf_counter()
        if all(isinstance(c, HeuristicCounter) for c in self._counters()):
            input_tokens = self._count_inputs(messages)
            row = await self._forward.apredict(query)
        else:  # a tokenizer or a provider's counter may block: off the loop, beside the forward
            row, input_tokens = await asyncio.gather(
                self._forward.apredict(query), asyncio.to_thread(self._count_inputs, messages)
            )
        return self._decide(query, row, input_tokens, started)

    def route(self, messages: Messages | str, *, query: str | None = None) -> Decision:
        """Decide the arm for one query without sampling."""
        query = query if query is not None else self.query_text(messages)
        started = time.perf_counter()
        row = self._forward.predict(query)
        return self._decide(query, row, self._count_inputs(messages), started)

    def _counters(self) -> list[TokenCounter]:
        return [c.counter() for c in self.pool.candidates.values()]

    def _count_inputs(self, messages: Messages | str) -> dict[str, int]:
        """Input tokens of the prompt per candidate, counted once per distinct counter."""
        prompt = messages if isinstance(messages, str) else conversation_text(messages)
        counts: dict[int, int] = {}
        result: dict[str, int] = {}
        for name, candidate in self.pool.candidates.items():
            counter = candidate.counter()
            if id(counter) not in counts:
                counts[id(counter)] = counter.count(prompt)
            result[name] = counts[id(counter)]
        return result

    def _decide(
        self, query: str, row: np.ndarray, input_tokens: dict[str, int], started: float
    ) -> Decision:
        probabilities: dict[Arm, float] = {
            arm: float(p) for arm, p in zip(self.router.arms, row, strict=True)
        }
        costs = {arm: self._estimate(arm, input_tokens[arm.model]) for arm in self.pool.arms}
        plan = self.policy.plan(probabilities, costs, self.pool.reference_arm)
        return Decision(
            query=query,
            arm=plan[0],
            plan=plan,
            probabilities={arm.key: p for arm, p in probabilities.items()},
            estimated_costs={arm.key: c for arm, c in costs.items()},
            input_tokens=input_tokens[plan[0].model],
            routing_latency_s=time.perf_counter() - started,
        )

    def _estimate(self, arm: Arm, input_tokens: int) -> float:
        candidate = self.pool.candidate(arm.model)
        calls = 1 if supports_native_n(candidate.backend) else arm.n
        return estimate_arm_cost(candidate, arm, input_tokens, calls=calls)

    # ---------------------------------------------------------------- sampling
    async def arun(
        self, messages: Messages | str, *, query: str | None = None, **params: Any
    ) -> Result:
        """Route, sample, score and select; fall back along the plan when an arm fails."""
        decision = await self.aroute(messages, query=query)
        return await self.aexecute(decision, messages, **params)

    def run(self, messages: Messages | str, *, query: str | None = None, **params: Any) -> Result:
        """Synchronous :meth:`arun`."""
        return run_sync(self.arun(messages, query=query, **params))

    async def aexecute(self, decision: Decision, messages: Messages | str, **params: Any) -> Result:
        """Sample along ``decision.plan`` until one arm returns at least one response."""
        (result,) = [
            item async for item in self._follow_plan(decision, messages, params, stream=False)
        ]
        assert isinstance(result, Result)  # without streaming, the plan yields only the Result
        return result

    # --------------------------------------------------------------- streaming
    async def astream(
        self, messages: Messages | str, *, query: str | None = None, **params: Any
    ) -> AsyncIterator[SampleChunk | Result]:
        """Route, then stream: chunks as they come when the arm has n = 1 and its backend
        streams; otherwise the selected response as one chunk after selection. The last item
        is the :class:`Result`. An arm that fails before its first chunk falls back along the
        plan; a failure after chunks were sent raises :class:`AllArmsFailedError`.
        """
        decision = await self.aroute(messages, query=query)
        async for item in self.aexecute_stream(decision, messages, **params):
            yield item

    async def aexecute_stream(
        self, decision: Decision, messages: Messages | str, **params: Any
    ) -> AsyncIterator[SampleChunk | Result]:
        """:meth:`astream` for a decision already made (a server sends it before streaming)."""
        async for item in self._follow_plan(decision, messages, params, stream=True):
            yield item

    async def _follow_plan(
        self,
        decision: Decision,
        messages: Messages | str,
        params: dict[str, Any],
        *,
        stream: bool,
    ) -> AsyncIterator[SampleChunk | Result]:
        """The fallback loop: try the plan's arms in order until one answers.

        Yields the answer's chunks when ``stream`` (as they come from an n = 1 arm whose backend
        streams, else the selected response as one chunk), then the :class:`Result`; raises
        :class:`AllArmsFailedError` when every arm failed.
        """
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        trace = Trace(decision)
        for arm in decision.plan:
            streamed = stream and self._streams(arm)
            if streamed:
                attempt = Attempt(arm)
                trace.attempts.append(attempt)
                async for chunk in self._stream_attempt(attempt, messages, params, trace):
                    yield chunk
            else:
                attempt = await self._attempt(arm, decision.query, messages, params)
                trace.attempts.append(attempt)
            if attempt.succeeded:
                assert attempt.selected is not None
                chosen = attempt.samples[attempt.selected]
                if stream and not streamed:
                    yield SampleChunk(chosen.text, chosen.message, selected=True)
                yield Result(chosen.text, chosen, trace)
                return
            logger.warning("arm %s failed (%s); falling back", arm.key, "; ".join(attempt.errors))
        raise _all_arms_failed(trace)

    def _streams(self, arm: Arm) -> bool:
        """True when ``arm`` streams its tokens: n = 1 and a backend with ``astream``."""
        backend = self.pool.candidate(arm.model).backend
        return arm.n == 1 and callable(getattr(backend, "astream", None))

    async def _stream_attempt(
        self, attempt: Attempt, messages: Messages, params: dict[str, Any], trace: Trace
    ) -> AsyncIterator[SampleChunk]:
        """Stream one response of ``attempt.arm`` into ``attempt``, yielding its chunks.

        A failure before the first chunk is recorded on the attempt (the plan goes on); one
        after chunks were sent raises :class:`AllArmsFailedError`.
        """
        sample: Sample | None = None
        sent = False
        started = time.perf_counter()
        try:
            async for item in self._stream_one(attempt.arm, messages, params):
                if isinstance(item, Sample):
                    sample = item
                else:
                    sent = True
                    yield item
        except Exception as error:
            attempt.errors.append(_describe(error))
            if sent:
                raise AllArmsFailedError(
                    f"arm {attempt.arm.key} failed mid-stream: {_describe(error)}", trace
                ) from error
            return
        attempt.sampling_latency_s = time.perf_counter() - started
        assert sample is not None
        self._record(attempt, [[sample]])
        attempt.selected = 0

    async def _stream_one(
        self, arm: Arm, messages: Messages, params: dict[str, Any]
    ) -> AsyncIterator[SampleChunk | Sample]:
        """One streamed response; ends with a complete Sample (assembled if the backend has none)."""
        candidate = self.pool.candidate(arm.model)
        backend: Any = candidate.backend
        started = time.perf_counter()
        texts: list[str] = []
        final: Sample | None = None
        async for item in backend.astream(messages, **params):
            if isinstance(item, Sample):
                final = item
            else:
                chunk = SampleChunk(item) if isinstance(item, str) else item
                texts.append(chunk.text)
                yield chunk
        if final is None:
            counter = candidate.counter()
            text = "".join(texts)
            final = Sample(
                text,
                counter.count(conversation_text(messages)),
                counter.count(text),
                time.perf_counter() - started,
            )
        yield final

    def _record(self, attempt: Attempt, results: Sequence[Sequence[Sample]]) -> None:
        """Add the samples of successful calls to ``attempt`` and bill them."""
        candidate = self.pool.candidate(attempt.arm.model)
        for result in results:
            attempt.calls += 1
            attempt.input_tokens += result[0].input_tokens
            attempt.output_tokens += sum(s.output_tokens for s in result)
            attempt.samples.extend(result)
        attempt.cost = candidate.cost(attempt.input_tokens, attempt.output_tokens)

    async def _attempt(
        self, arm: Arm, query: str, messages: Messages, params: dict[str, Any]
    ) -> Attempt:
        attempt = Attempt(arm)
        candidate = self.pool.candidate(arm.model)
        backend = candidate.backend
        if backend is None:
            attempt.errors.append(f"candidate {arm.model!r} has no backend")
            return attempt
        native = supports_native_n(backend)
        if native:
            calls = [backend.agenerate(messages, arm.n, **params)]
        else:
            calls = [backend.agenerate(messages, 1, **params) for _ in range(arm.n)]
        started = time.perf_counter()
        results = await asyncio.gather(
            *(self._bounded(call) for call in calls), return_exceptions=True
        )
        attempt.sampling_latency_s = time.perf_counter() - started
        successes: list[list[Sample]] = []
        for result in results:
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                attempt.errors.append(_describe(result))
            elif not result:
                attempt.errors.append("the backend returned no samples")
            else:
                successes.append(result)
        self._record(attempt, successes)
        if attempt.samples:
            await self._select(attempt, query)
        return attempt

    async def _bounded(self, call: Any) -> list[Sample]:
        if self.sample_timeout_s is None:
            return list(await call)
        return list(await asyncio.wait_for(call, timeout=self.sample_timeout_s))

    async def _select(self, attempt: Attempt, query: str) -> None:
        if len(attempt.samples) == 1 or self.scorer is None:
            attempt.selected = 0
            return
        started = time.perf_counter()
        try:
            texts = [s.text for s in attempt.samples]
            attempt.scores = await self._forward.ascore(query, texts)
            attempt.selected = select_best(attempt.scores)
        except Exception as error:  # a broken scorer degrades to the first sample
            logger.warning("scorer failed (%s); keeping the first sample", error)
            attempt.errors.append(f"scorer: {_describe(error)}")
            attempt.selected = 0
        attempt.scoring_latency_s = time.perf_counter() - started


def _all_arms_failed(trace: Trace) -> AllArmsFailedError:
    """The error raised when no arm of the plan returned a response, naming each arm's errors."""
    return AllArmsFailedError(
        "every arm failed: "
        + " | ".join(f"{a.arm.key}: {'; '.join(a.errors) or 'no samples'}" for a in trace.attempts),
        trace,
    )


def _describe(error: BaseException) -> str:
    if isinstance(error, asyncio.TimeoutError | TimeoutError):
        return "TimeoutError: the sample did not arrive in time"
    return f"{type(error).__name__}: {error}"
