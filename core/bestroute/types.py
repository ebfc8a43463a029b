"""Plain data types shared by every part of the engine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bestroute.errors import InvalidQueryError

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
    user = _last_user_message(messages)
    return message_text(messages[-1] if user is None else user)


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
    content = _content(message)
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, Sequence) or isinstance(content, (bytes, bytearray)):
        raise InvalidQueryError(
            f"a message's content must be a string or a list of content parts, got "
            f"{type(content).__name__}: pass the text as a string"
        )
    parts: list[str] = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, Mapping) and part.get("type") == "text":
            parts.append(str(part.get("text", "")))
        elif hasattr(part, "text"):
            parts.append(str(part.text))
    return "\n".join(parts)


def empty_query_reason(messages: Messages | str) -> str:
    """Why the routing query came out empty, with what to do (for :class:`InvalidQueryError`)."""
    user = None if isinstance(messages, str) else _last_user_message(messages)
    content = None if user is None else _content(user)
    if isinstance(content, Sequence) and not isinstance(content, str) and len(content) > 0:
        kinds = sorted({_part_kind(part) for part in content})
        return (
            f"the user message has no text, only {', '.join(kinds)} content: the router reads "
            "text, so add a text part that states the request"
        )
    return "the query is empty: give at least one non-empty user message"


def _last_user_message(messages: Messages) -> Message | None:
    """The conversation's last user (``human``) message, if it has one."""
    return next((m for m in reversed(messages) if _role(m) in ("user", "human")), None)


def _content(message: Message) -> Any:
    """A message's ``content`` (dict key or attribute; ``None`` when it has none)."""
    if isinstance(message, Mapping):
        return message.get("content")
    return getattr(message, "content", None)


def _part_kind(part: Any) -> str:
    if isinstance(part, Mapping):
        return str(part.get("type", "untyped"))
    return str(getattr(part, "type", None) or type(part).__name__)


def _role(message: Message) -> str:
    if isinstance(message, Mapping):
        return str(message.get("role", ""))
    role = getattr(message, "role", None) or getattr(message, "type", "")
    return str(getattr(role, "value", role))
