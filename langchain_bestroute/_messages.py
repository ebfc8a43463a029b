"""Conversions between LangChain messages and what the engine and local backends read."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    convert_to_openai_messages,
)
from langchain_core.messages.tool import tool_call_chunk


def response_text(message: BaseMessage) -> str:
    """What scorers read: the text content, then the tool calls as JSON (when there are any)."""
    text = message.text
    calls = getattr(message, "tool_calls", None) or []
    if not calls:
        return text
    summary = json.dumps(
        [{"name": call["name"], "arguments": call.get("args", {})} for call in calls],
        ensure_ascii=False,
    )
    return f"{text}\n{summary}" if text else summary


def usage_counts(message: BaseMessage) -> tuple[int | None, int | None]:
    """``(input_tokens, output_tokens)`` from ``usage_metadata``; ``None`` where not reported."""
    usage = getattr(message, "usage_metadata", None)
    if not usage:
        return None, None
    return usage.get("input_tokens"), usage.get("output_tokens")


def to_openai_messages(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """OpenAI-style dicts with string content (tool calls and tool results kept)."""
    converted = convert_to_openai_messages(list(messages), text_format="string")
    return [dict(message) for message in converted]


def passthrough_chunk(chunk: AIMessageChunk) -> AIMessageChunk:
    """A pool model's streamed chunk as the router's own chunk.

    Content, tool-call chunks and provider kwargs pass through; usage, response metadata and
    the id are dropped, since the router reports its own (summed) usage and metadata once, on
    its last chunk, and LangChain gives the router's chunks the router run's id.
    """
    return AIMessageChunk(
        content=chunk.content,
        additional_kwargs=dict(chunk.additional_kwargs),
        tool_call_chunks=list(chunk.tool_call_chunks),
    )


def message_as_chunk(message: Any) -> AIMessageChunk:
    """A whole (selected) response as one chunk, its tool calls as complete tool-call chunks."""
    if isinstance(message, AIMessageChunk):
        return passthrough_chunk(message)
    if not isinstance(message, AIMessage):
        return AIMessageChunk(content=str(message or ""))
    return AIMessageChunk(
        content=message.content,
        additional_kwargs=dict(message.additional_kwargs),
        tool_call_chunks=[
            tool_call_chunk(
                name=call["name"],
                args=json.dumps(call.get("args", {}), ensure_ascii=False),
                id=call.get("id"),
                index=index,
            )
            for index, call in enumerate(message.tool_calls)
        ],
    )


def clean_response_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """A candidate's response metadata without the per-call fields the router replaces."""
    dropped = {"model_name", "token_usage", "usage", "output_version"}
    return {key: value for key, value in metadata.items() if key not in dropped}
