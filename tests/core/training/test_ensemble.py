"""Merging router networks into one that predicts their mean logit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bestroute.errors import ConfigurationError
from bestroute.evaluate.splits import split_indices
from bestroute.router.checkpoint import load_router
from bestroute.training import RouterFitConfig, fit_router_net
from bestroute.training.ensemble import merge_routers


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


@pytest.fixture(scope="module")
def members(gsm8k_join):
    """Three small routers on length features and random-projection 'embeddings'."""
    rows = split_indices(len(gsm8k_join.outcomes), seed=0).train
    queries = [gsm8k_join.outcomes.queries[i] for i in rows]
    embeddings = np.random.default_rng(0).normal(size=(len(rows), 8)).astype(np.float32)
    routers = []
    for seed in range(3):
        # different early-stopping splits give each member different length statistics
        router, _ = fit_router_net(
            gsm8k_join.labels[rows][:, :6],
            gsm8k_join.outcomes.arms[:6],
            queries=queries,
            embeddings=embeddings,
            config=RouterFitConfig(hidden=4 + seed, epochs=5, val_fraction=0.3),
            seed=seed,
            progress=False,
        )
        routers.append(router)
    return routers, embeddings, queries


def test_merged_router_predicts_the_mean_logit(members, tmp_path: Path) -> None:
    routers, embeddings, queries = members
    assert not all(
        np.allclose(routers[0].length_mean.numpy(), r.length_mean.numpy()) for r in routers
    )
    merged = merge_routers(routers)
    assert merged.hidden_size == 4 + 5 + 6
    expected = np.mean([_logit(r.predict_embeddings(embeddings, queries)) for r in routers], axis=0)
    got = merged.predict_embeddings(embeddings, queries)
    assert np.allclose(_logit(got), expected, atol=1e-4)
    # it saves and loads like any router
    merged.save(tmp_path / "router")
    loaded = load_router(tmp_path / "router")
    assert np.allclose(loaded.predict_embeddings(embeddings, queries), got, atol=1e-6)


def test_routers_with_other_arms_do_not_merge(members, gsm8k_join) -> None:
    routers, embeddings, queries = members
    other, _ = fit_router_net(
        gsm8k_join.labels[: len(queries)][:, 6:8],
        gsm8k_join.outcomes.arms[6:8],
        queries=queries,
        embeddings=embeddings,
        config=RouterFitConfig(epochs=2),
        progress=False,
    )
    with pytest.raises(ConfigurationError, match="share arms"):
        merge_routers([routers[0], other])
