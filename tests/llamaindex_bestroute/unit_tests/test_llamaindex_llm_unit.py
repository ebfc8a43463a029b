"""BestRouteLLM over fake LlamaIndex LLMs and a function-backed router: the pool shape,
construction and the errors that say what to do."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.llms.mock import MockLLM
from llama_index.core.tools import FunctionTool

import llamaindex_bestroute
from bestroute.backends.function import FunctionBackend
from bestroute.errors import ArmMismatchError, ConfigurationError
from bestroute.pool import Arm
from bestroute.prices import ModelPrice
from bestroute.scoring.base import VerifierScorer
from llamaindex_bestroute import BestRouteLLM, LlamaIndexBackend, TransformersLLM

CHEAP = "mock-cheap"
REFERENCE = "mock-reference"


def user(text: str) -> list[ChatMessage]:
    return [ChatMessage(role="user", content=text)]


@pytest.fixture
def router(function_router: Any) -> Any:
    """Trusts best-of-3 from the cheap LLM (p = 0.9), not n = 1 or 2 (p = 0.1)."""
    return function_router([Arm(CHEAP, n) for n in (1, 2, 3)], lambda query: [0.1, 0.1, 0.9])


@pytest.fixture
def pool_llms() -> dict[str, MockLLM]:
    return {CHEAP: MockLLM(max_tokens=4), REFERENCE: MockLLM(max_tokens=8)}


@pytest.fixture
def scorer() -> VerifierScorer:
    return VerifierScorer(lambda query, response: float(len(response)))


def test_public_api_is_pinned() -> None:
    assert sorted(llamaindex_bestroute.__all__) == [
        "BestRouteLLM",
        "EmptyStreamError",
        "LlamaIndexBackend",
        "TransformersLLM",
    ]


def test_the_pool_is_models_with_their_prices(
    router: Any, pool_llms: dict[str, MockLLM], scorer: VerifierScorer
) -> None:
    models = {
        CHEAP: (pool_llms[CHEAP], 0.1, 0.4, 32),
        REFERENCE: (pool_llms[REFERENCE], ModelPrice(5.0, 15.0, "list price")),
    }
    llm = BestRouteLLM(models, router, scorer=scorer, threshold=0.5)
    pool = llm.engine.pool
    assert (pool.reference, pool.max_n) == (REFERENCE, 3)  # inferred from the router's arms
    cheap, reference = pool.candidate(CHEAP), pool.candidate(REFERENCE)
    assert (cheap.input_price, cheap.output_price, cheap.expected_output_tokens) == (0.1, 0.4, 32)
    assert (reference.input_price, reference.output_price) == (5.0, 15.0)
    response = llm.chat(user("What is 3 plus 4?"))
    assert response.raw["model"] == CHEAP
    assert response.raw["bestroute"]["arm"] == f"{CHEAP}@3"
    assert response.raw["usage"]["completion_tokens"] > 0


def test_the_former_pool_keywords_name_the_new_shape(
    router: Any, pool_llms: dict[str, MockLLM], tmp_path: Any
) -> None:
    prices = {CHEAP: (0.1, 0.4), REFERENCE: (5.0, 15.0)}
    with pytest.raises(ConfigurationError, match=r"llms= and prices= are no longer accepted"):
        BestRouteLLM(llms=pool_llms, router=router, prices=prices)
    with pytest.raises(ConfigurationError, match=r"models=\{'name': \(llm, input_price"):
        BestRouteLLM.from_pretrained(tmp_path, llms=pool_llms, prices=prices)
    with pytest.raises(ConfigurationError, match="needs models="):
        BestRouteLLM.from_pretrained(tmp_path)
    with pytest.raises(ConfigurationError, match="has no prices"):
        BestRouteLLM(pool_llms, router)  # the former positional llms: entries without prices


def test_configuration_errors_say_what_to_do(
    router: Any, pool_llms: dict[str, MockLLM], function_router: Any, scorer: VerifierScorer
) -> None:
    with pytest.raises(ConfigurationError, match="has no prices"):
        BestRouteLLM({CHEAP: (pool_llms[CHEAP], 0.1, 0.4), REFERENCE: pool_llms[REFERENCE]}, router)
    other = function_router([Arm("some-other-model", 1)], lambda query: [0.5])
    models = {CHEAP: (pool_llms[CHEAP], 0, 0), REFERENCE: (pool_llms[REFERENCE], 1, 1)}
    with pytest.raises(ConfigurationError, match="reference"):
        BestRouteLLM(models, other)
    with pytest.raises(ArmMismatchError):
        BestRouteLLM(models, other, reference=REFERENCE)
    with pytest.raises(ConfigurationError, match="not a LlamaIndex LLM"):
        BestRouteLLM({CHEAP: (object(), 0, 0), REFERENCE: models[REFERENCE]}, router)
    with pytest.raises(ConfigurationError, match=r"engine=\.\.\. or models/router"):
        BestRouteLLM(models, router, engine=BestRouteLLM(models, router, scorer=scorer).engine)
    with pytest.raises(ConfigurationError, match="scorer must have score"):
        BestRouteLLM(models, router, scorer=len)  # type: ignore[arg-type]


def test_built_from_an_engine(
    router: Any, pool_llms: dict[str, MockLLM], scorer: VerifierScorer
) -> None:
    models = {CHEAP: (pool_llms[CHEAP], 0.1, 0.4), REFERENCE: (pool_llms[REFERENCE], 5.0, 15.0)}
    engine = BestRouteLLM(models, router, scorer=scorer, threshold=0.5).engine
    llm = BestRouteLLM(engine=engine, model_name="my-router")
    assert llm.engine is engine and llm.metadata.model_name == "my-router"
    engine.pool.candidate(CHEAP).backend = FunctionBackend(lambda messages: "hi")
    with pytest.raises(ConfigurationError, match="LlamaIndexBackend"):
        BestRouteLLM(engine=engine)


def test_rejects_objects_that_are_not_llamaindex_llms() -> None:
    with pytest.raises(ConfigurationError, match=r"needs a llama_index\.core LLM"):
        LlamaIndexBackend(object())  # type: ignore[arg-type]


def test_chat_with_tools_hands_the_tools_on_as_given() -> None:
    def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        return a * b

    tool = FunctionTool.from_defaults(fn=multiply)
    history = [ChatMessage(role="system", content="Be brief.")]
    for llm_class in (BestRouteLLM, TransformersLLM):
        arguments = llm_class._prepare_chat_with_tools(
            None,  # type: ignore[arg-type]  # the method reads no state
            [tool],
            user_msg="6 times 7?",
            chat_history=history,
            tool_required=True,
            tool_choice="multiply",
        )
        assert [m.role for m in arguments["messages"]] == [MessageRole.SYSTEM, MessageRole.USER]
        assert arguments["tools"] == [tool]
        assert arguments["tool_required"] is True
        assert arguments["allow_parallel_tool_calls"] is False
        assert arguments["tool_choice"] == "multiply"
    assert history == [ChatMessage(role="system", content="Be brief.")]  # not changed
