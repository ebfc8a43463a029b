"""Plain data types shared by every part of the engine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: A chat message in OpenAI form (``{"role": "user", "content": "..."}``), or any object a
#: backend understands (adapters pass their framework's own message objects through untouched).
Message = Mapping[str, Any] | Any
Messages = Sequence[Message]


@dataclass(frozen=True, slots=True)
class Sample:
    """One response drawn from one model.

    ``text`` is what scorers read (for a tool-calling response, the content followed by the
    tool calls as JSON); ``message`` is the backend's native response object, if any, which
    adapters hand back to the user unchanged.
    """

    text: str
    input_tokens: int
    output_tokens: int
    latency_s: float = 0.0
    message: Any = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SampleChunk:
    """A piece of a response while it streams: the text delta and the backend's native chunk.

    ``selected`` is True for the single chunk that carries a whole selected response (an arm
    with n > 1, or a backend that does not stream): its ``text`` is then the scoring text and
    its ``message`` the backend's complete native response, so adapters can tell the two apart.
    """

    text: str
    message: Any = None
    selected: bool = False


def last_user_text(messages: Messages | str) -> str:
    """Return the text of the conversation's last user turn (the default routing query).

    Understands OpenAI-style dicts and objects with ``role``/``type`` and ``content``
    attributes (LangChain and LlamaIndex messages). Falls back to the last message.
    """
    if isinstance(messages, str):
        return messages
    if not messages:
        return ""
    for message in reversed(messages):
        if _role(message) in ("user", "human"):
            return message_text(message)
    return message_text(messages[-1])


def has_user_turn(messages: Messages | str) -> bool:
    """True for a string, or a conversation with at least one user (``human``) message."""
    if isinstance(messages, str):
        return True
    return any(_role(message) in ("user", "human") for message in messages)


def conversation_text(messages: Messages | str) -> str:
    """Return the whole conversation as ``role: text`` lines (optional routing query)."""
    if isinstance(messages, str):
        return messages
    return "\n".join(f"{_role(m)}: {message_text(m)}" for m in messages)


def message_text(message: Message) -> str:
    """Extract the plain text of one message (content parts of type text are joined)."""
    if isinstance(message, str):
        return message
    content = (
        message.get("content")
        if isinstance(message, Mapping)
        else getattr(message, "content", None)
    )
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, Mapping) and part.get("type") == "text":
            parts.append(str(part.get("text", "")))
        elif hasattr(part, "text"):
            parts.append(str(part.text))
    return "\n".join(parts)


def _role(message: Message) -> str:
    if isinstance(message, Mapping):
        return str(message.get("role", ""))
    role = getattr(message, "role", None) or getattr(message, "type", "")
    return str(getattr(role, "value", role))
