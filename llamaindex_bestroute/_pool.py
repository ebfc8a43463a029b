"""Build the engine's pool and router from LlamaIndex LLMs, prices and a router or checkpoint."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from llama_index.core.llms.llm import LLM

from bestroute.cost import TokenCounter
from bestroute.errors import ConfigurationError
from bestroute.pool import DEFAULT_EXPECTED_OUTPUT_TOKENS, Candidate, Pool
from bestroute.router.base import Router
from llamaindex_bestroute.backend import LlamaIndexBackend

#: A price: ``(input, output)`` US dollars per 1M tokens, or a mapping with ``input``/``output``
#: (the entries of a ``prices.json`` file).
Price = tuple[float, float] | Mapping[str, Any]


def resolve_router(router: Router | str | os.PathLike[str]) -> Router:
    """A Router object as is; a path loads the router checkpoint saved there."""
    if isinstance(router, str | os.PathLike):
        from bestroute.router.checkpoint import load_router

        return load_router(Path(router))
    if not callable(getattr(router, "predict", None)) or not hasattr(router, "arms"):
        raise ConfigurationError(
            f"router must be a Router (arms + predict) or a checkpoint path, got "
            f"{type(router).__name__}"
        )
    return router


def price_of(name: str, prices: Mapping[str, Price]) -> tuple[float, float]:
    """``(input, output)`` dollars per 1M tokens for ``name``."""
    if name not in prices:
        raise ConfigurationError(
            f"no price for {name!r}: give prices={{{name!r}: (input, output)}} in US dollars per "
            "1M tokens (0 for a free local model)"
        )
    price = prices[name]
    if isinstance(price, Mapping):
        try:
            return float(price["input"]), float(price["output"])
        except KeyError:
            raise ConfigurationError(
                f"the price of {name!r} needs 'input' and 'output' (dollars per 1M tokens)"
            ) from None
    try:
        input_price, output_price = price
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"the price of {name!r} must be (input, output) dollars per 1M tokens, got {price!r}"
        ) from None
    return float(input_price), float(output_price)


def infer_reference(names: list[str], router: Router) -> str:
    """The one pool model the router has no arm for (the reference answers when no arm qualifies)."""
    routed = {arm.model for arm in router.arms}
    unrouted = [name for name in names if name not in routed]
    if len(unrouted) == 1:
        return unrouted[0]
    raise ConfigurationError(
        f"cannot tell the reference model: the router has arms for {sorted(routed)} and the pool "
        f"has {names}; pass reference='<name of the strongest, most expensive model>'"
    )


def build_pool(
    llms: Mapping[str, LLM],
    prices: Mapping[str, Price],
    router: Router,
    *,
    reference: str | None,
    max_n: int | None,
    expected_output_tokens: Mapping[str, float] | None,
    token_counters: Mapping[str, TokenCounter] | None,
) -> Pool:
    """A Pool whose candidates are :class:`LlamaIndexBackend` over ``llms``."""
    if not llms:
        raise ConfigurationError("the pool is empty: pass llms={'name': llm, ...}")
    names = list(llms)
    reference = reference or infer_reference(names, router)
    if max_n is None:
        max_n = max((arm.n for arm in router.arms), default=1)
    candidates = []
    for name, llm in llms.items():
        input_price, output_price = price_of(name, prices)
        counter = (token_counters or {}).get(name)
        backend = LlamaIndexBackend(llm, token_counter=counter)
        candidates.append(
            Candidate(
                name,
                backend,
                input_price,
                output_price,
                expected_output_tokens=(expected_output_tokens or {}).get(
                    name, DEFAULT_EXPECTED_OUTPUT_TOKENS
                ),
                token_counter=backend.token_counter,
            )
        )
    return Pool(candidates, reference, max_n)
