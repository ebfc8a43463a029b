"""Translations between LlamaIndex objects and the engine's plain data (messages, tool calls, usage)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    MessageRole,
    ToolCallBlock,
)
from llama_index.core.callbacks.token_counting import get_tokens_from_response
from llama_index.core.llms.llm import LLM, ToolSelection
from llama_index.core.llms.utils import parse_partial_json

from bestroute.types import Messages

logger = logging.getLogger(__name__)


def as_chat_messages(messages: Messages | str) -> list[ChatMessage]:
    """LlamaIndex ChatMessages for ``messages``: ChatMessages pass through untouched, OpenAI-style
    dicts and plain strings (a user turn) are converted."""
    if isinstance(messages, str):
        return [ChatMessage(role=MessageRole.USER, content=messages)]
    converted: list[ChatMessage] = []
    for message in messages:
        if isinstance(message, ChatMessage):
            converted.append(message)
        elif isinstance(message, Mapping):
            extra = {k: v for k, v in message.items() if k not in ("role", "content")}
            converted.append(
                ChatMessage(
                    role=message.get("role", "user"),
                    content=message.get("content"),
                    additional_kwargs=extra,
                )
            )
        else:
            converted.append(ChatMessage(role=MessageRole.USER, content=str(message)))
    return converted


def parse_tool_calls(message: ChatMessage) -> list[ToolSelection]:
    """The tool calls a message carries, read the way LlamaIndex LLMs write them: ToolCallBlocks
    (llama-index-core >= 0.14) or OpenAI-style ``additional_kwargs["tool_calls"]``."""
    selections: list[ToolSelection] = []
    for block in message.blocks:
        if isinstance(block, ToolCallBlock):
            selections.append(
                ToolSelection(
                    tool_id=block.tool_call_id or "",
                    tool_name=block.tool_name,
                    tool_kwargs=_arguments(block.tool_kwargs),
                )
            )
    if selections:
        return selections
    for call in message.additional_kwargs.get("tool_calls") or []:
        if isinstance(call, ToolSelection):
            selections.append(call)
            continue
        data = call if isinstance(call, Mapping) else _as_dict(call)
        function = data.get("function") or {}
        if not isinstance(function, Mapping):
            function = _as_dict(function)
        name = function.get("name") or data.get("name")
        if not name:
            continue
        selections.append(
            ToolSelection(
                tool_id=str(data.get("id") or ""),
                tool_name=str(name),
                tool_kwargs=_arguments(function.get("arguments", data.get("arguments", {}))),
            )
        )
    return selections


def tool_calls_of(llm: LLM | None, response: ChatResponse) -> list[ToolSelection]:
    """Tool calls in ``response``, read by the LLM that wrote it when it knows how, else parsed."""
    get = getattr(llm, "get_tool_calls_from_response", None)
    if callable(get):
        try:
            return list(get(response, error_on_no_tool_call=False))
        except NotImplementedError:
            pass
        except Exception as error:  # a partial or odd response: fall back to the generic reader
            logger.debug("get_tool_calls_from_response failed (%s); parsing the message", error)
    return parse_tool_calls(response.message)


def scoring_text(content: str | None, tool_calls: Sequence[ToolSelection]) -> str:
    """What the scorer reads: the content, then the tool calls as JSON when there are any."""
    text = content or ""
    if not tool_calls:
        return text
    calls = json.dumps(
        [{"name": call.tool_name, "arguments": call.tool_kwargs} for call in tool_calls],
        ensure_ascii=False,
        default=str,
    )
    return f"{text}\n{calls}" if text else calls


def usage_of(response: ChatResponse | CompletionResponse | None) -> tuple[int, int]:
    """``(input_tokens, output_tokens)`` the response reports (0 where it reports nothing), read
    with the same keys LlamaIndex's ``TokenCountingHandler`` uses."""
    if response is None:
        return 0, 0
    try:
        prompt, completion = get_tokens_from_response(response)
    except Exception:  # raw of an unexpected shape: count instead
        return 0, 0
    return int(prompt or 0), int(completion or 0)


def response_content(response: ChatResponse | CompletionResponse) -> str:
    """The visible text of a chat or completion response."""
    if isinstance(response, CompletionResponse):
        return response.text or ""
    return response.message.content or ""


def _arguments(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            try:
                parsed = parse_partial_json(value)
            except (ValueError, TypeError):
                return {}
        return dict(parsed) if isinstance(parsed, Mapping) else {}
    return {}


def _as_dict(value: Any) -> dict[str, Any]:
    dump = getattr(value, "model_dump", None) or getattr(value, "dict", None)
    if callable(dump):
        try:
            result = dump()
            return dict(result) if isinstance(result, Mapping) else {}
        except Exception:
            return {}
    return dict(getattr(value, "__dict__", {}))
