"""BestRouteLLM over a pool of real local LLMs: routing, usage, streaming, fallback, metadata."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler

from bestroute.cost import ensure_offline_tiktoken_cache
from bestroute.pool import Arm
from bestroute.prices import ModelPrice
from bestroute.scoring.reward_model import RewardModel
from bestroute.training import PreferencePair, train_reward_model
from llamaindex_bestroute import BestRouteLLM, TransformersLLM

pytestmark = pytest.mark.slow  # real local models (SmolLM2, MiniLM)


def user(text: str) -> list[ChatMessage]:
    return [ChatMessage(role="user", content=text)]


def test_metadata_describes_the_pool(make_llm: Any, pool: Any) -> None:
    llm = make_llm(pool.n1)
    meta = llm.metadata
    assert meta.context_window == 4096  # the smaller of 4096 (cheap) and 8192 (reference)
    assert meta.num_output == pool.max_new_tokens
    assert meta.is_chat_model
    assert meta.is_function_calling_model
    assert meta.model_name == f"bestroute[{pool.cheap},{pool.reference}]"
    assert llm.class_name() == "BestRouteLLM"
    assert set(llm.llms) == {pool.cheap, pool.reference}


def test_metadata_of_a_pool_without_chat_or_function_calling(
    make_llm: Any,
    pool: Any,
    pool_llms: dict[str, Any],
    smol_backend: Any,
    completion_llm_class: Any,
) -> None:
    llms = {
        pool.cheap: completion_llm_class(smol_backend),
        pool.reference: pool_llms[pool.reference],
    }
    meta = make_llm(pool.n1, llms=llms).metadata
    assert meta.context_window == 2048
    assert not meta.is_chat_model
    assert not meta.is_function_calling_model


def test_chat_routes_to_the_cheapest_qualifying_arm(make_llm: Any, pool: Any) -> None:
    llm = make_llm(pool.n1)
    response = llm.chat(user("What is the capital of France?"))
    assert isinstance(response, ChatResponse)
    assert response.message.content
    raw = response.raw
    trace = raw["bestroute"]
    assert raw["model"] == pool.cheap
    assert (trace["arm"], trace["n"]) == (f"{pool.cheap}@1", 1)
    assert set(trace["probabilities"]) == {f"{pool.cheap}@{n}" for n in (1, 2, 3)}
    [sample] = trace["attempts"][0]["samples"]
    assert raw["usage"] == {
        "prompt_tokens": sample["input_tokens"],
        "completion_tokens": sample["output_tokens"],
        "total_tokens": sample["input_tokens"] + sample["output_tokens"],
    }
    cheap_in, cheap_out = 0.10, 0.40
    expected = (sample["input_tokens"] * cheap_in + sample["output_tokens"] * cheap_out) / 1e6
    assert trace["actual_cost"] == pytest.approx(expected)
    assert trace["estimated_cost"] > 0


async def test_best_of_three_bills_every_sample(make_llm: Any, pool: Any) -> None:
    ensure_offline_tiktoken_cache()
    counter = TokenCountingHandler()
    llm = make_llm(pool.n3, callback_manager=CallbackManager([counter]))
    response = await llm.achat(user("Write one sentence about the sea."))
    trace = response.raw["bestroute"]
    assert (trace["arm"], trace["n"]) == (f"{pool.cheap}@3", 3)
    samples = trace["attempts"][0]["samples"]
    assert len(samples) == 3 and len(trace["scores"]) == 3
    # one batched call: the prompt is paid once, every sample's output is paid
    usage = response.raw["usage"]
    assert usage["prompt_tokens"] == samples[0]["input_tokens"]
    assert usage["completion_tokens"] == sum(s["output_tokens"] for s in samples)
    # the longest-response scorer chose, and the chosen message is the selected sample's
    assert trace["selected"] == int(np.argmax(trace["scores"]))
    assert response.message.content == samples[trace["selected"]]["text"]
    # LlamaIndex's TokenCountingHandler records what the user is billed: all three samples
    assert counter.prompt_llm_token_count == usage["prompt_tokens"]
    assert counter.completion_llm_token_count == usage["completion_tokens"]


def test_complete_goes_to_the_reference_when_no_arm_qualifies(make_llm: Any, pool: Any) -> None:
    llm = make_llm(pool.to_reference)
    response = llm.complete("The three primary colours are")
    assert isinstance(response, CompletionResponse)
    assert response.text
    assert response.raw["model"] == pool.reference
    assert response.raw["bestroute"]["arm"] == f"{pool.reference}@1"


def test_sync_calls_draw_the_samples_concurrently(
    make_llm: Any,
    pool: Any,
    pool_llms: dict[str, Any],
    smol_backend: Any,
    completion_llm_class: Any,
) -> None:
    cheap = completion_llm_class(smol_backend)
    llm = make_llm(pool.n3, llms={pool.cheap: cheap, pool.reference: pool_llms[pool.reference]})
    response = llm.complete("Name a planet:")  # sync API, completion-only LLM, no native n
    trace = response.raw["bestroute"]
    assert trace["arm"] == f"{pool.cheap}@3"
    assert cheap.max_active == 3  # all three acomplete calls were in flight together
    attempt = trace["attempts"][0]
    assert attempt["calls"] == 3
    # three calls: the prompt is paid three times
    assert response.raw["usage"]["prompt_tokens"] == sum(
        s["input_tokens"] for s in attempt["samples"]
    )


def test_stream_chat_with_n1_streams_tokens_as_they_come(make_llm: Any, pool: Any) -> None:
    llm = make_llm(pool.n1)
    chunks = list(llm.stream_chat(user("Tell me about cats.")))
    deltas = [c.delta for c in chunks if c.delta]
    assert len(deltas) >= 2
    final = chunks[-1]
    assert final.delta == ""
    assert final.raw["bestroute"]["arm"] == f"{pool.cheap}@1"
    assert "".join(deltas) == final.message.content
    assert final.raw["usage"]["completion_tokens"] > 0


async def test_astream_chat_with_n3_streams_the_selected_response(make_llm: Any, pool: Any) -> None:
    llm = make_llm(pool.n3)
    stream = await llm.astream_chat(user("Give me a short greeting."))
    chunks = [chunk async for chunk in stream]
    deltas = [c.delta for c in chunks if c.delta]
    final = chunks[-1]
    assert final.raw["bestroute"]["arm"] == f"{pool.cheap}@3"
    assert deltas == [final.message.content]  # one piece, after selection


async def test_astream_complete_streams_deltas(make_llm: Any, pool: Any) -> None:
    llm = make_llm(pool.n1)
    stream = await llm.astream_complete("Once upon a time")
    chunks = [chunk async for chunk in stream]
    assert len([c for c in chunks if c.delta]) >= 2
    assert chunks[-1].text == "".join(c.delta or "" for c in chunks)
    assert chunks[-1].raw["bestroute"]["n"] == 1


def test_a_failing_pool_llm_degrades_to_the_next_arm(
    make_llm: Any, pool: Any, smol_backend: Any, pool_llms: dict[str, Any]
) -> None:
    # a misconfigured endpoint of the real model: every call fails (max_new_tokens must be >= 1)
    broken = TransformersLLM(smol_backend, model_name=pool.cheap, max_new_tokens=0)
    llm = make_llm(pool.n1, llms={pool.cheap: broken, pool.reference: pool_llms[pool.reference]})
    response = llm.chat(user("What is two plus two?"))
    trace = response.raw["bestroute"]
    assert response.raw["model"] == pool.reference
    assert trace["routed_arm"] == f"{pool.cheap}@1"
    failed = [a for a in trace["attempts"] if a["errors"]]
    assert failed and all(a["arm"].startswith(pool.cheap) for a in failed)
    assert "max_new_tokens" in failed[0]["errors"][0]
    # streaming falls back the same way when the arm fails before its first token
    chunks = list(llm.stream_chat(user("What is two plus two?")))
    assert chunks[-1].raw["model"] == pool.reference
    assert chunks[-1].message.content


def test_from_pretrained_loads_the_router_checkpoint(
    tmp_path: Any, router: Any, pool_llms: dict[str, Any], pool: Any, longest_scorer: Any
) -> None:
    router.save(tmp_path / "router")
    models = {
        pool.cheap: (pool_llms[pool.cheap], ModelPrice(0.1, 0.4)),
        pool.reference: (pool_llms[pool.reference], 5.0, 15.0),
    }
    llm = BestRouteLLM.from_pretrained(tmp_path, models, scorer=longest_scorer, threshold=pool.n3)
    assert llm.engine.pool.reference == pool.reference
    assert llm.engine.route(user("What is 3 plus 4?")).arm == Arm(pool.cheap, 3)
    # a router checkpoint path works directly too
    direct = BestRouteLLM.from_pretrained(tmp_path / "router", models, scorer=longest_scorer)
    assert direct.engine.policy.threshold == 0.5


def test_from_pretrained_loads_the_reward_model_and_threshold(
    tmp_path: Any, router: Any, pool_models: dict[str, Any]
) -> None:
    pairs = [
        PreferencePair(f"What is {i} plus {i}?", f"{i} plus {i} is {2 * i}.", "I like turtles.")
        for i in range(8)
    ]
    reward, _ = train_reward_model(pairs, epochs=3, val_fraction=0.0, progress=False)
    router.save(tmp_path / "router")
    reward.save(tmp_path / "reward")
    (tmp_path / "threshold.json").write_text(json.dumps({"threshold": 0.42}))
    llm = BestRouteLLM.from_pretrained(tmp_path, models=pool_models)
    assert isinstance(llm.engine.scorer, RewardModel)
    assert llm.engine.policy.threshold == pytest.approx(0.42)
