"""ChatBestRoute over real local models: usage, metadata, callbacks, streaming, fallback."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import (
    BaseCallbackHandler,
    UsageMetadataCallbackHandler,
    get_usage_metadata_callback,
)
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import LLMResult

from bestroute.pool import Arm
from langchain_bestroute import ChatBestRoute, ChatTransformers, ModelSpec

pytestmark = pytest.mark.slow  # real local models (SmolLM2, MiniLM)

LocalPool = Any  # the conftest's LocalPool (a session fixture)
CHEAP = "smollm2-135m-sampled"
REFERENCE = "smollm2-135m-greedy"
MAX_NEW_TOKENS = 24


class RunRecorder(BaseCallbackHandler):
    """Records every chat-model run: its parent, tags, and the generations it returned."""

    def __init__(self) -> None:
        self.starts: list[dict[str, Any]] = []
        self.ends: dict[UUID, LLMResult] = {}

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.starts.append(
            {"run_id": run_id, "parent": parent_run_id, "tags": list(tags or []), **kwargs}
        )

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        self.ends[run_id] = response

    @property
    def root(self) -> dict[str, Any]:
        (root,) = [start for start in self.starts if start["parent"] is None]
        return root

    def children(self) -> list[dict[str, Any]]:
        return [start for start in self.starts if start["parent"] == self.root["run_id"]]

    def child_generations(self) -> list[list[Any]]:
        return [self.ends[child["run_id"]].generations[0] for child in self.children()]


def child_usage(recorder: RunRecorder) -> tuple[int, int]:
    """Tokens billed by the sampled calls: input once per call, output once per sample."""
    input_tokens = output_tokens = 0
    for generations in recorder.child_generations():
        input_tokens += generations[0].message.usage_metadata["input_tokens"]
        output_tokens += sum(g.message.usage_metadata["output_tokens"] for g in generations)
    return input_tokens, output_tokens


@pytest.fixture
def best_of_two(local_pool: LocalPool, best_of_two_router: Any) -> ChatBestRoute:
    return ChatBestRoute(**local_pool.params(router=best_of_two_router))


@pytest.fixture
def cheapest(local_pool: LocalPool) -> ChatBestRoute:
    """Threshold 0: every arm qualifies and the cheapest, (cheap, n = 1), answers."""
    return ChatBestRoute(**local_pool.params(threshold=0.0))


def test_usage_sums_every_sample_and_matches_the_child_runs(best_of_two: ChatBestRoute) -> None:
    recorder = RunRecorder()
    message = best_of_two.invoke("Hello", config={"callbacks": [recorder]})
    routing = message.response_metadata["bestroute"]
    assert routing["arm"] == f"{CHEAP}@2" and routing["n"] == 2
    samples = [g for generations in recorder.child_generations() for g in generations]
    assert len(samples) == 2  # both samples were billed, not only the selected one
    input_tokens, output_tokens = child_usage(recorder)
    assert message.usage_metadata == {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }
    (attempt,) = routing["attempts"]
    assert (attempt["input_tokens"], attempt["output_tokens"]) == (input_tokens, output_tokens)


def test_response_metadata_names_the_choice_and_its_cost(
    best_of_two: ChatBestRoute, local_pool: LocalPool
) -> None:
    message = best_of_two.invoke("Say hello to me.")
    metadata = message.response_metadata
    routing = metadata["bestroute"]
    assert metadata["model_name"] == CHEAP
    assert routing["candidate_model_name"] == CHEAP
    assert set(routing["probabilities"]) == {f"{CHEAP}@1", f"{CHEAP}@2"}
    assert routing["probabilities"][f"{CHEAP}@2"] >= 0.5 > routing["probabilities"][f"{CHEAP}@1"]
    assert len(routing["scores"]) == 2
    assert routing["scores"][routing["selected"]] == max(routing["scores"])
    price_in, price_out = local_pool.models()[CHEAP][1:3]
    usage = message.usage_metadata
    assert usage is not None
    expected = (usage["input_tokens"] * price_in + usage["output_tokens"] * price_out) / 1e6
    assert routing["actual_cost"] == pytest.approx(expected)
    assert routing["estimated_cost"] > 0


def test_selected_response_is_the_best_scored_sample(best_of_two: ChatBestRoute) -> None:
    recorder = RunRecorder()
    message = best_of_two.invoke("Good morning!", config={"callbacks": [recorder]})
    routing = message.response_metadata["bestroute"]
    samples = [g.message for generations in recorder.child_generations() for g in generations]
    assert message.content == samples[routing["selected"]].content


def test_usage_metadata_callback_records_the_billed_usage_once(best_of_two: ChatBestRoute) -> None:
    handler = UsageMetadataCallbackHandler()
    message = best_of_two.invoke("Hello", config={"callbacks": [handler]})
    assert handler.usage_metadata == {CHEAP: message.usage_metadata}
    with get_usage_metadata_callback() as context_handler:
        streamed = None
        for chunk in best_of_two.stream("Hey"):
            streamed = chunk if streamed is None else streamed + chunk
    assert streamed is not None
    assert context_handler.usage_metadata == {CHEAP: streamed.usage_metadata}


def test_callbacks_see_one_router_run_with_child_runs(best_of_two: ChatBestRoute) -> None:
    for run in (
        lambda recorder: best_of_two.invoke("hi", config={"callbacks": [recorder]}),
        lambda recorder: list(best_of_two.stream("hi", config={"callbacks": [recorder]})),
    ):
        recorder = RunRecorder()
        run(recorder)
        assert recorder.root["invocation_params"]["_type"] == "bestroute"
        children = recorder.children()
        assert len(children) == 1  # n = 2 from one batched call of the local model
        assert len(recorder.starts) == 2
        assert "bestroute:sample" in children[0]["tags"]
        assert len(recorder.child_generations()[0]) == 2


def test_a_pool_model_without_native_n_is_sampled_by_concurrent_calls(
    local_pool: LocalPool, best_of_two_router: Any
) -> None:
    models = local_pool.models()
    cheap_model, price_in, price_out, expected = models[CHEAP]
    models[CHEAP] = ModelSpec(
        chat_model=cheap_model,
        input_price=price_in,
        output_price=price_out,
        expected_output_tokens=expected,
        supports_n=False,
    )
    model = ChatBestRoute(**local_pool.params(models=models, router=best_of_two_router))
    recorder = RunRecorder()
    message = model.invoke("Hello", config={"callbacks": [recorder]})
    assert len(recorder.children()) == 2
    input_tokens, output_tokens = child_usage(recorder)
    assert message.usage_metadata is not None
    assert message.usage_metadata["input_tokens"] == input_tokens  # input paid per call
    assert message.usage_metadata["output_tokens"] == output_tokens


async def test_async_invoke_and_batch(best_of_two: ChatBestRoute) -> None:
    recorder = RunRecorder()
    message = await best_of_two.ainvoke("Hello", config={"callbacks": [recorder]})
    assert message.usage_metadata is not None
    assert message.usage_metadata["input_tokens"] == child_usage(recorder)[0]
    results = await best_of_two.abatch(["Hello", "Hey"])
    assert all(r.response_metadata["bestroute"]["n"] == 2 for r in results)


def test_streaming_an_n1_arm_yields_tokens_as_they_come(cheapest: ChatBestRoute) -> None:
    chunks = list(cheapest.stream("Write a short poem about the sea."))
    content = [c for c in chunks if c.content]
    assert len(content) >= 3
    last = chunks[-1]
    assert last.chunk_position == "last"
    assert last.response_metadata["bestroute"]["arm"] == f"{CHEAP}@1"
    assert last.usage_metadata is not None
    assert sum(1 for c in chunks if c.usage_metadata) == 1
    full: AIMessageChunk = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    assert full.usage_metadata == last.usage_metadata


async def test_streaming_an_n2_arm_yields_the_selected_response(
    best_of_two: ChatBestRoute,
) -> None:
    recorder = RunRecorder()
    chunks = [c async for c in best_of_two.astream("Hello", config={"callbacks": [recorder]})]
    content = [c for c in chunks if c.content]
    assert len(content) == 1  # the whole selected response, after selection
    routing = chunks[-1].response_metadata["bestroute"]
    assert routing["n"] == 2
    samples = [g.message for generations in recorder.child_generations() for g in generations]
    assert content[0].content == samples[routing["selected"]].content


def test_a_failing_pool_model_degrades_to_the_next_arm(local_pool: LocalPool) -> None:
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    # A real endpoint that fails every call: asked for zero new tokens, the backend refuses.
    broken = ChatTransformers(backend=local_pool.backend, max_tokens=0, model="broken")
    router = local_pool.train_router(
        [Arm("broken", 1)], ["Hello", "Hey", "hi", "Tell me a joke"], _high(4)
    )
    models = {
        "broken": (broken, 0.01, 0.02, MAX_NEW_TOKENS),
        REFERENCE: local_pool.models()[REFERENCE],
    }
    model = ChatBestRoute(models=models, router=router, threshold=0.5)
    assert model.engine.pool.reference == REFERENCE  # inferred: the model without router arms
    message = model.invoke("Hello")
    routing = message.response_metadata["bestroute"]
    assert routing["routed_arm"] == "broken@1"
    assert routing["arm"] == f"{REFERENCE}@1"
    assert routing["attempts"][0]["errors"]
    chain = ChatPromptTemplate.from_messages([("human", "{question}")]) | model | StrOutputParser()
    assert chain.invoke({"question": "Hey"}).strip()
    streamed = "".join(str(c.content) for c in model.stream("hi"))
    assert streamed.strip()


def _high(rows: int) -> Any:
    import numpy as np

    return np.full((rows, 1), 0.95, dtype=np.float32)


def test_token_counts_use_the_reference_tokenizer_offline(
    cheapest: ChatBestRoute, local_pool: LocalPool
) -> None:
    text = "BEST-Route picks the cheapest arm that is good enough."
    expected = len(local_pool.backend.tokenizer.encode(text, add_special_tokens=False))
    assert cheapest.get_num_tokens(text) == expected > 0
    assert cheapest.get_token_ids(text) == local_pool.backend.tokenizer.encode(
        text, add_special_tokens=False
    )
    assert cheapest.get_num_tokens_from_messages([AIMessage(text)]) > expected


def test_from_pretrained_loads_router_reward_model_and_threshold(
    local_pool: LocalPool, tmp_path: Any
) -> None:
    local_pool.router.save(tmp_path / "router")
    local_pool.scorer.save(tmp_path / "reward")
    (tmp_path / "threshold.json").write_text(json.dumps({"threshold": 0.0}))
    model = ChatBestRoute.from_pretrained(tmp_path, models=local_pool.models())
    assert model.engine.pool.reference == REFERENCE
    assert model.threshold == 0.0
    assert type(model.scorer) is type(local_pool.scorer)
    responses = ["Hello! How can I help you today?", ""]
    assert model.scorer.score("Hello", responses) == pytest.approx(
        local_pool.scorer.score("Hello", responses), abs=1e-5
    )
    message = model.invoke("Hello")
    assert message.response_metadata["bestroute"]["arm"] == f"{CHEAP}@1"
    direct = ChatBestRoute.from_pretrained(
        tmp_path / "router", models=local_pool.models(), threshold=1.0, scorer=local_pool.scorer
    )
    assert direct.engine.route("Hello").arm.key == f"{REFERENCE}@1"  # no arm reaches 1.0
