"""Real local components for the LlamaIndex adapter tests, loaded once per session.

The pool is two differently priced endpoints of the one generative model that installs here
(SmolLM2-135M-Instruct), sharing one loaded copy: ``smollm2-cheap`` and ``smollm2-reference``.
The router is a real RouterNet (MiniLM encoder + heads) trained on labels that make best-of-3
from the cheap endpoint the arm it trusts (p ~ 0.9) and the n = 1, 2 ones it does not (p ~ 0.1),
so the threshold picks the arm: 0.0 -> cheap@1 (the cheapest), 0.5 -> cheap@3, 0.95 -> the
reference. Tests read the names and thresholds from the ``pool`` fixture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from llama_index.core.base.llms.types import (
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.llms.custom import CustomLLM

from bestroute.pool import Arm
from bestroute.scoring.base import VerifierScorer

CHEAP = "smollm2-cheap"
REFERENCE = "smollm2-reference"
PRICES = {CHEAP: (0.10, 0.40), REFERENCE: (5.00, 15.00)}
MAX_NEW_TOKENS = 24
THRESHOLD_N1 = 0.0
THRESHOLD_N3 = 0.5
THRESHOLD_REFERENCE = 0.95


class SmolCompletionLLM(CustomLLM):
    """A completion-only (non-chat, no function calling) LlamaIndex LLM over the real SmolLM2,
    the shape of many self-hosted endpoints. It counts calls in flight to show concurrency."""

    model_name: str = "smollm2-completion"
    max_new_tokens: int = MAX_NEW_TOKENS
    _backend: Any = PrivateAttr()
    _active: int = PrivateAttr(default=0)
    _max_active: int = PrivateAttr(default=0)

    def __init__(self, backend: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._backend = backend

    @property
    def max_active(self) -> int:
        return self._max_active

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=2048,
            num_output=self.max_new_tokens,
            is_chat_model=False,
            model_name=self.model_name,
        )

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        sample = self._backend.generate(prompt, 1, max_new_tokens=self.max_new_tokens)[0]
        return CompletionResponse(text=sample.text)

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        self._active += 1
        self._max_active = max(self._max_active, self._active)
        try:
            samples = await self._backend.agenerate(prompt, 1, max_new_tokens=self.max_new_tokens)
        finally:
            self._active -= 1
        return CompletionResponse(text=samples[0].text)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        text = self.complete(prompt).text

        def gen() -> Iterator[CompletionResponse]:
            yield CompletionResponse(text=text, delta=text)

        return gen()


@dataclass(frozen=True)
class PoolSpec:
    """Names, prices and the thresholds that pick each arm (see the module docstring)."""

    cheap: str = CHEAP
    reference: str = REFERENCE
    n1: float = THRESHOLD_N1
    n3: float = THRESHOLD_N3
    to_reference: float = THRESHOLD_REFERENCE
    max_new_tokens: int = MAX_NEW_TOKENS


@pytest.fixture(scope="session")
def pool() -> PoolSpec:
    return PoolSpec()


@pytest.fixture(scope="session")
def completion_llm_class() -> type[SmolCompletionLLM]:
    return SmolCompletionLLM


@pytest.fixture(scope="session")
def smol_backend() -> Any:
    from bestroute.backends.transformers_local import TransformersBackend

    return TransformersBackend(max_new_tokens=MAX_NEW_TOKENS, temperature=0.7)


@pytest.fixture(scope="session")
def pool_llms(smol_backend: Any) -> dict[str, Any]:
    from llamaindex_bestroute import TransformersLLM

    return {
        CHEAP: TransformersLLM(smol_backend, model_name=CHEAP, context_window=4096),
        REFERENCE: TransformersLLM(smol_backend, model_name=REFERENCE),
    }


@pytest.fixture(scope="session")
def router() -> Any:
    """A real RouterNet trained so that cheap@3 is trusted and cheap@1/@2 are not."""
    from bestroute.training import fit_router_net

    queries = [
        *(f"What is {i} plus {i + 3}?" for i in range(10)),
        *(f"Summarise the history of city number {i} in one sentence." for i in range(10)),
        *(f"Which tool would you call to multiply {i} by {i + 2}?" for i in range(10)),
    ]
    labels = np.tile(np.array([[0.1, 0.1, 0.9]], dtype=np.float32), (len(queries), 1))
    arms = [Arm(CHEAP, n) for n in (1, 2, 3)]
    trained, _ = fit_router_net(labels, arms, queries=queries, progress=False, seed=0)
    return trained


@pytest.fixture(scope="session")
def longest_scorer() -> VerifierScorer:
    """A real, simple scorer: prefers the longer response (ties go to the first)."""
    return VerifierScorer(lambda query, response: float(len(response)))


def priced(llms: dict[str, Any]) -> dict[str, Any]:
    """BestRouteLLM's ``models=``: each LLM with its price from :data:`PRICES`."""
    return {name: (llm, *PRICES[name]) for name, llm in llms.items()}


@pytest.fixture(scope="session")
def pool_models(pool_llms: dict[str, Any]) -> dict[str, Any]:
    """The shared pool as BestRouteLLM takes it: name -> (llm, input price, output price)."""
    return priced(pool_llms)


@pytest.fixture(scope="session")
def make_llm(
    pool_llms: dict[str, Any], router: Any, longest_scorer: VerifierScorer
) -> Callable[..., Any]:
    """``make_llm(threshold, llms=None, **kwargs)`` -> a BestRouteLLM over the shared pool (or
    over ``llms``, priced from :data:`PRICES`)."""
    from llamaindex_bestroute import BestRouteLLM

    def make(
        threshold: float, *, llms: dict[str, Any] | None = None, **kwargs: Any
    ) -> BestRouteLLM:
        return BestRouteLLM(
            priced(llms or pool_llms),
            router,
            scorer=kwargs.pop("scorer", longest_scorer),
            threshold=threshold,
            **kwargs,
        )

    return make
