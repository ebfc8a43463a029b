"""Chat Completions response bodies, stream chunks and ``x-bestroute-*`` headers from a trace."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

from bestroute.policy import ThresholdPolicy
from bestroute.trace import Decision, Trace
from bestroute.types import Sample, SampleChunk


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def response_message(sample: Sample) -> tuple[str | None, list[dict[str, Any]]]:
    """The selected response's content and OpenAI-style tool calls, whatever backend drew it.

    Reads an OpenAI-style dict (local and OpenAI-compatible backends), a LangChain ``AIMessage``
    (``content`` and ``tool_calls`` with ``args``), else the sample's text.
    """
    message = sample.message
    if isinstance(message, Mapping):
        content = message.get("content")
        calls = [dict(call) for call in message.get("tool_calls") or []]
        return (content if isinstance(content, str) or content is None else sample.text), calls
    calls_attr = getattr(message, "tool_calls", None)
    if message is not None and isinstance(calls_attr, list):
        text = getattr(message, "text", None)
        content = text if isinstance(text, str) else str(getattr(message, "content", ""))
        return content, [_openai_call(call) for call in calls_attr]
    return sample.text, []


def routing_details(trace: Trace, policy: ThresholdPolicy, reference_key: str) -> dict[str, Any]:
    """The ``bestroute`` extension field: how the answer was chosen and what it cost."""
    decision = trace.decision
    final = trace.final
    return {
        "arm": final.arm.key if final else None,
        "model": final.arm.model if final else None,
        "n": final.arm.n if final else None,
        "routed_arm": decision.arm.key,
        "plan": [arm.key for arm in decision.plan],
        "threshold": policy.threshold,
        "max_cost_per_query": policy.max_cost_per_query,
        "probabilities": dict(decision.probabilities),
        "scores": list(final.scores) if final else [],
        "selected": final.selected if final else None,
        "estimated_cost": decision.estimated_cost,
        "actual_cost": trace.actual_cost,
        "reference_estimated_cost": decision.estimated_costs.get(reference_key),
        "latency_s": {
            "routing": trace.routing_latency_s,
            "sampling": trace.sampling_latency_s,
            "scoring": trace.scoring_latency_s,
        },
        "attempts": [
            {
                "arm": attempt.arm.key,
                "calls": attempt.calls,
                "samples": len(attempt.samples),
                "errors": list(attempt.errors),
                "input_tokens": attempt.input_tokens,
                "output_tokens": attempt.output_tokens,
                "cost": attempt.cost,
            }
            for attempt in trace.attempts
        ],
    }


def routing_headers(
    decision: Decision, policy: ThresholdPolicy, reference_key: str, trace: Trace | None = None
) -> dict[str, str]:
    """``x-bestroute-*`` headers: the arm (as answered, or as routed before a stream starts)."""
    final = trace.final if trace is not None else None
    arm = final.arm if final is not None else decision.arm
    headers = {
        "x-bestroute-arm": arm.key,
        "x-bestroute-model": arm.model,
        "x-bestroute-n": str(arm.n),
        "x-bestroute-threshold": f"{policy.threshold:g}",
        "x-bestroute-probability": _probability(decision, arm.key),
        "x-bestroute-estimated-cost": f"{decision.estimated_costs[arm.key]:.8f}",
        "x-bestroute-reference-estimated-cost": f"{decision.estimated_costs.get(reference_key, 0.0):.8f}",
    }
    if trace is not None:
        headers["x-bestroute-actual-cost"] = f"{trace.actual_cost:.8f}"
    return headers


def usage(trace: Trace) -> dict[str, int]:
    """Tokens billed over every sample of every arm tried (input once per call)."""
    return {
        "prompt_tokens": trace.input_tokens,
        "completion_tokens": trace.output_tokens,
        "total_tokens": trace.input_tokens + trace.output_tokens,
    }


def completion_body(
    trace: Trace, sample: Sample, details: Mapping[str, Any], ident: str
) -> dict[str, Any]:
    """A ``chat.completion`` object; ``model`` is the pool member that answered."""
    content, calls = response_message(sample)
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = calls
    final = trace.final
    return {
        "id": ident,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": final.arm.model if final else trace.decision.arm.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason(sample, bool(calls)),
                "logprobs": None,
            }
        ],
        "usage": usage(trace),
        "bestroute": dict(details),
    }


def finish_reason(sample: Sample, has_calls: bool) -> str:
    if has_calls:
        return "tool_calls"
    reason = sample.metadata.get("finish_reason") if sample.metadata else None
    return str(reason) if reason in ("stop", "length", "content_filter") else "stop"


def chunk_event(
    ident: str,
    model: str,
    created: int,
    delta: Mapping[str, Any] | None,
    finish: str | None = None,
    **extra: Any,
) -> str:
    """One SSE event holding a ``chat.completion.chunk`` (no choices when ``delta`` is None)."""
    choices = (
        []
        if delta is None
        else [{"index": 0, "delta": dict(delta), "finish_reason": finish, "logprobs": None}]
    )
    payload = {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": choices,
        **extra,
    }
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def chunk_delta(chunk: SampleChunk) -> tuple[str, list[dict[str, Any]]]:
    """The content and tool calls a streamed chunk adds (a selected chunk is a whole answer)."""
    if chunk.selected:
        message = chunk.message
        sample = Sample(chunk.text, 0, 0, message=message)
        content, calls = response_message(sample)
        return content or "", calls
    return chunk.text, []


def _openai_call(call: Any) -> dict[str, Any]:
    """A LangChain tool call (``name``, ``args``, ``id``) as an OpenAI tool call."""
    if isinstance(call, Mapping) and "function" in call:
        return dict(call)
    name = call.get("name") if isinstance(call, Mapping) else getattr(call, "name", "")
    args = call.get("args", {}) if isinstance(call, Mapping) else getattr(call, "args", {})
    ident = call.get("id") if isinstance(call, Mapping) else getattr(call, "id", None)
    return {
        "id": ident or f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False)},
    }


def _probability(decision: Decision, key: str) -> str:
    value = decision.probabilities.get(key)
    return "reference" if value is None else f"{value:.4f}"
