"""OpenAICompatibleBackend with the real openai client against the project's endpoint on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from bestroute.backends.openai_compatible import OpenAICompatibleBackend
from bestroute.cost import HeuristicCounter
from bestroute.errors import ConfigurationError, EndpointError
from tests.support.openai_endpoint import (
    Fault,
    OpenAIEndpoint,
    ReceivedRequest,
    WordStreamer,
    echo_backend,
)
from tests.support.uvicorn_thread import serve_in_thread

QUESTION = "What is the capital of Peru?"
MESSAGES = [{"role": "user", "content": QUESTION}]
COUNT = HeuristicCounter().count
PROMPT_TOKENS = COUNT(f"user: {QUESTION}")  # what the echo backend bills for the prompt
ANSWER_TOKENS = COUNT(f"Echo 0: {QUESTION}")


@pytest.fixture(scope="module")
def endpoint() -> Iterator[tuple[OpenAIEndpoint, str]]:
    served = OpenAIEndpoint({"echo": echo_backend(), "echo-single": echo_backend()})
    with serve_in_thread(served.app) as url:
        yield served, f"{url}/v1"


@pytest.fixture
def served(endpoint: tuple[OpenAIEndpoint, str]) -> Iterator[tuple[OpenAIEndpoint, str]]:
    """The module's endpoint with its request log and fault hook cleared for one test."""
    server, url = endpoint
    server.received.clear()
    server.fault = None
    server.ignore_n = False
    yield server, url
    server.fault = None
    server.ignore_n = False


def backend(url: str, **options: object) -> OpenAICompatibleBackend:
    options.setdefault("api_key_env", None)
    return OpenAICompatibleBackend("echo", base_url=url, **options)  # type: ignore[arg-type]


async def test_native_n_is_one_request_with_the_input_billed_once(
    served: tuple[OpenAIEndpoint, str],
) -> None:
    server, url = served
    samples = await backend(url).agenerate(MESSAGES, 3)
    assert [r.body.get("n") for r in server.received] == [3]
    assert [s.text for s in samples] == [f"Echo {i}: {QUESTION}" for i in range(3)]
    assert all(s.input_tokens == PROMPT_TOKENS for s in samples)
    assert [s.output_tokens for s in samples] == [ANSWER_TOKENS] * 3
    assert samples[0].message == {"role": "assistant", "content": f"Echo 0: {QUESTION}"}
    assert samples[0].metadata["finish_reason"] == "stop"
    assert samples[0].metadata["usage_reported"] is True


async def test_without_native_n_each_sample_is_its_own_request(
    served: tuple[OpenAIEndpoint, str],
) -> None:
    server, url = served
    samples = await backend(url, supports_n=False).agenerate(MESSAGES, 3)
    assert len(server.received) == 3
    assert all("n" not in r.body for r in server.received)
    assert len(samples) == 3
    assert samples[0].input_tokens == 3 * PROMPT_TOKENS  # three requests paid the input
    assert samples[0].metadata["requests"] == 3


async def test_an_endpoint_that_ignores_n_is_detected_and_remembered(
    served: tuple[OpenAIEndpoint, str],
) -> None:
    server, url = served
    server.ignore_n = True
    member = backend(url)
    first = await member.agenerate(MESSAGES, 3)
    assert len(first) == 3
    assert member.supports_n is False
    assert [r.body.get("n") for r in server.received] == [3, None, None]
    assert first[0].input_tokens == 3 * PROMPT_TOKENS
    server.received.clear()
    again = await member.agenerate(MESSAGES, 2)
    assert len(again) == 2
    assert [r.body.get("n") for r in server.received] == [None, None]


async def test_request_parameters_member_defaults_and_extra_body(
    served: tuple[OpenAIEndpoint, str],
) -> None:
    server, url = served
    member = backend(url, params={"temperature": 0.3, "max_tokens": 9}, extra_body={"top_k": 20})
    await member.agenerate(MESSAGES, 1, temperature=0.9, max_new_tokens=5, callbacks=[object()])
    body = server.received[0].body
    assert body["temperature"] == 0.9  # the call's own wins over the member's default
    assert body["max_tokens"] == 9  # max_new_tokens only fills max_tokens when it is unset
    assert body["top_k"] == 20
    assert "callbacks" not in body and "max_new_tokens" not in body


