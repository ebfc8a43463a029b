"""BestRoute: route a query to an arm, sample n responses concurrently, keep the best."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from bestroute._checks import check_timeout
from bestroute._sync import run_sync, to_worker
from bestroute.backends.base import supports_native_n
from bestroute.batched_forward import BatchedForward
from bestroute.batching import BatchingConfig
from bestroute.cost import HeuristicCounter, TokenCounter
from bestroute.deadline import DEFAULT_DEADLINE_S, DEFAULT_SAMPLE_TIMEOUT_S, Deadline
from bestroute.errors import (
    AllArmsFailedError,
    ArmMismatchError,
    ConfigurationError,
    EmptyStreamError,
    InvalidQueryError,
)
from bestroute.failures import (
    DeadlineExceededError,
    EmptyResponseError,
    is_empty,
    is_transient,
    retry_delay_s,
)
from bestroute.policy import ThresholdPolicy
from bestroute.pool import (
    Arm,
    Pool,
    PoolModels,
    arm_mismatch_message,
    estimate_arm_cost,
    pool_for_router,
)
from bestroute.router.base import Router
from bestroute.scoring.base import Scorer, select_best
from bestroute.secrets import pool_secrets, scrub_error
from bestroute.trace import Attempt, Decision, Trace
from bestroute.trained_setup import read_trained_setup, resolve_router
from bestroute.types import (
    Messages,
    Sample,
    SampleChunk,
    conversation_text,
    empty_query_reason,
    has_user_turn,
    last_user_text,
)

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
    or the whole conversation.

    Time (see :mod:`bestroute.deadline`): ``sample_timeout_s`` bounds each sampling call (and,
    streaming, the wait for each chunk); a call that times out counts as a failed sample.
    ``deadline_s`` bounds the whole call, fallbacks and retries included, on every path (sync,
    async, streaming). None removes a bound.

    Failures (see :mod:`bestroute.failures`): a model whose call raised (rate limit, auth,
    server error, timeout, dropped connection) is not tried again for the query: the plan moves
    to the next model. ``max_retries`` retries a transient failure (429, 5xx, timeout,
    connection) of the same call first, after the provider's ``Retry-After`` or an exponential
    backoff from ``retry_backoff_s``, only when the wait ends before the deadline. Empty or
    whitespace-only responses are failed samples: with n = 1 the plan goes on, with n > 1 the
    scorer picks among the others.

    Batching: ``batching`` micro-batches the router's and the reward model's forward passes
    across concurrent calls (see :mod:`bestroute.batching`); ``None`` runs each on its own.
    """

    def __init__(
        self,
        pool: Pool,
        router: Router,
        scorer: Scorer | None = None,
        policy: ThresholdPolicy | None = None,
        *,
        query_mode: QueryMode = "last_user",
        sample_timeout_s: float | None = DEFAULT_SAMPLE_TIMEOUT_S,
        deadline_s: float | None = DEFAULT_DEADLINE_S,
        max_retries: int = 0,
        retry_backoff_s: float = 0.5,
        batching: BatchingConfig | None = BatchingConfig(),  # noqa: B008 (frozen dataclass)
    ) -> None:
        if set(router.arms) != set(pool.router_arms):
            raise ArmMismatchError(arm_mismatch_message(router.arms, pool))
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
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigurationError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        self.query_mode: QueryMode = query_mode
        self.sample_timeout_s = check_timeout(sample_timeout_s, "sample_timeout_s")
        self.deadline_s = check_timeout(deadline_s, "deadline_s")
        self.max_retries = max_retries
        backoff = check_timeout(retry_backoff_s, "retry_backoff_s")
        self.retry_backoff_s = 0.5 if backoff is None else backoff
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
        sample_timeout_s: float | None = DEFAULT_SAMPLE_TIMEOUT_S,
        deadline_s: float | None = DEFAULT_DEADLINE_S,
        max_retries: int = 0,
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
            deadline_s=deadline_s,
            max_retries=max_retries,
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
        sample_timeout_s: float | None = DEFAULT_SAMPLE_TIMEOUT_S,
        deadline_s: float | None = DEFAULT_DEADLINE_S,
        max_retries: int = 0,
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
            deadline_s=deadline_s,
            max_retries=max_retries,
            batching=batching,
        )

    # ----------------------------------------------------------------- routing
    def query_text(self, messages: Messages | str) -> str:
        """The text the router reads for ``messages``, per ``query_mode``."""
        if not isinstance(messages, str) and not isinstance(messages, Sequence):
            raise InvalidQueryError(
                f"messages must be a string or a list of messages, got {type(messages).__name__}"
            )
        if self.query_mode == "last_user" and not has_user_turn(messages):
            raise InvalidQueryError(
                "the messages have no user turn (only system, assistant or tool messages): add "
                "the user's question as a user message, or build the engine with "
                "query_mode='conversation' to route on the whole conversation"
            )
        text = (
            last_user_text(messages)
            if self.query_mode == "last_user"
            else conversation_text(messages)
        )
        if not text.strip():
            raise InvalidQueryError(empty_query_reason(messages))
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
                self._forward.apredict(query), to_worker(self._count_inputs, messages)
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
        return run_sync(self.arun(messages, query=query, **params), deadline_s=self.deadline_s)

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
        """The fallback loop: try the plan's arms in order until one answers, by the deadline.

        Yields the answer's chunks when ``stream`` (as they come from an n = 1 arm whose backend
        streams, else the selected response as one chunk), then the :class:`Result`; raises
        :class:`AllArmsFailedError` when every arm failed. A model whose call raised is not
        tried again for this query (its other arms are skipped); arms left when the deadline
        passes are not tried.
        """
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        deadline = Deadline.start(self.deadline_s, self.sample_timeout_s)
        trace = Trace(decision)
        failures: list[tuple[str, BaseException]] = []
        failed_models: set[str] = set()
        for arm in decision.plan:
            if arm.model in failed_models:
                continue
            attempt = Attempt(arm)
            trace.attempts.append(attempt)
            if deadline.expired:
                error = DeadlineExceededError(
                    f"the call's deadline of {self.deadline_s:g} s passed before {arm.key} "
                    "could be tried"
                )
                self._fail(attempt, error, failures)
                break
            if stream and self._streams(arm):
                async for chunk in self._stream_attempt(
                    attempt, messages, params, trace, deadline, failures
                ):
                    yield chunk
            else:
                await self._attempt(attempt, decision.query, messages, params, deadline, failures)
            if attempt.succeeded:
                assert attempt.selected is not None
                chosen = attempt.samples[attempt.selected]
                if stream and not self._streams(arm):
                    yield SampleChunk(chosen.text, chosen.message, selected=True)
                yield Result(chosen.text, chosen, trace)
                return
            if any(
                key == arm.key and not isinstance(error, EmptyResponseError)
                for key, error in failures
            ):
                failed_models.add(arm.model)
            logger.warning("arm %s failed (%s); falling back", arm.key, "; ".join(attempt.errors))
        raise _all_arms_failed(trace, failures)

    def _fail(
        self, attempt: Attempt, error: BaseException, failures: list[tuple[str, BaseException]]
    ) -> BaseException:
        """Record a failed call of ``attempt``: its reason in the trace, the exception kept;
        an exception whose text holds a pool member's API key is kept scrubbed (returned)."""
        error = self._scrubbed(error)
        attempt.errors.append(_describe(error))
        failures.append((attempt.arm.key, error))
        return error

    def _scrubbed(self, error: BaseException) -> BaseException:
        """``error``, or an EndpointError without the pool's API keys when it holds one
        (see :mod:`bestroute.secrets`)."""
        return scrub_error(error, self._secrets())

    def _secrets(self) -> list[str]:
        return pool_secrets(self.pool)

    def _streams(self, arm: Arm) -> bool:
        """True when ``arm`` streams its tokens: n = 1 and a backend with ``astream``."""
        backend = self.pool.candidate(arm.model).backend
        return arm.n == 1 and callable(getattr(backend, "astream", None))

    async def _stream_attempt(
        self,
        attempt: Attempt,
        messages: Messages,
        params: dict[str, Any],
        trace: Trace,
        deadline: Deadline,
        failures: list[tuple[str, BaseException]],
    ) -> AsyncIterator[SampleChunk]:
        """Stream one response of ``attempt.arm`` into ``attempt``, yielding its chunks.

        The first chunk and each next one must come within the call timeout. Leading chunks
        without visible text are held back until one has text (or the response turns out to
        have tool calls), so an empty response sends nothing and falls back. A failure before
        anything was sent is recorded on the attempt (after retries of transient failures,
        the plan goes on); one after chunks were sent raises :class:`AllArmsFailedError`.
        """
        sent = False
        for retry in range(self.max_retries + 1):
            held: list[SampleChunk] = []
            sample: Sample | None = None
            started = time.perf_counter()
            stream = self._stream_one(attempt.arm, messages, params).__aiter__()
            try:
                while True:
                    try:
                        item = await asyncio.wait_for(
                            stream.__anext__(), timeout=deadline.call_timeout()
                        )
                    except StopAsyncIteration:
                        break
                    if isinstance(item, Sample):
                        sample = item
                    elif sent or item.text.strip():
                        for chunk in [*held, item]:
                            yield chunk
                        held.clear()
                        sent = True
                    else:
                        held.append(item)
            except Exception as error:
                await _close(stream)
                if sent:
                    kept = self._fail(attempt, error, failures)
                    raise _mid_stream(attempt, kept, trace, failures) from kept
                if retry < self.max_retries and await self._backoff(error, retry, deadline):
                    continue
                self._fail(attempt, error, failures)
                return
            attempt.sampling_latency_s = time.perf_counter() - started
            assert sample is not None
            self._record(attempt, [[sample]])
            if is_empty(sample):
                attempt.samples.clear()
                self._fail(attempt, _empty(attempt.arm), failures)
                return
            for chunk in held:
                yield chunk
            attempt.selected = 0
            return

    async def _stream_one(
        self, arm: Arm, messages: Messages, params: dict[str, Any]
    ) -> AsyncIterator[SampleChunk | Sample]:
        """One streamed response; ends with a complete Sample (assembled if the backend has none).

        A stream that ends without a single item (no chunk, no Sample) was cut or was not a
        stream at all: that is a failure of the model's call (:class:`EmptyStreamError`), so the
        plan moves to the next model, not an empty answer that its other arms would retry.
        """
        candidate = self.pool.candidate(arm.model)
        backend: Any = candidate.backend
        started = time.perf_counter()
        texts: list[str] = []
        final: Sample | None = None
        items = 0
        async for item in backend.astream(messages, **params):
            items += 1
            if isinstance(item, Sample):
                final = item
            else:
                chunk = SampleChunk(item) if isinstance(item, str) else item
                texts.append(chunk.text)
                yield chunk
        if items == 0:
            raise EmptyStreamError(
                f"{arm.model}'s stream ended before its first chunk (a dropped connection or an "
                "answer that was not a stream)"
            )
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
        self,
        attempt: Attempt,
        query: str,
        messages: Messages,
        params: dict[str, Any],
        deadline: Deadline,
        failures: list[tuple[str, BaseException]],
    ) -> None:
        """Draw ``attempt.arm``'s samples, drop the failed and empty ones, select among the rest."""
        arm = attempt.arm
        backend = self.pool.candidate(arm.model).backend
        if backend is None:
            self._fail(
                attempt, ConfigurationError(f"candidate {arm.model!r} has no backend"), failures
            )
            return
        count, per_call = (1, arm.n) if supports_native_n(backend) else (arm.n, 1)
        started = time.perf_counter()
        preparing = self._prepare_scoring(arm, query)
        try:
            results = await asyncio.gather(
                *(self._call(backend, messages, per_call, params, deadline) for _ in range(count)),
                return_exceptions=True,
            )
            attempt.sampling_latency_s = time.perf_counter() - started
            self._keep_successes(attempt, results, failures)
            if attempt.samples:
                if preparing is not None:  # the query's embedding, ready or nearly so
                    await asyncio.wait([preparing])
                await self._select(attempt, query)
        finally:
            if preparing is not None and not preparing.done():
                preparing.cancel()

    def _keep_successes(
        self,
        attempt: Attempt,
        results: Sequence[list[Sample] | BaseException],
        failures: list[tuple[str, BaseException]],
    ) -> None:
        """Record the samples of the calls that succeeded; fail the rest and empty samples."""
        arm = attempt.arm
        successes: list[list[Sample]] = []
        for result in results:
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                self._fail(attempt, result, failures)
            elif not result:
                self._fail(attempt, EmptyResponseError("the backend returned no samples"), failures)
            else:
                successes.append(result)
        self._record(attempt, successes)
        survivors = [sample for sample in attempt.samples if not is_empty(sample)]
        for _ in range(len(attempt.samples) - len(survivors)):
            self._fail(attempt, _empty(arm), failures)
        attempt.samples[:] = survivors

    async def _call(
        self,
        backend: Any,
        messages: Messages,
        n: int,
        params: dict[str, Any],
        deadline: Deadline,
    ) -> list[Sample]:
        """One sampling call within the call timeout; transient failures are retried (up to
        ``max_retries``) after their Retry-After or a backoff, when the deadline allows."""
        for retry in range(self.max_retries + 1):
            try:
                return list(
                    await asyncio.wait_for(
                        backend.agenerate(messages, n, **params), timeout=deadline.call_timeout()
                    )
                )
            except Exception as error:
                if retry < self.max_retries and await self._backoff(error, retry, deadline):
                    continue
                raise
        raise AssertionError("unreachable: the last try returns or raises")

    async def _backoff(self, error: BaseException, retry: int, deadline: Deadline) -> bool:
        """Wait before retrying a transient ``error``; False (no wait) when it is not transient
        or the wait would end past the deadline."""
        if not is_transient(error):
            return False
        wait = retry_delay_s(error, retry, self.retry_backoff_s)
        left = deadline.remaining()
        if left is not None and wait >= left:
            return False
        logger.info("retrying after %.2f s (%s)", wait, _describe(self._scrubbed(error)))
        await asyncio.sleep(wait)
        return True

    def _prepare_scoring(self, arm: Arm, query: str) -> asyncio.Task[None] | None:
        """Start the scorer's query-side work for an n > 1 arm, to overlap the sampling."""
        if arm.n == 1 or self.scorer is None:
            return None
        task = asyncio.ensure_future(self._forward.aprepare(query))
        task.add_done_callback(_log_preparing_failure)
        return task

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
            kept = self._scrubbed(error)
            logger.warning("scorer failed (%s); keeping the first sample", kept)
            attempt.errors.append(f"scorer: {_describe(kept)}")
            attempt.selected = 0
        attempt.scoring_latency_s = time.perf_counter() - started


