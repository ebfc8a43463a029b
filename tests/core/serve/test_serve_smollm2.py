"""``bestroute serve`` over the shipped demo setup and pool (SmolLM2-135M on CPU), called by the
openai client, LangChain's ChatOpenAI and LlamaIndex's OpenAILike, streaming and not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bestroute.demo import CHEAP, REFERENCE, assets_dir, pool_config_path
from bestroute.serve import RoutingService, ServeSettings, create_app, load_engine
from tests.support.uvicorn_thread import serve_in_thread

pytestmark = pytest.mark.slow

QUESTION = "What is the capital of France?"
MAX_TOKENS = 16


@pytest.fixture(scope="module")
def demo_server() -> Iterator[str]:
    engine = load_engine(assets_dir(), pool_config_path())
    service = RoutingService(engine, ServeSettings(max_tokens=64))
    with serve_in_thread(create_app(service)) as url:
        yield f"{url}/v1"


def _billed(details: dict) -> tuple[int, int]:
    attempts = details["attempts"]
    return sum(a["input_tokens"] for a in attempts), sum(a["output_tokens"] for a in attempts)


def test_openai_client_over_smollm2(demo_server: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=demo_server, api_key="unused", max_retries=0, timeout=600)
    completion = client.chat.completions.create(
        model="bestroute",
        messages=[{"role": "user", "content": QUESTION}],
        max_tokens=MAX_TOKENS,
        seed=0,
    )
    details = completion.model_extra["bestroute"]  # type: ignore[index]
    assert completion.model in (CHEAP, REFERENCE)
    assert completion.choices[0].message.content
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == _billed(details)
    assert 0 < completion.usage.completion_tokens <= details["n"] * MAX_TOKENS
    stream = client.chat.completions.create(
        model="bestroute",
        messages=[{"role": "user", "content": QUESTION}],
        max_tokens=MAX_TOKENS,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_langchain_and_llamaindex_clients_over_smollm2(demo_server: str) -> None:
    pytest.importorskip("langchain_openai")
    pytest.importorskip("llama_index.llms.openai_like")
    from langchain_openai import ChatOpenAI
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.openai_like import OpenAILike

    chat = ChatOpenAI(
        model="bestroute", base_url=demo_server, api_key="unused", max_tokens=MAX_TOKENS
    )
    message = chat.invoke(QUESTION)
    assert message.content and message.response_metadata["model_name"] in (CHEAP, REFERENCE)
    assert message.usage_metadata is not None and message.usage_metadata["output_tokens"] > 0
    assert "".join(str(c.content) for c in chat.stream(QUESTION)).strip()
    llm = OpenAILike(
        model="bestroute",
        api_base=demo_server,
        api_key="unused",
        is_chat_model=True,
        max_tokens=MAX_TOKENS,
        timeout=600,
    )
    assert str(llm.chat([ChatMessage(role="user", content=QUESTION)]).message.content).strip()
    last = list(llm.stream_chat([ChatMessage(role="user", content=QUESTION)]))[-1]
    assert str(last.message.content).strip()
