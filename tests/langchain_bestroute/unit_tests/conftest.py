"""A pool of fake LangChain chat models and a function-backed router, for fast unit tests.

The chat models are LangChain's own ``FakeListChatModel`` (canned replies, no weights); the
router is ``tests/conftest.py``'s ``FunctionRouter``: the cheap model's best-of-2 arm is trusted
(p = 0.8), its single sample is not (p = 0.3). The scorer prefers the longer reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from bestroute.pool import Arm
from bestroute.scoring.base import VerifierScorer

CHEAP = "fake-cheap"
REFERENCE = "fake-reference"


@dataclass(frozen=True)
class FakePool:
    """The pieces every unit test builds its ChatBestRoute from."""

    CHEAP: ClassVar[str] = CHEAP
    REFERENCE: ClassVar[str] = REFERENCE

    cheap: FakeListChatModel
    reference: FakeListChatModel
    router: Any
    scorer: VerifierScorer

    def models(self, cheap_price: float = 0.02, reference_price: float = 0.5) -> dict[str, Any]:
        """Pool entries: name -> (chat model, $/1M input, $/1M output)."""
        return {
            CHEAP: (self.cheap, cheap_price, 2 * cheap_price),
            REFERENCE: (self.reference, reference_price, 2 * reference_price),
        }

    def params(self, **overrides: Any) -> dict[str, Any]:
        """ChatBestRoute keyword arguments for the fake two-model pool."""
        return {
            "models": self.models(),
            "reference": REFERENCE,
            "router": self.router,
            "scorer": self.scorer,
            "threshold": 0.5,
            **overrides,
        }


@pytest.fixture
def fake_pool(function_router: Any) -> FakePool:
    return FakePool(
        cheap=FakeListChatModel(responses=["Hi!", "Hello there, friend."]),
        reference=FakeListChatModel(responses=["Hello! How can I help you today?"]),
        router=function_router([Arm(CHEAP, 1), Arm(CHEAP, 2)], lambda query: [0.3, 0.8]),
        scorer=VerifierScorer(lambda query, response: float(len(response))),
    )