def _log_preparing_failure(task: asyncio.Task[None]) -> None:
    """Preparing is an optimisation: a failure is logged (scoring redoes the work)."""
    if not task.cancelled() and task.exception() is not None:
        logger.debug("the scorer could not prepare the query: %r", task.exception())


def _all_arms_failed(trace: Trace, failures: list[tuple[str, BaseException]]) -> AllArmsFailedError:
    """The error raised when no arm of the plan returned a response, naming each arm's errors;
    the last exception is its cause."""
    error = AllArmsFailedError(
        "every arm failed: "
        + " | ".join(f"{a.arm.key}: {'; '.join(a.errors) or 'no samples'}" for a in trace.attempts),
        trace,
        failures,
    )
    if failures:
        error.__cause__ = failures[-1][1]
    return error


def _mid_stream(
    attempt: Attempt,
    error: BaseException,
    trace: Trace,
    failures: list[tuple[str, BaseException]],
) -> AllArmsFailedError:
    return AllArmsFailedError(
        f"arm {attempt.arm.key} failed mid-stream: {_describe(error)}", trace, failures
    )


def _empty(arm: Arm) -> EmptyResponseError:
    return EmptyResponseError(f"{arm.model} answered with an empty response")


async def _close(stream: Any) -> None:
    """Close an abandoned async generator so its HTTP stream is released now."""
    closer = getattr(stream, "aclose", None)
    if closer is not None:
        with contextlib.suppress(Exception):
            await closer()


def _describe(error: BaseException) -> str:
    if isinstance(error, DeadlineExceededError):
        return f"DeadlineExceededError: {error}"
    if isinstance(error, asyncio.TimeoutError | TimeoutError):
        return "TimeoutError: the sample did not arrive in time"
    return f"{type(error).__name__}: {error}"
