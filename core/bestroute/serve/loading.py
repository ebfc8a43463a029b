"""The engine a server runs: a trained setup folder routed over a pool YAML."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from bestroute.deadline import DEFAULT_DEADLINE_S, DEFAULT_SAMPLE_TIMEOUT_S
from bestroute.engine import BestRoute


def load_engine(
    setup: str | os.PathLike[str],
    pool: str | os.PathLike[str],
    *,
    threshold: float | None = None,
    max_cost_per_query: float | None = None,
    max_n: int | None = None,
    sample_timeout_s: float | None = DEFAULT_SAMPLE_TIMEOUT_S,
    deadline_s: float | None = DEFAULT_DEADLINE_S,
) -> BestRoute:
    """:meth:`BestRoute.from_pretrained` over the pool config at ``pool``; ``max_n`` bounds the
    arms the policy may choose (the pool's own ``max_n`` fixes the router's arms)."""
    from bestroute.data.pool_config import load_pool_config

    engine = BestRoute.from_pretrained(
        setup,
        load_pool_config(Path(pool)),
        threshold=threshold,
        max_cost_per_query=max_cost_per_query,
        sample_timeout_s=sample_timeout_s,
        deadline_s=deadline_s,
    )
    if max_n is not None:
        engine.policy = dataclasses.replace(engine.policy, max_n=max_n)
    return engine