async def test_streaming_yields_deltas_then_a_sample_with_the_endpoints_usage(
    served: tuple[OpenAIEndpoint, str],
) -> None:
    server, url = served
    items = [item async for item in backend(url).astream(MESSAGES, max_tokens=12)]
    *chunks, final = items
    assert "".join(chunk.text for chunk in chunks) == f"Echo 0: {QUESTION}"
    assert final.text == f"Echo 0: {QUESTION}"
    assert (final.input_tokens, final.output_tokens) == (PROMPT_TOKENS, ANSWER_TOKENS)
    assert final.metadata["usage_reported"] is True
    assert server.received[0].body["stream_options"] == {"include_usage": True}


async def test_streaming_drops_stream_options_for_an_endpoint_that_rejects_them(
    served: tuple[OpenAIEndpoint, str],
) -> None:
    server, url = served

    def reject(request: ReceivedRequest) -> Fault | None:
        if "stream_options" in request.body:
            return Fault(status=400, message="Unrecognized request argument: stream_options")
        return None

    server.fault = reject
    member = backend(url)
    *_, final = [item async for item in member.astream(MESSAGES)]
    assert member.stream_usage is False
    assert final.metadata["usage_reported"] is False
    assert final.output_tokens == ANSWER_TOKENS  # counted instead
    assert len(server.received) == 2


def test_the_api_key_is_read_from_its_variable_and_never_shown(
    served: tuple[OpenAIEndpoint, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, url = served
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("BESTROUTE_TEST_KEY", secret)
    member = backend(url, api_key_env="BESTROUTE_TEST_KEY")
    assert secret not in repr(member) and secret not in str(vars(member))
    samples = asyncio.run(member.agenerate(MESSAGES, 2))
    assert server.received[0].headers["authorization"] == f"Bearer {secret}"
    assert all(secret not in repr(sample) for sample in samples)
    server.fault = lambda request: Fault(status=401, message=f"Incorrect API key: {secret}")
    with pytest.raises(EndpointError) as raised:
        asyncio.run(member.agenerate(MESSAGES))
    assert raised.value.status_code == 401
    assert secret not in str(raised.value) and "***" in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_a_missing_key_variable_says_which_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BESTROUTE_UNSET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="BESTROUTE_UNSET_KEY"):
        OpenAICompatibleBackend("gpt-4o-mini", api_key_env="BESTROUTE_UNSET_KEY")
    with pytest.raises(ConfigurationError, match="extra_body"):
        OpenAICompatibleBackend("m", api_key_env=None, params={"top_k": 3})


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault(status=500, message="boom"), "HTTP 500"),
        (Fault(status=429, message="slow down"), "HTTP 429"),
        (Fault(malformed_json=True), "JSONDecodeError"),
        (Fault(delay_s=3.0), "no answer within 0.5 s"),
    ],
    ids=["500", "429", "malformed-json", "hang"],
)
async def test_endpoint_failures_raise_endpoint_errors(
    served: tuple[OpenAIEndpoint, str], fault: Fault, expected: str
) -> None:
    server, url = served
    server.fault = lambda request: fault
    with pytest.raises(EndpointError, match=expected):
        await backend(url, timeout_s=0.5).agenerate(MESSAGES)


async def test_a_stream_dropped_midway_raises_an_endpoint_error(
    served: tuple[OpenAIEndpoint, str],
) -> None:
    server, url = served
    server.backends["words"] = WordStreamer(("one ", "two ", "three ", "four"))
    server.fault = lambda request: Fault(close_after_chunks=2)
    member = OpenAICompatibleBackend("words", base_url=url, api_key_env=None)
    received: list[str] = []
    with pytest.raises(EndpointError, match="words"):
        async for item in member.astream(MESSAGES):
            received.append(getattr(item, "text", ""))
    assert received == ["one ", "two "]


def test_sync_callers_on_fresh_loops_each_get_a_working_client(
    served: tuple[OpenAIEndpoint, str],
) -> None:
    _, url = served
    member = backend(url)
    for _ in range(2):  # asyncio.run closes its loop; a client bound to it must not be reused
        assert len(asyncio.run(member.agenerate(MESSAGES, 2))) == 2
