"""BestRouteLLM inside LlamaIndex's own engines: a RAG query engine over a real vector index with a
real local embedding model (all-MiniLM-L6-v2), a chat engine with history, token counting."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import LLMChatEndEvent, LLMChatStartEvent

from bestroute.cost import ensure_offline_tiktoken_cache
from bestroute.local_models import minilm_path

pytestmark = pytest.mark.slow  # real local models (SmolLM2, MiniLM)

DOCUMENTS = {
    "routing": (
        "BEST-Route is an adaptive routing method for large language models. For every query a "
        "small router network predicts, for each arm made of a model and a number of samples n, "
        "the probability that the best of n responses from that model is at least as good as one "
        "response from the reference model, which is the strongest and most expensive model."
    ),
    "threshold": (
        "The routing threshold trades cost against quality. An arm may answer a query when the "
        "router's probability for it is at least the threshold. Raising the threshold sends more "
        "queries to the expensive reference model, which raises quality and cost; lowering it "
        "lets cheaper models answer more queries and saves money."
    ),
    "reward": (
        "When an arm draws several responses, a reward model scores each response and the "
        "response with the highest score is returned. The reward model is a small encoder with "
        "a scalar head trained on pairs of better and worse responses."
    ),
    "gather": (
        "In Python, asyncio.gather runs several awaitables concurrently and returns their results "
        "in the order they were given. With return_exceptions=True, exceptions are returned as "
        "results instead of being raised, so one failing task does not cancel the others."
    ),
    "dict": (
        "A Python dictionary maps keys to values. Since Python 3.7 dictionaries keep insertion "
        "order, and looking up a key takes constant time on average."
    ),
}


@pytest.fixture(scope="module")
def index() -> VectorStoreIndex:
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    embed_model = HuggingFaceEmbedding(model_name=str(minilm_path()))
    documents = [Document(text=text, doc_id=key) for key, text in DOCUMENTS.items()]
    return VectorStoreIndex.from_documents(documents, embed_model=embed_model)


class _ChatEvents(BaseEventHandler):
    events: list[BaseEvent]

    @classmethod
    def class_name(cls) -> str:
        return "ChatEvents"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        routed = event.span_id is not None and event.span_id.startswith("BestRouteLLM.")
        if routed and isinstance(event, LLMChatStartEvent | LLMChatEndEvent):
            self.events.append(event)


@pytest.fixture
def routed_chat_events() -> Iterator[_ChatEvents]:
    root = get_dispatcher()
    recorder = _ChatEvents(events=[])
    root.add_event_handler(recorder)
    try:
        yield recorder
    finally:
        root.event_handlers.remove(recorder)


def test_query_engine_answers_from_the_retrieved_document(
    index: VectorStoreIndex, make_llm: Any, pool: Any, routed_chat_events: _ChatEvents
) -> None:
    ensure_offline_tiktoken_cache()
    counter = TokenCountingHandler()
    previous = Settings._callback_manager
    # query engines hand their LLM the global callback manager: LlamaIndex's way to count tokens
    Settings.callback_manager = CallbackManager([counter])
    try:
        engine = index.as_query_engine(llm=make_llm(pool.n1), similarity_top_k=1)
        response = engine.query("What happens when the routing threshold is raised?")
    finally:
        Settings._callback_manager = previous
    assert response.response and response.response.strip()
    assert response.source_nodes[0].node.ref_doc_id == "threshold"
    # the answer came through one routed call whose prompt held the retrieved paragraph
    [start, end] = routed_chat_events.events
    assert isinstance(start, LLMChatStartEvent) and isinstance(end, LLMChatEndEvent)
    assert "Raising the threshold" in "\n".join(str(m.content) for m in start.messages)
    assert end.response is not None
    usage = end.response.raw["usage"]
    assert end.response.raw["bestroute"]["arm"] == f"{pool.cheap}@1"
    # TokenCountingHandler recorded the routed call's usage, as billed (the pool LLMs keep their
    # own callback managers, so nothing is counted twice)
    assert len(counter.llm_token_counts) == 1
    assert counter.prompt_llm_token_count == usage["prompt_tokens"]
    assert counter.completion_llm_token_count == usage["completion_tokens"]


def test_streaming_query_engine_streams_the_answer(
    index: VectorStoreIndex, make_llm: Any, pool: Any
) -> None:
    engine = index.as_query_engine(llm=make_llm(pool.n1), similarity_top_k=1, streaming=True)
    response = engine.query("What does asyncio.gather return?")
    deltas = [delta for delta in response.response_gen if delta]
    assert len(deltas) >= 2
    assert response.source_nodes[0].node.ref_doc_id == "gather"


def test_chat_engine_keeps_the_history(
    index: VectorStoreIndex, make_llm: Any, pool: Any, routed_chat_events: _ChatEvents
) -> None:
    previous = Settings._llm
    Settings.llm = make_llm(pool.n1)  # the user story: set it once, every engine routes
    try:
        chat = index.as_chat_engine(chat_mode="context", similarity_top_k=1)
        first = chat.chat("What does a reward model do in BEST-Route?")
        second = chat.chat("Say that again in fewer words.")
    finally:
        Settings._llm = previous
    assert first.response and second.response
    starts = [e for e in routed_chat_events.events if isinstance(e, LLMChatStartEvent)]
    assert len(starts) == 2
    second_turn = [(m.role.value, m.content) for m in starts[1].messages]
    assert ("user", "What does a reward model do in BEST-Route?") in second_turn
    assert ("assistant", first.response) in second_turn
    assert [m.role.value for m in chat.chat_history] == ["user", "assistant"] * 2
