"""Tool calls written as text by local models: the prompt block, the markup, a tolerant parser.

Local models call tools by writing ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``
(the Hermes/Qwen convention). :func:`parse_tool_calls` reads that markup back, also when the JSON
is slightly broken (single quotes, Python literals, trailing commas, a missing closing brace or
tag), and also a bare JSON object or list of them with a ``name`` key as the whole reply (the
Llama 3.1 convention).
"""

from __future__ import annotations

import ast
import json
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "TOOL_CALL_CLOSE",
    "TOOL_CALL_OPEN",
    "ParsedReply",
    "ToolCall",
    "completed_call_end",
    "forced_call_prefix",
    "format_tool_call",
    "new_call_id",
    "parse_tool_calls",
    "tool_name",
    "tools_prompt",
]

TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"

_BLOCK = re.compile(
    re.escape(TOOL_CALL_OPEN) + r"(.*?)(?:" + re.escape(TOOL_CALL_CLOSE) + r"|\Z)", re.DOTALL
)
_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*(.*?)\s*(?:```\s*)?$", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One parsed call: ``id`` is ``call_<hex>``, ``arguments`` always a dict."""

    name: str
    arguments: dict[str, Any]
    id: str = field(default_factory=lambda: new_call_id())

    def to_dict(self) -> dict[str, Any]:
        """``{"id", "name", "arguments"}``: the form put into ``Sample.metadata["tool_calls"]``."""
        return {"id": self.id, "name": self.name, "arguments": dict(self.arguments)}

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI wire form, with ``arguments`` as a JSON string."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": json.dumps(self.arguments)},
        }


@dataclass(frozen=True, slots=True)
class ParsedReply:
    """A generated reply split into plain ``content``, parsed ``calls`` and parse ``errors``."""

    content: str
    calls: tuple[ToolCall, ...] = ()
    errors: tuple[str, ...] = ()


def new_call_id() -> str:
    """A fresh tool-call id, ``call_`` followed by 24 hex digits."""
    return f"call_{secrets.token_hex(12)}"


def tool_name(tool: Mapping[str, Any]) -> str:
    """The function name of an OpenAI-style tool schema (or of a bare function schema)."""
    function = tool.get("function", tool)
    return str(function.get("name", "")) if isinstance(function, Mapping) else ""


def tools_prompt(tools: Sequence[Mapping[str, Any]]) -> str:
    """A system-prompt block listing ``tools`` as signatures and the markup that calls them.

    Signatures (``get_weather(city: string)``) rather than raw JSON schemas: small models copy a
    schema's ``type``/``properties`` keys into their arguments, and fill in a signature's values.
    """
    lines = [_signature(tool.get("function", tool)) for tool in tools]
    return (
        "You can call these functions:\n"
        + "\n".join(lines)
        + "\nTo call a function, reply with\n"
        + f'{TOOL_CALL_OPEN}\n{{"name": "function_name", "arguments": {{"argument_name": "value"}}}}\n'
        + TOOL_CALL_CLOSE
    )


def format_tool_call(name: str, arguments: Mapping[str, Any]) -> str:
    """The markup of one call, as a model is asked to write it (used for chat history too)."""
    body = json.dumps({"name": name, "arguments": dict(arguments)})
    return f"{TOOL_CALL_OPEN}\n{body}\n{TOOL_CALL_CLOSE}"


def forced_call_prefix(tool: Mapping[str, Any] | None) -> str:
    """The assistant prefill that forces a call.

    For a known tool it runs up to the first required argument's value (its opening quote when
    that value is a string), so the model only writes values; without one (``None``), the model
    still has to write the function name.
    """
    if tool is None:
        return f'{TOOL_CALL_OPEN}\n{{"name": "'
    function = tool.get("function", tool)
    prefix = f'{TOOL_CALL_OPEN}\n{{"name": {json.dumps(tool_name(tool))}, "arguments": {{'
    parameters = function.get("parameters") or {}
    required = [key for key in parameters.get("required", []) if isinstance(key, str)]
    if not required:
        return prefix
    spec = (parameters.get("properties") or {}).get(required[0]) or {}
    opening = '"' if spec.get("type") == "string" else ""
    return f"{prefix}{json.dumps(required[0])}: {opening}"


def completed_call_end(text: str) -> int | None:
    """End index of the first complete JSON object after the first ``<tool_call>``, else None.

    Lets generation stop as soon as a forced call is written.
    """
    start = text.find(TOOL_CALL_OPEN)
    if start < 0:
        return None
    brace = text.find("{", start)
    if brace < 0:
        return None
    depth = 0
    in_string = escaped = False
    for index in range(brace, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return index + 1
    return None


def _signature(function: Mapping[str, Any]) -> str:
    parameters = function.get("parameters") or {}
    required = set(parameters.get("required") or [])
    properties = parameters.get("properties") or {}
    args = ", ".join(
        f"{key}{'' if key in required else '?'}: {spec.get('type', 'any')}"
        for key, spec in properties.items()
        if isinstance(spec, Mapping)
    )
    line = f"- {function.get('name', '')}({args})"
    if function.get("description"):
        line += f": {function['description']}"
    for key, spec in properties.items():
        if isinstance(spec, Mapping) and spec.get("description"):
            enum = f" (one of {', '.join(map(str, spec['enum']))})" if spec.get("enum") else ""
            line += f"\n    {key}: {spec['description']}{enum}"
    return line


def parse_tool_calls(text: str, allowed_names: Sequence[str] | None = None) -> ParsedReply:
    """Split ``text`` into content and tool calls.

    ``<tool_call>`` blocks are parsed first (an unclosed last block runs to the end of the text);
    without any, a reply that is only a JSON object (or list of objects) with a ``name`` key is
    read as calls. A call whose JSON cannot be repaired, or whose name is not in
    ``allowed_names`` (when given), is left out and described in ``errors``.
    """
    calls: list[ToolCall] = []
    errors: list[str] = []
    if TOOL_CALL_OPEN in text:
        for match in _BLOCK.finditer(text):
            _collect(match.group(1), calls, errors, allowed_names)
        content = _BLOCK.sub("", text).replace(TOOL_CALL_CLOSE, "").strip()
        return ParsedReply(content, tuple(calls), tuple(errors))
    stripped = text.strip()
    if stripped.startswith(("{", "[", "```")):
        value = _loads_tolerant(stripped)
        items = value if isinstance(value, list) else [value]
        if items and all(isinstance(item, dict) and "name" in item for item in items):
            for item in items:
                _append(item, calls, errors, allowed_names)
            if calls or errors:
                return ParsedReply("", tuple(calls), tuple(errors))
    return ParsedReply(text)


def _collect(
    body: str, calls: list[ToolCall], errors: list[str], allowed: Sequence[str] | None
) -> None:
    value = _loads_tolerant(body)
    if value is None:
        errors.append(f"unparseable tool call: {body.strip()[:200]!r}")
        return
    for item in value if isinstance(value, list) else [value]:
        _append(item, calls, errors, allowed)


def _append(
    item: Any, calls: list[ToolCall], errors: list[str], allowed: Sequence[str] | None
) -> None:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
        errors.append(f"tool call without a function name: {str(item)[:200]!r}")
        return
    name = item["name"]
    if allowed is not None and name not in allowed:
        errors.append(f"call to unknown function {name!r} (offered: {', '.join(allowed)})")
        return
    arguments = item.get("arguments", item.get("parameters", {}))
    if isinstance(arguments, str):
        arguments = _loads_tolerant(arguments) if arguments.strip() else {}
    if not isinstance(arguments, dict):
        errors.append(f"arguments of {name!r} are not a JSON object: {str(arguments)[:200]!r}")
        return
    calls.append(ToolCall(name, arguments))


def _loads_tolerant(text: str) -> Any:
    """Parse the first JSON value in ``text``, repairing common damage; ``None`` when hopeless."""
    fenced = _FENCE.match(text)
    candidate = (fenced.group(1) if fenced else text).strip()
    start = min((i for i in (candidate.find("{"), candidate.find("[")) if i >= 0), default=-1)
    if start < 0:
        return None
    candidate = candidate[start:]
    for attempt in _repairs(candidate):
        try:
            return json.JSONDecoder().raw_decode(attempt)[0]
        except json.JSONDecodeError:
            pass
        try:
            return _json_safe(ast.literal_eval(_pythonish(attempt)))
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
            pass
    return None


def _json_safe(value: Any) -> Any:
    """A Python literal as JSON values: sets and tuples become lists, keys become strings.

    ``ast.literal_eval`` also reads sets (``{"input"}``), tuples and bytes, which JSON can't hold.
    """
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [_json_safe(item) for item in items]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def _repairs(text: str, max_cuts: int = 8) -> Iterator[str]:
    """``text`` itself, then repaired forms, each cut back before its last comma once more.

    Cutting drops a half-written last member (``{"a": 1, "b``) of a truncated reply.
    """
    yield text
    for _ in range(max_cuts + 1):
        yield _repair(text)
        cut = _last_comma_outside_strings(text)
        if cut is None:
            return
        text = text[:cut]


def _string_states(text: str) -> tuple[list[bool], str | None]:
    """Per character, whether it lies inside a quoted string (its closing quote included), and
    the quote still open at the end of ``text`` (``None`` when every string is closed)."""
    inside: list[bool] = []
    quote: str | None = None
    escaped = False
    for char in text:
        inside.append(quote is not None)
        if quote is not None:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
    return inside, quote


def _last_comma_outside_strings(text: str) -> int | None:
    inside, _ = _string_states(text)
    commas = [i for i, char in enumerate(text) if char == "," and not inside[i]]
    return commas[-1] if commas else None


def _pythonish(text: str) -> str:
    """JSON literals as Python ones, for :func:`ast.literal_eval` on single-quoted dicts."""
    return re.sub(
        r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", re.sub(r"\bnull\b", "None", text))
    )


def _repair(text: str) -> str:
    """Cut trailing text after the value, drop trailing commas, close strings and brackets."""
    text = re.sub(
        r"\bTrue\b", "true", re.sub(r"\bFalse\b", "false", re.sub(r"\bNone\b", "null", text))
    )
    inside, open_quote = _string_states(text)
    closers: list[str] = []
    end = len(text)
    for index, char in enumerate(text):
        if inside[index]:
            continue
        if char in "{[":
            closers.append("}" if char == "{" else "]")
        elif char in "}]":
            if closers and closers[-1] == char:
                closers.pop()
            if not closers:
                end, open_quote = index + 1, None  # the value ends here, outside any string
                break
    repaired = text[:end]
    if open_quote is not None:
        repaired += open_quote
    repaired = repaired.rstrip().rstrip(",").rstrip()
    if repaired.endswith(":"):
        repaired += " null"
    repaired += "".join(reversed(closers))
    return _TRAILING_COMMA.sub(r"\1", repaired)
