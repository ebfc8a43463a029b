"""ChatBestRoute over fake chat models and a function-backed router: construction, the pool
shape, tracing parameters, tool binding and one routed call end to end."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from bestroute.errors import ArmMismatchError, ConfigurationError, InvalidPriceError
from bestroute.prices import ModelPrice
from langchain_bestroute import ChatBestRoute, ChatTransformers

FakePool = Any  # the conftest's FakePool (a fixture)
CHEAP = "fake-cheap"
REFERENCE = "fake-reference"


@pytest.fixture
def cheapest(fake_pool: FakePool) -> ChatBestRoute:
    """Threshold 0: every arm qualifies and the cheapest, (cheap, n = 1), answers."""
    return ChatBestRoute(**fake_pool.params(threshold=0.0))


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def test_tracing_params_name_the_provider_and_model(cheapest: ChatBestRoute) -> None:
    params = cheapest._get_ls_params()
    assert params["ls_provider"] == "bestroute"
    assert params["ls_model_name"] == f"bestroute({CHEAP}|{REFERENCE})"


def test_a_model_override_is_refused(cheapest: ChatBestRoute) -> None:
    with pytest.raises(ConfigurationError, match="chooses the pool model"):
        cheapest.invoke("Hello", model=REFERENCE)


def test_pool_entries_accept_tuples_specs_and_mappings(fake_pool: FakePool) -> None:
    model = ChatBestRoute(
        models={
            CHEAP: {"chat_model": fake_pool.cheap, "input_price": 0.1, "output_price": 0.2},
            REFERENCE: (fake_pool.reference, 1.0, 2.0),
        },
        router=fake_pool.router,
        scorer=fake_pool.scorer,
    )
    candidates = model.engine.pool.candidates
    assert (candidates[CHEAP].input_price, candidates[REFERENCE].output_price) == (0.1, 2.0)
    assert model.engine.pool.reference == REFERENCE
    assert model.engine.pool.max_n == 2  # read from the router's arms
    with pytest.raises(ConfigurationError, match="has no prices"):
        ChatBestRoute(models={CHEAP: fake_pool.cheap}, router=fake_pool.router)


def test_a_router_for_other_arms_is_refused(fake_pool: FakePool) -> None:
    with pytest.raises(ArmMismatchError):
        ChatBestRoute(**fake_pool.params(max_n=3))
    with pytest.raises(ConfigurationError, match="not in models"):
        ChatBestRoute(models={"other": (fake_pool.cheap, 0.1, 0.2)}, router=fake_pool.router)


def test_pool_entries_are_read_by_the_core(fake_pool: FakePool) -> None:
    model = ChatBestRoute(
        **fake_pool.params(
            models={
                CHEAP: (fake_pool.cheap, 0.1, 0.2, 48),
                REFERENCE: (fake_pool.reference, ModelPrice(5.0, 15.0, "list price")),
            }
        )
    )
    cheap, reference = model.engine.pool.candidate(CHEAP), model.engine.pool.candidate(REFERENCE)
    assert cheap.expected_output_tokens == 48
    assert (reference.input_price, reference.output_price) == (5.0, 15.0)
    with pytest.raises(InvalidPriceError, match="the input price of 'fake-cheap' must be >= 0"):
        ChatBestRoute(
            **fake_pool.params(models={**fake_pool.models(), CHEAP: (fake_pool.cheap, -1, 1)})
        )
    with pytest.raises(ConfigurationError, match="must be a LangChain chat model"):
        ChatBestRoute(**fake_pool.params(models={**fake_pool.models(), CHEAP: (object(), 1, 1)}))
    with pytest.raises(ConfigurationError, match="router must be a bestroute Router"):
        ChatBestRoute(**fake_pool.params(router=42))
    with pytest.raises(ConfigurationError, match="scorer must have score"):
        ChatBestRoute(**fake_pool.params(scorer="longest"))


def test_a_routed_call_bills_every_sample(fake_pool: FakePool) -> None:
    model = ChatBestRoute(**fake_pool.params())
    message = model.invoke("Say hello.")
    routing = message.response_metadata["bestroute"]
    assert routing["arm"] == f"{CHEAP}@2"  # p = 0.8 clears 0.5, p = 0.3 does not
    assert message.content == "Hello there, friend."  # the longer of the two canned replies
    assert message.response_metadata["model_name"] == CHEAP
    usage = message.usage_metadata
    assert usage is not None and usage["output_tokens"] > 0
    (attempt,) = routing["attempts"]
    assert attempt["samples"] == 2 and attempt["output_tokens"] == usage["output_tokens"]
    price_in, price_out = fake_pool.models()[CHEAP][1:3]
    expected = (usage["input_tokens"] * price_in + usage["output_tokens"] * price_out) / 1e6
    assert routing["actual_cost"] == pytest.approx(expected)


def test_bind_tools_binds_the_schemas_the_choice_and_the_options(cheapest: ChatBestRoute) -> None:
    bound: Any = cheapest.bind_tools([add], tool_choice="add", strict=True)
    assert [tool["function"]["name"] for tool in bound.kwargs["tools"]] == ["add"]
    assert bound.kwargs["tool_choice"] == "add"
    assert bound.kwargs["tool_options"] == {"strict": True}  # handed to each pool model
    plain: Any = cheapest.bind_tools([add])
    assert set(plain.kwargs) == {"tools"}


def test_chat_transformers_shares_tracing_and_tool_binding() -> None:
    # A stand-in for the loaded backend: nothing here generates.
    local = ChatTransformers(backend=SimpleNamespace(name="smol"), temperature=0.0, stop=["\n"])
    params = local._get_ls_params(max_tokens=12)
    assert (params["ls_provider"], params["ls_model_name"]) == ("transformers", "smol")
    assert (params["ls_temperature"], params["ls_max_tokens"], params["ls_stop"]) == (
        0.0,
        12,
        ["\n"],
    )
    bound: Any = local.bind_tools(
        [add],
        tool_choice="any",
        strict=True,
        parallel_tool_calls=False,
        ls_structured_output_format={},
    )
    assert bound.kwargs["tool_choice"] == "any"
    assert "ls_structured_output_format" in bound.kwargs  # call-level, read by LangChain
    assert not {"strict", "parallel_tool_calls", "tool_options"} & set(bound.kwargs)
