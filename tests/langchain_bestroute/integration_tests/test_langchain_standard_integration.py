"""LangChain's standard integration suite for ChatBestRoute, run offline on real local models.

The pool is two differently priced endpoints of SmolLM2-135M-Instruct (see the conftest), routed
by a RouterNet trained in the session. A test that cannot apply to this pool is marked xfail with
its reason.
"""

from __future__ import annotations

from typing import Any, Literal

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_tests.integration_tests import ChatModelIntegrationTests

from langchain_bestroute import ChatBestRoute

pytestmark = pytest.mark.slow  # real local models (SmolLM2, MiniLM)

SCHEMA_COPYING = (
    "SmolLM2-135M-Instruct, the only generative model installed offline, fills a forced tool "
    "call's arguments by copying the tool's JSON schema (e.g. {'exclusiveMaximum': 1000, ...} "
    "for magic_function(3)) instead of reading the values from the question"
)
UNPARSEABLE_CALLS = (
    "forced tool calls from SmolLM2-135M-Instruct are often malformed (arguments that are not a "
    "JSON object, or that hold a Python set the local backend cannot serialise), so the call "
    "is dropped or the sampled call fails on every arm"
)
NO_UNFORCED_CALLS = (
    "without tool_choice SmolLM2-135M-Instruct answers in text and does not call the tool "
    "(the adapter's agent test forces the call with tool_choice)"
)
CHILD_RUNS = (
    "ChatBestRoute reports every sampled call as a child run (issue 4), so on_chat_model_start "
    "fires once for the router run and once per sample, where this test expects exactly one;"
)
NO_JOKES = (
    "SmolLM2-135M-Instruct does not reliably fill the Joke schema's fields within the test's "
    "token budget (it depends on the arm and the sample drawn)"
)


class TestChatBestRouteIntegration(ChatModelIntegrationTests):
    @pytest.fixture(autouse=True)
    def _pool_params(self, local_pool: Any) -> None:
        self._params = local_pool.params()

    @property
    def chat_model_class(self) -> type[ChatBestRoute]:
        return ChatBestRoute

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return dict(self._params)

    @property
    def supports_model_override(self) -> bool:
        # The router picks the pool model per query; a model=... override is refused.
        return False

    # ------------------------------------------------------------------ expected failures
    # Tool calling and structured output pass through ChatBestRoute to the pool models (see
    # test_langchain_tools.py beside this file for the adapter's own checks), but the only
    # generative model installed here, SmolLM2-135M-Instruct, cannot do what these tests ask.

    @pytest.mark.xfail(reason=SCHEMA_COPYING, strict=False)
    @pytest.mark.parametrize("model", [{}, {"output_version": "v1"}], indirect=True)
    def test_tool_calling(self, model: BaseChatModel) -> None:
        super().test_tool_calling(model)

    @pytest.mark.xfail(reason=SCHEMA_COPYING, strict=False)
    async def test_tool_calling_async(self, model: BaseChatModel) -> None:
        await super().test_tool_calling_async(model)

    @pytest.mark.xfail(reason=SCHEMA_COPYING, strict=False)
    def test_tool_calling_with_no_arguments(self, model: BaseChatModel) -> None:
        super().test_tool_calling_with_no_arguments(model)

    @pytest.mark.xfail(reason=SCHEMA_COPYING, strict=False)
    def test_unicode_tool_call_integration(
        self,
        model: BaseChatModel,
        *,
        tool_choice: str | None = None,
        force_tool_call: bool = True,
    ) -> None:
        super().test_unicode_tool_call_integration(
            model, tool_choice=tool_choice, force_tool_call=force_tool_call
        )

    @pytest.mark.xfail(reason=UNPARSEABLE_CALLS, strict=False)
    def test_tool_choice(self, model: BaseChatModel) -> None:
        super().test_tool_choice(model)

    @pytest.mark.xfail(reason=NO_UNFORCED_CALLS, strict=False)
    @pytest.mark.parametrize("model", [{}, {"output_version": "v1"}], indirect=True)
    def test_agent_loop(self, model: BaseChatModel) -> None:
        super().test_agent_loop(model)

    @pytest.mark.xfail(reason=CHILD_RUNS + " " + NO_JOKES, strict=False)
    @pytest.mark.parametrize("schema_type", ["pydantic", "typeddict", "json_schema"])
    def test_structured_output(
        self,
        model: BaseChatModel,
        schema_type: Literal["pydantic", "typeddict", "json_schema"],
    ) -> None:
        super().test_structured_output(model, schema_type)

    @pytest.mark.xfail(reason=CHILD_RUNS + " " + NO_JOKES, strict=False)
    @pytest.mark.parametrize("schema_type", ["pydantic", "typeddict", "json_schema"])
    async def test_structured_output_async(
        self,
        model: BaseChatModel,
        schema_type: Literal["pydantic", "typeddict", "json_schema"],
    ) -> None:
        await super().test_structured_output_async(model, schema_type)

    @pytest.mark.xfail(reason=NO_JOKES, strict=False)
    def test_structured_output_pydantic_2_v1(self, model: BaseChatModel) -> None:
        super().test_structured_output_pydantic_2_v1(model)

    @pytest.mark.xfail(reason=NO_JOKES, strict=False)
    def test_structured_output_optional_param(self, model: BaseChatModel) -> None:
        super().test_structured_output_optional_param(model)
