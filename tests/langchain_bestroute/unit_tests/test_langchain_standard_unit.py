"""LangChain's standard unit suite for ChatBestRoute over a pool of fake chat models."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.unit_tests import ChatModelUnitTests

from langchain_bestroute import ChatBestRoute


class TestChatBestRouteUnit(ChatModelUnitTests):
    @pytest.fixture(autouse=True)
    def _pool_params(self, fake_pool: Any) -> None:
        self._params = fake_pool.params()

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
