"""Tool calls written as text: the tolerant parser, the forced-call prefill, the prompt block."""

from __future__ import annotations

import json

import pytest

from bestroute.backends.tool_calls import (
    ToolCall,
    completed_call_end,
    forced_call_prefix,
    format_tool_call,
    parse_tool_calls,
    tools_prompt,
)

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name"},
                "unit": {"type": "string", "enum": ["C", "F"], "description": "Unit"},
            },
            "required": ["city"],
        },
    },
}
ADD = {
    "type": "function",
    "function": {
        "name": "add",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            "required": ["a", "b"],
        },
    },
}


def _only_call(text: str, allowed: list[str] | None = None) -> ToolCall:
    parsed = parse_tool_calls(text, allowed)
    assert parsed.errors == (), parsed.errors
    assert len(parsed.calls) == 1, parsed
    return parsed.calls[0]


@pytest.mark.parametrize(
    ("text", "arguments"),
    [
        # Well-formed Hermes/Qwen markup.
        (
            '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
            {"city": "Paris"},
        ),
        # What SmolLM2 writes after a forced prefill: closing tag missing.
        (
            '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "temperature": 25}}',
            {"city": "Paris", "temperature": 25},
        ),
        # Truncated at max_new_tokens inside a nested value.
        (
            '<tool_call>\n{"name": "get_weather", "arguments": {\n    "city": "Paris",\n'
            '    "weather": {\n        "temperature": 25,\n        "clouds',
            {"city": "Paris", "weather": {"temperature": 25}},
        ),
        # Truncated inside a string value.
        ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Par', {"city": "Par"}),
        # Python-style dict with single quotes and literals.
        (
            "<tool_call>{'name': 'get_weather', 'arguments': {'city': 'Oslo', 'metric': True}}"
            "</tool_call>",
            {"city": "Oslo", "metric": True},
        ),
        # Trailing comma and trailing chatter after the object.
        (
            '<tool_call>{"name": "get_weather", "arguments": {"city": "Rome",}} thanks!</tool_call>',
            {"city": "Rome"},
        ),
        # Arguments given as a JSON string (OpenAI wire form) and "parameters" (Llama form).
        (
            '<tool_call>{"name": "get_weather", "arguments": "{\\"city\\": \\"Lima\\"}"}</tool_call>',
            {"city": "Lima"},
        ),
        ('{"name": "get_weather", "parameters": {"city": "Kyiv"}}', {"city": "Kyiv"}),
        # A bare call in a code fence.
        (
            '```json\n{"name": "get_weather", "arguments": {"city": "Quito"}}\n```',
            {"city": "Quito"},
        ),
    ],
)
def test_parses_real_looking_calls(text: str, arguments: dict[str, object]) -> None:
    call = _only_call(text, ["get_weather"])
    assert call.name == "get_weather"
    assert call.arguments == arguments
    assert call.id.startswith("call_") and len(call.id) == len("call_") + 24


def test_content_around_calls_is_kept_without_markup() -> None:
    text = (
        "Let me check both.\n"
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>'
    )
    parsed = parse_tool_calls(text, ["get_weather", "add"])
    assert parsed.content == "Let me check both."
    assert [(c.name, c.arguments) for c in parsed.calls] == [
        ("get_weather", {"city": "Paris"}),
        ("add", {"a": 1, "b": 2}),
    ]
    assert len({c.id for c in parsed.calls}) == 2


def test_unknown_function_and_garbage_become_errors_not_calls() -> None:
    parsed = parse_tool_calls(
        '<tool_call>\n{"name": "weather_world", "arguments": {"city": "Paris"}}\n</tool_call>'
        "<tool_call>\nI think the weather is nice</tool_call>",
        ["get_weather"],
    )
    assert parsed.calls == ()
    assert len(parsed.errors) == 2
    assert "weather_world" in parsed.errors[0]
    assert "unparseable" in parsed.errors[1]


def test_arguments_that_are_not_an_object_are_rejected() -> None:
    parsed = parse_tool_calls('<tool_call>{"name": "add", "arguments": [1, 2]}</tool_call>')
    assert parsed.calls == ()
    assert "not a JSON object" in parsed.errors[0]


def test_plain_text_and_plain_json_are_not_calls() -> None:
    assert parse_tool_calls("The capital of France is Paris.").calls == ()
    plain = parse_tool_calls('{"answer": 42}')
    assert plain.calls == () and plain.content == '{"answer": 42}'


def test_formatted_call_round_trips() -> None:
    call = _only_call(format_tool_call("add", {"a": 1.5, "b": -2}))
    assert (call.name, call.arguments) == ("add", {"a": 1.5, "b": -2})
    wire = call.to_openai()
    assert wire["type"] == "function"
    assert json.loads(wire["function"]["arguments"]) == {"a": 1.5, "b": -2}


def test_forced_prefix_opens_the_first_required_argument() -> None:
    assert forced_call_prefix(WEATHER) == (
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "'
    )
    assert forced_call_prefix(ADD) == '<tool_call>\n{"name": "add", "arguments": {"a": '
    assert forced_call_prefix(None) == '<tool_call>\n{"name": "'
    no_required = {"type": "function", "function": {"name": "now", "parameters": {}}}
    assert forced_call_prefix(no_required).endswith('"arguments": {')
    # The prefill plus a plausible completion parses.
    call = _only_call(forced_call_prefix(WEATHER) + 'Paris"}}')
    assert call.arguments == {"city": "Paris"}


def test_completed_call_end_sees_the_closing_brace_only() -> None:
    prefix = forced_call_prefix(WEATHER)
    assert completed_call_end(prefix + "Par") is None
    assert completed_call_end(prefix + 'a}b"}') is None  # braces inside a string do not count
    done = prefix + 'Paris"}} and more'
    end = completed_call_end(done)
    assert end is not None and done[:end].endswith('"Paris"}}')


def test_tools_prompt_lists_signatures_and_the_markup() -> None:
    block = tools_prompt([WEATHER, ADD])
    assert "- get_weather(city: string, unit?: string): Get the current weather in a city" in block
    assert "unit: Unit (one of C, F)" in block
    assert "- add(a: number, b: number)" in block
    assert "<tool_call>" in block and "</tool_call>" in block


def test_python_sets_and_tuples_in_arguments_become_json_lists() -> None:
    parsed = parse_tool_calls(
        '<tool_call>{"name": "f", "arguments": {"a": {"input"}, "b": (1, 2)}}</tool_call>'
    )
    assert parsed.calls and parsed.calls[0].arguments == {"a": ["input"], "b": [1, 2]}
    json.dumps(parsed.calls[0].arguments)
