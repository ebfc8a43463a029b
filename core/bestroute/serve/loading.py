"""The engine a server runs: a trained setup folder routed over a pool YAML."""

from __future__ import annotations

import os
from pathlib import Path

from bestroute.deadline import DEFAULT_DEADLINE_S, DEFAULT_SAMPLE_TIMEOUT_S
from bestroute.engine import BestRoute
from bestroute.policy import ThresholdPolicy

DEFAULT_THRESHOLD = 0.5


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
    """A BestRoute engine from a trained setup (``router/``, ``reward/``, ``threshold.json``)
    and a pool config; ``threshold`` defaults to the setup's calibrated one, else 0.5."""
    from bestroute.data.pool_config import load_pool_config
    from bestroute.router.checkpoint import load_router
    from bestroute.scoring.reward_model import load_reward_model
    from bestroute.trained_setup import read_trained_setup

    trained = read_trained_setup(setup)
    loaded_pool = load_pool_config(Path(pool))
    router = load_router(trained.router_dir, pool=loaded_pool)
    scorer = load_reward_model(trained.reward_dir) if trained.reward_dir else None
    if threshold is None:
        threshold = trained.threshold if trained.threshold is not None else DEFAULT_THRESHOLD
    policy = ThresholdPolicy(threshold, max_cost_per_query, max_n)
    return BestRoute(
        loaded_pool,
        router,
        scorer,
        policy,
        sample_timeout_s=sample_timeout_s,
        deadline_s=deadline_s,
    )
