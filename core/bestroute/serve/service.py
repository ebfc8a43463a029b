"""One routed chat completion: the engine under the request's policy, the answer, the metrics.

:class:`RoutingService` is what the HTTP app calls; it knows nothing of HTTP beyond the error
statuses in :class:`~bestroute.serve.protocol.RequestError`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from bestroute.engine import BestRoute, Result
from bestroute.errors import AllArmsFailedError, RequestError
from bestroute.policy import ThresholdPolicy
from bestroute.serve.metrics import ServeMetrics
from bestroute.serve.protocol import ChatRequest
from bestroute.serve.responses import (
    chunk_delta,
    chunk_event,
    completion_body,
    completion_id,
    finish_reason,
    response_message,
    routing_details,
    routing_headers,
    usage,
)
from bestroute.serve.settings import ServeSettings
from bestroute.trace import Trace
from bestroute.types import SampleChunk

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    """A non-streaming answer: the JSON body and the ``x-bestroute-*`` headers."""

    body: dict[str, Any]
    headers: dict[str, str]


@dataclasses.dataclass(slots=True)
class StreamingAnswer:
    """A streaming answer: headers (known once routed) and the SSE events to send.

    ``failed`` turns True when the stream broke after it started (it then ends with an error
    event).
    """

    headers: dict[str, str]
    events: AsyncIterator[str] | None = None
    failed: bool = False


class RoutingService:
    """Answers Chat Completions requests with a :class:`~bestroute.engine.BestRoute` engine.

    The engine's policy is the server's; a request's ``threshold`` and ``max_cost`` override it
    for that request only (the server's ``max_n`` and cost cap still hold).
    """

    def __init__(
        self,
        engine: BestRoute,
        settings: ServeSettings | None = None,
        metrics: ServeMetrics | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings or ServeSettings()
        self.metrics = metrics or ServeMetrics()
        policy = engine.policy
        cap = self.settings.max_cost_per_query
        if cap is not None and (
            policy.max_cost_per_query is None or policy.max_cost_per_query > cap
        ):
            policy = dataclasses.replace(policy, max_cost_per_query=cap)
        #: The server's policy: the engine's, under the server's cost cap.
        self.policy = policy

    @property
    def reference_key(self) -> str:
        return self.engine.pool.reference_arm.key

    def policy_for(self, request: ChatRequest) -> ThresholdPolicy:
        """The server's policy with the request's threshold and cost cap, if it set them."""
        policy = self.policy
        changes: dict[str, Any] = {}
        if request.threshold is not None:
            changes["threshold"] = request.threshold
        if request.max_cost is not None:
            changes["max_cost_per_query"] = request.max_cost
        return dataclasses.replace(policy, **changes) if changes else policy

    def _engine_for(self, policy: ThresholdPolicy) -> BestRoute:
        if policy is self.engine.policy:
            return self.engine
        engine = copy.copy(self.engine)  # shares pool, router and scorer; only the policy differs
        engine.policy = policy
        return engine

    # ------------------------------------------------------------------ answers

    async def complete(self, request: ChatRequest) -> Answer:
        """Route, sample, select; raises RequestError (400 bad query, 502 every arm failed)."""
        policy = self.policy_for(request)
        engine = self._engine_for(policy)
        decision = await engine.aroute(request.messages)
        try:
            result = await engine.aexecute(decision, request.messages, **request.params)
        except AllArmsFailedError as error:
            raise self._all_failed(error) from None
        trace = result.trace
        self.metrics.observe_trace(trace, self.reference_key)
        details = routing_details(trace, policy, self.reference_key)
        return Answer(
            completion_body(trace, result.sample, details, completion_id()),
            routing_headers(decision, policy, self.reference_key, trace),
        )

    async def stream(self, request: ChatRequest) -> StreamingAnswer:
        """Route, then stream; an error before the first chunk raises (and is answered as
        JSON), a later one ends the stream with an error event."""
        policy = self.policy_for(request)
        engine = self._engine_for(policy)
        decision = await engine.aroute(request.messages)
        items = engine.aexecute_stream(decision, request.messages, **request.params)
        try:
            first = await anext(items)
        except AllArmsFailedError as error:
            raise self._all_failed(error) from None
        answer = StreamingAnswer(routing_headers(decision, policy, self.reference_key))
        answer.events = self._events(request, policy, first, items, decision.arm.model, answer)
        return answer

    async def _events(
        self,
        request: ChatRequest,
        policy: ThresholdPolicy,
        first: SampleChunk | Result,
        items: AsyncIterator[SampleChunk | Result],
        routed_model: str,
        answer: StreamingAnswer,
    ) -> AsyncIterator[str]:
        ident, created = completion_id(), int(time.time())
        model = routed_model
        yield chunk_event(ident, model, created, {"role": "assistant", "content": ""})
        item: SampleChunk | Result | None = first
        sent_calls = False
        try:
            while not isinstance(item, Result):
                assert item is not None
                content, calls = chunk_delta(item)
                if content:
                    yield chunk_event(ident, model, created, {"content": content})
                if calls:
                    sent_calls = True
                    yield chunk_event(ident, model, created, {"tool_calls": _indexed(calls)})
                item = await anext(items)
        except Exception as error:
            trace = getattr(error, "trace", None)
            if isinstance(trace, Trace):
                self.metrics.observe_trace(trace, self.reference_key)
            logger.warning("stream failed mid-way: %s", error)
            answer.failed = True
            failure = RequestError(
                502, f"the answer stopped mid-stream: {error}", code="stream_failed"
            )
            yield f"data: {json.dumps(failure.body(), ensure_ascii=False)}\n\n"
            yield "data: [DONE]\n\n"
            return
        finally:
            await _close(items)
        result = item
        trace = result.trace
        self.metrics.observe_trace(trace, self.reference_key)
        _, calls = response_message(result.sample)
        if calls and not sent_calls:
            yield chunk_event(ident, model, created, {"tool_calls": _indexed(calls)})
        model = result.arm.model
        details = routing_details(trace, policy, self.reference_key)
        finish = finish_reason(result.sample, bool(calls))
        yield chunk_event(ident, model, created, {}, finish, bestroute=details)
        if request.include_usage:
            yield chunk_event(ident, model, created, None, usage=usage(trace))
        yield "data: [DONE]\n\n"

    def _all_failed(self, error: AllArmsFailedError) -> RequestError:
        trace = error.trace
        arms: list[dict[str, Any]] = []
        if isinstance(trace, Trace):
            self.metrics.observe_trace(trace, self.reference_key)
            arms = [
                {"arm": attempt.arm.key, "errors": list(attempt.errors) or ["no samples"]}
                for attempt in trace.attempts
            ]
        return RequestError(502, str(error), code="all_arms_failed", details={"attempts": arms})


def _indexed(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"index": index, **call} for index, call in enumerate(calls)]


async def _close(items: AsyncIterator[Any]) -> None:
    close = getattr(items, "aclose", None)
    if close is not None:
        await close()
