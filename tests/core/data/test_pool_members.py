"""``openai:`` and ``langchain:`` pool members, from YAML, calling a real endpoint on 127.0.0.1."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from bestroute.backends.openai_compatible import OpenAICompatibleBackend
from bestroute.cost import HeuristicCounter
from bestroute.data.pool_config import load_pool_config, pool_from_config
from bestroute.errors import ConfigurationError
from tests.support.openai_endpoint import OpenAIEndpoint, echo_backend
from tests.support.uvicorn_thread import serve_in_thread


@pytest.fixture(scope="module")
def endpoint() -> Iterator[tuple[OpenAIEndpoint, str]]:
    served = OpenAIEndpoint({"echo": echo_backend()})
    with serve_in_thread(served.app) as url:
        yield served, f"{url}/v1"


def test_an_openai_member_takes_every_option_from_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_ENDPOINT_KEY", "sk-secret")
    config = tmp_path / "pool.yaml"
    config.write_text(
        textwrap.dedent(
            """
            reference: big
            max_n: 3
            candidates:
              - name: small
                backend:
                  openai: my-small-model
                  base_url: http://127.0.0.1:9/v1
                  api_key_env: MY_ENDPOINT_KEY
                  timeout_s: 12
                  connect_timeout_s: 2
                  max_retries: 1
                  supports_n: false
                  stream_usage: false
                  params: {temperature: 0.7, max_tokens: 64}
                  extra_body: {top_k: 20}
                input_price: 0.1
                output_price: 0.2
              - name: big
                backend: openai:gpt-4o
                input_price: 5
                output_price: 15
            """
        )
    )
    monkeypatch.setenv("OPENAI_API_KEY", "sk-other")
    pool = load_pool_config(config)
    small = pool.candidate("small").backend
    assert isinstance(small, OpenAICompatibleBackend)
    assert (small.model, small.base_url, small.api_key_env) == (
        "my-small-model",
        "http://127.0.0.1:9/v1",
        "MY_ENDPOINT_KEY",
    )
    assert (small.timeout_s, small.connect_timeout_s, small.max_retries) == (12.0, 2.0, 1)
    assert (small.supports_n, small.stream_usage) == (False, False)
    assert small.params == {"temperature": 0.7, "max_tokens": 64}
    assert small.extra_body == {"top_k": 20}
    assert "sk-secret" not in repr(small)
    big = pool.candidate("big").backend
    assert isinstance(big, OpenAICompatibleBackend)
    assert (big.model, big.base_url, big.api_key_env, big.supports_n) == (
        "gpt-4o",
        None,
        "OPENAI_API_KEY",
        True,
    )
    assert pool.candidate("big").token_counter is big.token_counter  # tiktoken for gpt-4o


@pytest.mark.parametrize(
    ("backend", "message"),
    [
        ({"openai": None, "api_key_env": None}, "model name"),
        ({"openai": "m", "api_key_env": None, "temperature": 0.1}, "unknown openai backend option"),
        ({"openai": "m", "api_key_env": None, "params": [1]}, "params must be a mapping"),
        ({"openai": "m", "api_key_env": "BESTROUTE_NOT_SET_ANYWHERE"}, "BESTROUTE_NOT_SET"),
        ({"langchain": None}, "model string"),
        ({"langchain": "no-such-provider:model"}, "init_chat_model"),
    ],
)
def test_bad_api_members_say_what_to_fix(backend: dict[str, object], message: str) -> None:
    config = {
        "reference": "a",
        "candidates": [
            {"name": "a", "backend": backend, "input_price": 1, "output_price": 1},
        ],
    }
    with pytest.raises(ConfigurationError, match=message):
        pool_from_config(config)


def test_an_openai_member_samples_from_the_endpoint(
    endpoint: tuple[OpenAIEndpoint, str],
) -> None:
    server, url = endpoint
    config = {
        "reference": "echo",
        "candidates": [
            {
                "name": "echo",
                "backend": {"openai": "echo", "base_url": url, "api_key_env": None},
                "input_price": 1,
                "output_price": 2,
            }
        ],
    }
    backend = pool_from_config(config).candidate("echo").backend
    assert backend is not None
    samples = asyncio.run(backend.agenerate([{"role": "user", "content": "Hi there"}], 2))
    assert [s.text for s in samples] == ["Echo 0: Hi there", "Echo 1: Hi there"]
    assert server.received[-1].body["n"] == 2


def test_a_langchain_member_is_any_chat_model_from_a_provider_string(
    endpoint: tuple[OpenAIEndpoint, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("langchain_openai")
    from langchain_openai import ChatOpenAI

    from langchain_bestroute.backend import LangChainBackend

    server, url = endpoint
    monkeypatch.setenv("BESTROUTE_LC_KEY", "sk-langchain")
    config = {
        "reference": "echo",
        "candidates": [
            {
                "name": "echo",
                "backend": {
                    "langchain": "openai:echo",
                    "base_url": url,
                    "api_key_env": "BESTROUTE_LC_KEY",
                    "temperature": 0.5,
                    "max_retries": 0,
                },
                "input_price": 1,
                "output_price": 2,
            }
        ],
    }
    backend = pool_from_config(config).candidate("echo").backend
    assert isinstance(backend, LangChainBackend)
    assert isinstance(backend.chat_model, ChatOpenAI)
    samples = asyncio.run(backend.agenerate([{"role": "user", "content": "Hello"}], 2))
    assert [s.text for s in samples] == ["Echo 0: Hello", "Echo 0: Hello"]  # two calls, n=1
    request = server.received[-1]
    assert request.headers["authorization"] == "Bearer sk-langchain"
    assert request.body["temperature"] == 0.5
    billed = HeuristicCounter().count("user: Hello")  # what the endpoint's echo backend bills
    assert samples[0].message.usage_metadata["input_tokens"] == billed
    assert samples[0].input_tokens == billed
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    short = pool_from_config(
        {
            "reference": "m",
            "candidates": [
                {"name": "m", "backend": "langchain:openai:gpt-4o-mini", "input_price": 1,
                 "output_price": 1},
            ],
        }
    ).candidate("m").backend  # fmt: skip
    assert isinstance(short, LangChainBackend)
    assert short.chat_model.model_name == "gpt-4o-mini"  # type: ignore[attr-defined]
