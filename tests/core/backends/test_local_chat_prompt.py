"""Conversation normalisation, tool_choice, streamed stop strings and model-path errors."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from bestroute.backends.chat_prompt import check_tool_choice, normalize_messages
from bestroute.backends.generation_control import StopFilter, truncate_at_stops
from bestroute.backends.model_loading import gguf_cache_folder, resolve_model_path
from bestroute.errors import ConfigurationError, InvalidQueryError, ModelNotFoundError

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
ADD = {"type": "function", "function": {"name": "add", "parameters": {}}}


def test_normalize_understands_openai_langchain_and_objects() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        SimpleNamespace(type="human", content=[{"type": "text", "text": "Weather?"}]),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {"id": "c2", "name": "add", "args": {"a": 1, "b": 2}},
            ],
        },
        {"role": "tool", "content": "18C", "tool_call_id": "c1"},
    ]
    assert normalize_messages(messages) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"name": "get_weather", "arguments": {"city": "Paris"}},
                {"name": "add", "arguments": {"a": 1, "b": 2}},
            ],
        },
        {"role": "tool", "content": "18C", "tool_call_id": "c1"},
    ]
    assert normalize_messages("hi") == [{"role": "user", "content": "hi"}]
    with pytest.raises(InvalidQueryError):
        normalize_messages([])


def test_tool_choice_forms() -> None:
    assert check_tool_choice(None, [WEATHER]) == (False, None)
    assert check_tool_choice("auto", [WEATHER]) == (False, None)
    assert check_tool_choice("any", [WEATHER]) == (True, WEATHER)
    assert check_tool_choice("required", [WEATHER, ADD]) == (True, None)
    assert check_tool_choice("add", [WEATHER, ADD]) == (True, ADD)
    assert check_tool_choice({"type": "function", "function": {"name": "add"}}, [WEATHER, ADD]) == (
        True,
        ADD,
    )
    with pytest.raises(ConfigurationError, match="names no offered tool"):
        check_tool_choice("search", [WEATHER])
    with pytest.raises(ConfigurationError, match="needs tools"):
        check_tool_choice("any", [])


@pytest.mark.parametrize(
    "pieces", [["The cap", "ital of", " France", " is Paris."], list("ab##cd")]
)
@pytest.mark.parametrize("stops", [["is P"], ["##", "is"], ["never"], []])
def test_streamed_stops_equal_the_non_streamed_cut(pieces: list[str], stops: list[str]) -> None:
    stream = StopFilter(stops)
    out: list[str] = []
    for piece in pieces:
        chunk, stopped = stream.push(piece)
        out.append(chunk)
        if stopped:
            break
    else:
        out.append(stream.flush())
    assert "".join(out) == truncate_at_stops("".join(pieces), stops)[0]


def test_missing_model_paths_raise_model_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="no model at"):
        resolve_model_path(tmp_path / "nowhere", None)
    with pytest.raises(ModelNotFoundError, match=r"no config\.json"):
        resolve_model_path(tmp_path, None)
    with pytest.raises(ModelNotFoundError, match="no GGUF file"):
        resolve_model_path(tmp_path, "model.gguf")
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ModelNotFoundError, match=r"not a \.gguf"):
        resolve_model_path(tmp_path / "weights.bin", None)


def test_cache_folder_follows_the_file_size_and_mtime(tmp_path: Path) -> None:
    gguf = tmp_path / "tiny.Q4.gguf"
    gguf.write_bytes(b"0123")
    first = gguf_cache_folder(gguf, tmp_path / "cache")
    assert first.parent == tmp_path / "cache" and first.name.startswith("tiny.Q4-")
    assert gguf_cache_folder(gguf, tmp_path / "cache") == first
    gguf.write_bytes(b"012345")
    assert gguf_cache_folder(gguf, tmp_path / "cache") != first
