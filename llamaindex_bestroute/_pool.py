"""The engine's candidates from ``models={name: (llm, input_price, output_price)}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llama_index.core.llms.llm import LLM

from bestroute.cost import TokenCounter
from bestroute.errors import ConfigurationError
from bestroute.pool import Candidate, read_model_entry
from llamaindex_bestroute.backend import LlamaIndexBackend

#: The pool shape BestRouteLLM takes (the same as ChatBestRoute's).
MODELS_SHAPE = (
    "models={'name': (llm, input_price, output_price)} in US dollars per 1M tokens (a fourth "
    "item sets the expected output tokens)"
)


def pool_candidates(
    models: Mapping[str, Any], token_counters: Mapping[str, TokenCounter] | None = None
) -> dict[str, Candidate]:
    """One candidate per pool LLM, behind a :class:`LlamaIndexBackend`; the entries and their
    prices are read by the core (:func:`bestroute.pool.read_model_entry`)."""
    if not isinstance(models, Mapping) or not models:
        raise ConfigurationError(f"the pool is empty: pass {MODELS_SHAPE}")
    candidates = {}
    for name, entry in models.items():
        priced = read_model_entry(name, entry)
        if not isinstance(priced.model, LLM):
            raise ConfigurationError(
                f"pool model {name!r} is a {type(priced.model).__name__}, not a LlamaIndex LLM"
            )
        backend = LlamaIndexBackend(priced.model, token_counter=(token_counters or {}).get(name))
        candidates[name] = Candidate(
            name,
            backend,
            priced.price.input,
            priced.price.output,
            priced.expected_output_tokens,
            token_counter=backend.token_counter,
        )
    return candidates
