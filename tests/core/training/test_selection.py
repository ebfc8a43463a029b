"""Choosing router settings by K-fold cross-validation on training rows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bestroute.errors import ConfigurationError
from bestroute.pool import Arm
from bestroute.training import RouterFitConfig, RouterTrainingConfig, choose_router_config
from bestroute.training.selection import out_of_fold_probabilities, soft_log_loss

ARMS = [Arm("small", 1), Arm("small", 2)]
FAST = RouterTrainingConfig(
    ensemble=1,
    network=RouterFitConfig(hidden=8, use_length_features=False, lr=1e-2, epochs=60, patience=10),
    lexical=False,
    weight_decay_scale=None,
)


def _data(rows: int = 150, seed: int = 0) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Labels that the first embedding coordinate predicts well."""
    rng = np.random.default_rng(seed)
    embeddings = rng.normal(size=(rows, 6)).astype(np.float32)
    signal = 1.0 / (1.0 + np.exp(-3.0 * embeddings[:, 0]))
    labels = np.column_stack([signal, np.sqrt(signal)])
    return [f"query {i}" for i in range(rows)], embeddings, labels


def test_no_row_is_predicted_by_a_router_that_trained_on_it() -> None:
    queries, embeddings, labels = _data()
    before = out_of_fold_probabilities(
        FAST, labels, ARMS, queries=queries, embeddings=embeddings, folds=3
    )
    changed = labels.copy()
    changed[7] = 1.0 - changed[7]
    after = out_of_fold_probabilities(
        FAST, changed, ARMS, queries=queries, embeddings=embeddings, folds=3
    )
    # row 7's own probabilities do not move: it was never in the fit of its fold's router ...
    np.testing.assert_allclose(after[7], before[7])
    # ... while routers that did train on it (the other folds') change
    assert not np.allclose(np.delete(after, 7, axis=0), np.delete(before, 7, axis=0))


def test_the_setting_with_the_lower_held_out_loss_is_chosen() -> None:
    queries, embeddings, labels = _data()
    # a decay of 1e3 per step flattens every weight: the constant router, a worse fit
    flat = dataclasses.replace(
        FAST, weight_decay_scale=None, network=dataclasses.replace(FAST.network, weight_decay=1e3)
    )
    selection = choose_router_config(
        [flat, FAST], labels, ARMS, queries=queries, embeddings=embeddings, folds=3
    )
    assert selection.chosen is FAST
    assert selection.losses[1] < selection.losses[0]
    assert selection.to_dict()["candidates"][1]["log_loss"] == selection.losses[1]
    # the losses are the out-of-fold ones
    oof = out_of_fold_probabilities(
        FAST, labels, ARMS, queries=queries, embeddings=embeddings, folds=3
    )
    assert selection.losses[1] == pytest.approx(soft_log_loss(oof, labels))


def test_one_candidate_needs_no_training_and_none_is_an_error() -> None:
    queries, embeddings, labels = _data(rows=10)
    selection = choose_router_config([FAST], labels, ARMS, queries=queries, embeddings=embeddings)
    assert selection.chosen is FAST and selection.folds == 0
    with pytest.raises(ConfigurationError, match="at least one"):
        choose_router_config([], labels, ARMS, queries=queries, embeddings=embeddings)
    with pytest.raises(ConfigurationError, match="folds"):
        out_of_fold_probabilities(
            FAST, labels, ARMS, queries=queries, embeddings=embeddings, folds=1
        )
