"""Turn an OpenAI-style conversation (with tools) into the prompt text of a local chat model.

Messages are dicts with ``role`` (system/user/assistant/tool) and ``content``; assistant messages
may carry ``tool_calls`` (OpenAI form ``{"function": {"name", "arguments"}}`` or LangChain form
``{"name", "args"}``). Objects with ``role``/``type`` and ``content`` attributes work too.

When the tokenizer's chat template renders ``tools=`` itself, tools, tool calls and tool results
go to the template natively. Otherwise the tools are described in the system prompt
(:func:`~bestroute.backends.tool_calls.tools_prompt`), past calls are written as ``<tool_call>``
markup in the assistant turn, and tool results become user turns in ``<tool_response>`` tags
(many templates reject a ``tool`` role).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from bestroute.backends.tool_calls import format_tool_call, tool_name, tools_prompt
from bestroute.errors import ConfigurationError, InvalidQueryError
from bestroute.types import Messages, message_text

_ROLE_ALIASES = {"human": "user", "ai": "assistant", "function": "tool", "developer": "system"}
_PROBE_TOOL = {
    "type": "function",
    "function": {
        "name": "bestroute_probe",
        "description": "probe",
        "parameters": {"type": "object", "properties": {}},
    },
}


def template_renders_tools(tokenizer: Any) -> bool:
    """True when the chat template puts ``tools=`` into the prompt (it ignores them otherwise)."""
    probe = [{"role": "user", "content": "hi"}]
    try:
        plain = tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=True)
        with_tools = tokenizer.apply_chat_template(
            probe, tools=[_PROBE_TOOL], tokenize=False, add_generation_prompt=True
        )
    except Exception:  # a template that chokes on tools does not support them
        return False
    return bool(with_tools != plain and "bestroute_probe" in with_tools)


def normalize_messages(messages: Messages | str) -> list[dict[str, Any]]:
    """Plain dicts ``{"role", "content": str}`` (+ ``tool_calls`` as ``{"name", "arguments"}``)."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    if not messages:
        raise InvalidQueryError("the conversation is empty: pass at least one message")
    result: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, str):
            result.append({"role": "user", "content": message})
            continue
        role = _role_of(message)
        entry: dict[str, Any] = {"role": role, "content": message_text(message)}
        calls = _get(message, "tool_calls") or []
        if role == "assistant" and calls:
            entry["tool_calls"] = [_normalize_call(call) for call in calls]
        for key in ("tool_call_id", "name"):
            value = _get(message, key)
            if role == "tool" and value:
                entry[key] = str(value)
        result.append(entry)
    return result


def render_prompt(
    tokenizer: Any,
    messages: Messages | str,
    tools: Sequence[Mapping[str, Any]] | None = None,
    *,
    native_tools: bool = False,
) -> str:
    """The templated prompt, ending with the assistant turn's opening (generation prompt)."""
    conversation = normalize_messages(messages)
    if native_tools:
        rendered = [_native_message(message) for message in conversation]
        return str(
            tokenizer.apply_chat_template(
                rendered,
                tools=list(tools) if tools else None,
                tokenize=False,
                add_generation_prompt=True,
            )
        )
    rendered = _textual_messages(conversation)
    if tools:
        rendered = _with_tools_system_block(rendered, tools)
    return str(tokenizer.apply_chat_template(rendered, tokenize=False, add_generation_prompt=True))


def check_tool_choice(
    tool_choice: Any, tools: Sequence[Mapping[str, Any]] | None
) -> tuple[bool, Mapping[str, Any] | None]:
    """``(forced, the forced tool or None)`` for an OpenAI/LangChain-style ``tool_choice``.

    ``None``/``"auto"``/``"none"`` force nothing; ``"any"``/``"required"``/``True`` force some call
    (of the only tool when just one is offered); a function name or
    ``{"function": {"name": ...}}`` forces that function.
    """
    if tool_choice in (None, "auto", "none", False):
        return False, None
    offered = {tool_name(tool): tool for tool in tools or []}
    if not offered:
        raise ConfigurationError(f"tool_choice={tool_choice!r} needs tools=[...] to choose from")
    if tool_choice in ("any", "required", True):
        return True, next(iter(offered.values())) if len(offered) == 1 else None
    if isinstance(tool_choice, Mapping):
        function = tool_choice.get("function", tool_choice)
        tool_choice = function.get("name") if isinstance(function, Mapping) else None
    if not isinstance(tool_choice, str) or tool_choice not in offered:
        raise ConfigurationError(
            f"tool_choice={tool_choice!r} names no offered tool; offered: {', '.join(offered)}"
        )
    return True, offered[tool_choice]


def _get(message: Any, key: str) -> Any:
    if isinstance(message, Mapping):
        return message.get(key)
    return getattr(message, key, None)


def _role_of(message: Any) -> str:
    role = _get(message, "role") or _get(message, "type") or "user"
    role = str(getattr(role, "value", role)).lower()
    return _ROLE_ALIASES.get(role, role)


def _normalize_call(call: Any) -> dict[str, Any]:
    function = _get(call, "function")
    source = function if function is not None else call
    name = _get(source, "name")
    arguments = _get(source, "arguments")
    if arguments is None:
        arguments = _get(source, "args")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            arguments = {"input": arguments}
    return {"name": str(name or ""), "arguments": dict(arguments or {})}


def _native_message(message: dict[str, Any]) -> dict[str, Any]:
    if "tool_calls" not in message:
        return message
    calls = [{"type": "function", "function": call} for call in message["tool_calls"]]
    return {**message, "tool_calls": calls}


def _textual_messages(conversation: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rendered: list[dict[str, Any]] = []
    for message in conversation:
        role, content = message["role"], message["content"]
        if role == "assistant" and message.get("tool_calls"):
            markup = "\n".join(
                format_tool_call(call["name"], call["arguments"]) for call in message["tool_calls"]
            )
            content = f"{content}\n{markup}" if content else markup
        if role == "tool":
            content = f"<tool_response>\n{content}\n</tool_response>"
            if rendered and rendered[-1]["role"] == "user" and rendered[-1].get("_tool_result"):
                rendered[-1]["content"] += "\n" + content
                continue
            rendered.append({"role": "user", "content": content, "_tool_result": True})
            continue
        rendered.append({"role": role, "content": content})
    return [{"role": m["role"], "content": m["content"]} for m in rendered]


def _with_tools_system_block(
    conversation: list[dict[str, Any]], tools: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    block = tools_prompt(tools)
    if conversation and conversation[0]["role"] == "system":
        first = conversation[0]
        return [{"role": "system", "content": f"{first['content']}\n\n{block}"}, *conversation[1:]]
    return [{"role": "system", "content": block}, *conversation]
