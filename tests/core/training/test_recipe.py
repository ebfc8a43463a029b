"""The router recipe: several small networks merged, recentred, with the TF-IDF view averaged in."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bestroute.errors import ConfigurationError
from bestroute.evaluate.splits import split_indices
from bestroute.pool import Arm
from bestroute.training import RouterFitConfig, RouterTrainingConfig, train_router
from bestroute.training.config import RECIPE_NETWORK, WEIGHT_DECAY_SCALE
from bestroute.training.ensemble import merge_routers

ARMS = [
    Arm("mistralai/Mistral-7B-v0.1", 1),
    Arm("mistralai/Mistral-7B-v0.1", 3),
    Arm("meta-llama/Meta-Llama-3-8B", 1),
]


@pytest.fixture(scope="module")
def data(gsm8k):
    """200 GSM8K questions for training, the other 311 for checking, with soft labels."""
    labels = gsm8k.labels(ARMS)
    return gsm8k.queries[:200], labels[:200], gsm8k.queries[200:], labels[200:]


@pytest.mark.slow
def test_the_default_recipe_is_the_readme_router(data, encoder) -> None:
    train, labels, held_out, _ = data
    trained = train_router(labels, ARMS, queries=train, encoder=encoder)
    router = trained.router
    # five networks of 16 hidden units side by side, no length features, the lexical view on
    assert len(trained.members) == 5 and router.hidden_size == 5 * 16
    assert not router.use_length_features and router.lexical is not None
    assert router.lexical_weight == 0.5 and trained.lexical_terms == len(router.lexical.vocabulary)
    assert trained.network.weight_decay == pytest.approx(WEIGHT_DECAY_SCALE / len(train))
    # recentred: each arm's mean neural probability on the training rows is its mean label
    neural = dataclasses.replace(trained.config, lexical=False)
    plain = train_router(labels, ARMS, queries=train, encoder=encoder, config=neural).router
    embeddings = encoder.encode(train)
    np.testing.assert_allclose(
        plain.predict_embeddings(embeddings, train).mean(axis=0), labels.mean(axis=0), atol=1e-4
    )
    probabilities = router.predict(held_out)
    assert probabilities.shape == (len(held_out), len(ARMS))
    assert np.all((probabilities > 0) & (probabilities < 1))


@pytest.mark.slow
def test_train_ensemble_reports_every_member(gsm8k_join) -> None:
    rows = split_indices(len(gsm8k_join.outcomes), seed=1).train
    queries = [gsm8k_join.outcomes.queries[i] for i in rows]
    embeddings = np.random.default_rng(1).normal(size=(len(rows), 8)).astype(np.float32)
    trained = train_router(
        gsm8k_join.labels[rows],
        gsm8k_join.outcomes.arms,
        queries=queries,
        embeddings=embeddings,
        config=RouterTrainingConfig(ensemble=2, network=RouterFitConfig(hidden=8, epochs=3)),
    )
    router, summary = trained.router, trained.summary()
    assert summary["ensemble"] == 2 and len(summary["best_epochs"]) == 2
    assert router.hidden_size == 16
    assert router.predict_embeddings(embeddings, queries).shape == gsm8k_join.labels[rows].shape


def test_train_ensemble_attaches_the_lexical_view_unless_told_not_to(data) -> None:
    train, labels, _, _ = data
    embeddings = np.random.default_rng(0).normal(size=(len(train), 8)).astype(np.float32)
    network = RouterFitConfig(hidden=4, epochs=3, use_length_features=False)
    with_view = train_router(
        labels,
        ARMS,
        queries=train,
        embeddings=embeddings,
        config=RouterTrainingConfig(ensemble=2, network=network),
    )
    without = train_router(
        labels,
        ARMS,
        queries=train,
        embeddings=embeddings,
        config=RouterTrainingConfig(ensemble=2, network=network, lexical=False),
    )
    summary, plain = with_view.summary(), without.summary()
    assert with_view.router.lexical is not None and summary["lexical_terms"] == len(
        with_view.router.lexical.vocabulary
    )
    assert without.router.lexical is None and plain["lexical_terms"] == 0
    with pytest.raises(ConfigurationError, match="attach one lexical view"):
        merge_routers([with_view.router, without.router])


def test_weight_decay_scales_with_the_rows_unless_given() -> None:
    config = RouterTrainingConfig()
    assert config.network == RECIPE_NETWORK
    assert config.network_for(256).weight_decay == 30.0
    assert config.network_for(1000).weight_decay == pytest.approx(7.68)
    fixed = RouterTrainingConfig(network=dataclasses.replace(RECIPE_NETWORK, weight_decay=0.5))
    assert fixed.network_for(256).weight_decay == 0.5
    unscaled = RouterTrainingConfig(weight_decay_scale=None)
    assert unscaled.network_for(256).weight_decay is None


def test_config_reports_the_options_that_differ_from_one_network_defaults() -> None:
    assert RouterTrainingConfig().to_dict() == {
        "ensemble": 5,
        "options": {"hidden": 16, "use_length_features": False},
        "recenter": True,
        "weight_decay_scale": WEIGHT_DECAY_SCALE,
        "lexical": True,
        "lexical_weight": 0.5,
        "lexical_l2": 1.0,
        "lexical_surface": False,
    }
    assert RouterFitConfig().overrides() == {}
    assert RouterFitConfig(mode="finetune", lr=3e-3).overrides() == {"mode": "finetune", "lr": 3e-3}


def test_an_empty_ensemble_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="ensemble must be >= 1"):
        RouterTrainingConfig(ensemble=0)
