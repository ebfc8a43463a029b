"""Reading a Chat Completions request, and the OpenAI-style error objects the server answers with.

A request is the OpenAI body (``model``, ``messages``, ``stream``, ``temperature``...), plus an
optional extension object ``"bestroute": {"threshold": 0.6, "max_cost": 0.002}`` that
overrides the routing threshold and caps the dollar cost of this request, within the server's
:class:`~bestroute.serve.settings.ServeSettings`. With the ``openai`` client it is sent as
``extra_body={"bestroute": {...}}``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bestroute.errors import RequestError
from bestroute.serve.settings import ServeSettings

#: Message roles the server accepts.
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
#: Request fields handed to every sampled call (``max_completion_tokens`` is read as ``max_tokens``).
CALL_PARAMS = ("temperature", "top_p", "max_tokens", "stop", "seed", "tools", "tool_choice")


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A validated Chat Completions request."""

    model: str
    messages: list[dict[str, Any]]
    stream: bool = False
    include_usage: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    threshold: float | None = None
    max_cost: float | None = None


def parse_chat_request(raw: bytes, settings: ServeSettings) -> ChatRequest:
    """The request in ``raw`` (the HTTP body), or a :class:`RequestError` saying what is wrong."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise RequestError(
            400, f"the request body is not valid JSON ({error})", code="invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise RequestError(400, "the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _missing("model", f'a model name: "{settings.model_name}"')
    if model != settings.model_name:
        raise RequestError(
            404,
            f"the model {model!r} does not exist on this server; use {settings.model_name!r} "
            "(GET /v1/models lists it)",
            param="model",
            code="model_not_found",
        )
    messages = _messages(body.get("messages"))
    if body.get("n") not in (None, 1):
        raise RequestError(
            400,
            "n must be 1: the server routes each request to one answer (the best of the "
            "arm's samples)",
            param="n",
        )
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError(400, "stream must be true or false", param="stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise RequestError(400, "stream_options must be an object", param="stream_options")
    threshold, max_cost = _overrides(body.get("bestroute"), settings)
    return ChatRequest(
        model=model,
        messages=messages,
        stream=stream,
        include_usage=bool(options.get("include_usage", False)),
        params=_call_params(body, settings),
        threshold=threshold,
        max_cost=max_cost,
    )


def _messages(value: Any) -> list[dict[str, Any]]:
    if value is None:
        raise _missing("messages", 'a list like [{"role": "user", "content": "Hello"}]')
    if not isinstance(value, list) or not value:
        raise RequestError(400, "messages must be a non-empty list", param="messages")
    for index, message in enumerate(value):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise RequestError(400, f"{where} must be an object", param=where)
        role = message.get("role")
        if role not in ROLES:
            raise RequestError(
                400, f"{where}.role must be one of {sorted(ROLES)}, got {role!r}", param=where
            )
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise RequestError(
                400, f"{where}.content must be a string or a list of parts", param=where
            )
        if content is None and role != "assistant":
            raise _missing(f"{where}.content", "the message text")
    return [dict(message) for message in value]


def _call_params(body: Mapping[str, Any], settings: ServeSettings) -> dict[str, Any]:
    params = {key: body[key] for key in CALL_PARAMS if body.get(key) is not None}
    if body.get("max_completion_tokens") is not None and "max_tokens" not in params:
        params["max_tokens"] = body["max_completion_tokens"]
    for key, low, high in (("temperature", 0.0, 2.0), ("top_p", 0.0, 1.0)):
        if key in params and not _number_in(params[key], low, high):
            raise RequestError(400, f"{key} must be a number in [{low}, {high}]", param=key)
    if "max_tokens" in params:
        value = params["max_tokens"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise RequestError(400, "max_tokens must be an integer >= 1", param="max_tokens")
        if settings.max_tokens is not None and value > settings.max_tokens:
            raise RequestError(
                400,
                f"max_tokens {value} is over this server's limit of {settings.max_tokens}",
                param="max_tokens",
            )
    if "seed" in params and (
        isinstance(params["seed"], bool) or not isinstance(params["seed"], int)
    ):
        raise RequestError(400, "seed must be an integer", param="seed")
    stop = params.get("stop")
    if stop is not None and not (
        isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(s, str) for s in stop))
    ):
        raise RequestError(400, "stop must be a string or a list of strings", param="stop")
    if "tools" in params and not isinstance(params["tools"], list):
        raise RequestError(400, "tools must be a list of tool objects", param="tools")
    return params


def _overrides(value: Any, settings: ServeSettings) -> tuple[float | None, float | None]:
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise RequestError(400, "bestroute must be an object", param="bestroute")
    unknown = sorted(set(value) - {"threshold", "max_cost"})
    if unknown:
        raise RequestError(
            400,
            f"unknown bestroute option(s) {unknown}; allowed: threshold, max_cost",
            param="bestroute",
        )
    threshold = value.get("threshold")
    if threshold is not None and not _number_in(
        threshold, settings.min_threshold, settings.max_threshold
    ):
        raise RequestError(
            400,
            f"bestroute.threshold must be a number in [{settings.min_threshold}, "
            f"{settings.max_threshold}] on this server, got {threshold!r}",
            param="bestroute.threshold",
        )
    max_cost = value.get("max_cost")
    if max_cost is not None:
        cap = settings.max_cost_per_query
        if not _number_in(max_cost, 0.0, math.inf) or not 0 < max_cost < math.inf:
            raise RequestError(
                400,
                "bestroute.max_cost must be a number of dollars > 0",
                param="bestroute.max_cost",
            )
        if cap is not None and max_cost > cap:
            raise RequestError(
                400,
                f"bestroute.max_cost {max_cost} is over this server's cap of ${cap} per query",
                param="bestroute.max_cost",
            )
    return (
        None if threshold is None else float(threshold),
        None if max_cost is None else float(max_cost),
    )


def _number_in(value: Any, low: float, high: float) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return False
    return low <= value <= high


def _missing(name: str, what: str) -> RequestError:
    return RequestError(400, f"missing required field {name!r}: give {what}", param=name)
