"""Conversions between the engine's types and the OpenAI Chat Completions wire format.

Used by :mod:`bestroute.backends.openai_compatible` (requests out, responses in) and by the
``bestroute serve`` server (responses out). Framework-free: LangChain and LlamaIndex messages
are read through their ``role``/``type`` and ``content`` attributes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from bestroute.types import Messages, message_text

#: LangChain message types and LlamaIndex roles, as OpenAI roles.
_ROLES = {"human": "user", "ai": "assistant", "chatbot": "assistant", "function": "tool"}
_MESSAGE_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id")


def to_openai_messages(messages: Messages | str) -> list[dict[str, Any]]:
    """The conversation as OpenAI-style message dicts.

    Dicts keep their OpenAI keys (``role``, ``content``, ``name``, ``tool_calls``,
    ``tool_call_id``); other message objects become ``{"role", "content"}`` with their text.
    """
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    converted: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, str):
            converted.append({"role": "user", "content": message})
        elif isinstance(message, Mapping):
            item = {key: message[key] for key in _MESSAGE_KEYS if key in message}
            item["role"] = _ROLES.get(str(item.get("role", "user")), item.get("role", "user"))
            converted.append(item)
        else:
            role = getattr(message, "role", None) or getattr(message, "type", "user")
            role = str(getattr(role, "value", role))
            converted.append({"role": _ROLES.get(role, role), "content": message_text(message)})
    return converted


def scoring_text(content: str | None, tool_calls: Sequence[Mapping[str, Any]] | None) -> str:
    """What scorers read: the content, then the tool calls as JSON (as the local backend does)."""
    content = content or ""
    if not tool_calls:
        return content
    summary = json.dumps(
        [
            {
                "name": call.get("function", {}).get("name"),
                "arguments": _arguments(call.get("function", {}).get("arguments")),
            }
            for call in tool_calls
        ],
        ensure_ascii=False,
    )
    return f"{content}\n{summary}" if content else summary


def assistant_message(
    content: str | None, tool_calls: Sequence[Mapping[str, Any]] | None
) -> dict[str, Any]:
    """An OpenAI-style assistant message dict (``tool_calls`` only when there are some)."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = [dict(call) for call in tool_calls]
    return message


def split_tokens(total: int, weights: Sequence[int]) -> list[int]:
    """``total`` split over the choices in proportion to ``weights`` (sums to ``total`` exactly).

    An endpoint reports one ``completion_tokens`` for all ``n`` choices of a call; each sample
    gets its share by its own (counted) length, so the bill stays the endpoint's.
    """
    if not weights:
        return []
    weight_sum = sum(weights)
    if weight_sum <= 0:
        base, extra = divmod(total, len(weights))
        return [base + (1 if i < extra else 0) for i in range(len(weights))]
    shares = [total * w // weight_sum for w in weights]
    remainder = total - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: -weights[i])
    for i in range(remainder):
        shares[order[i % len(order)]] += 1
    return shares


def merge_tool_call_deltas(
    calls: dict[int, dict[str, Any]], deltas: Sequence[Mapping[str, Any]]
) -> None:
    """Accumulate streamed tool-call deltas (by ``index``) into complete OpenAI tool calls."""
    for delta in deltas:
        index = int(delta.get("index", 0))
        call = calls.setdefault(
            index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
        )
        if delta.get("id"):
            call["id"] = delta["id"]
        function = delta.get("function") or {}
        if function.get("name"):
            call["function"]["name"] += function["name"]
        if function.get("arguments"):
            call["function"]["arguments"] += function["arguments"]


def _arguments(raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw if raw is not None else {}
    try:
        return json.loads(raw)
    except ValueError:
        return raw
