"""Baselines and the soft-label logistic regression, on the GSM8K join."""

from __future__ import annotations

import numpy as np
import pytest

from bestroute.evaluate import baselines
from bestroute.evaluate.splits import split_indices
from bestroute.router.linear import SoftLogisticRegression


def test_cheapest_arm_is_a_single_sample_of_a_cheapest_model(gsm8k) -> None:
    o = gsm8k.outcomes
    index = baselines.cheapest_arm(o)
    assert o.arms[index].n == 1
    price = gsm8k.prices[o.arms[index].model]
    assert all(price.output <= gsm8k.prices[arm.model].output for arm in o.arms)
    # among the equally priced 7B models the best one on the data is chosen
    tied = [
        i
        for i, arm in enumerate(o.arms)
        if arm.n == 1 and gsm8k.prices[arm.model].output == price.output
    ]
    assert np.nanmean(o.quality[:, index]) == max(np.nanmean(o.quality[:, i]) for i in tied)


def test_hard_labels_round_and_keep_gaps() -> None:
    labels = np.array([[0.2, 0.5, np.nan], [0.9, 0.49, 1.0]])
    hard = baselines.hard_labels(labels)
    assert np.array_equal(hard[:, :2], [[0.0, 1.0], [1.0, 0.0]])
    assert np.isnan(hard[0, 2]) and hard[1, 2] == 1.0


def test_soft_logistic_regression_learns_a_real_signal(gsm8k) -> None:
    """Question length predicts failure on GSM8K: the model must find it from soft labels."""
    queries = gsm8k.outcomes.queries
    length = np.log([len(q) for q in queries])[:, None]
    split = split_indices(len(queries), seed=0)
    labels = gsm8k.labels[:, :5]
    model = SoftLogisticRegression(l2=1.0).fit(length[split.train], labels[split.train])
    probabilities = model.predict_proba(length)
    assert probabilities.shape == labels.shape
    assert np.all((probabilities > 0) & (probabilities < 1))
    constant = np.nanmean(labels[split.train], axis=0)
    test = split.test
    model_loss = baselines.soft_log_loss(probabilities[test], labels[test])
    constant_loss = baselines.soft_log_loss(np.tile(constant, (len(test), 1)), labels[test])
    assert model_loss < constant_loss
    assert model.weights is not None and np.all(model.weights < 0)  # longer is harder


def test_soft_logistic_regression_ignores_missing_labels() -> None:
    features = np.array([[0.0], [1.0], [2.0], [3.0]])
    labels = np.array([[0.1, np.nan], [0.3, np.nan], [0.6, 0.5], [0.9, 0.5]])
    model = SoftLogisticRegression(l2=0.0).fit(features, labels)
    probabilities = model.predict_proba(features)
    assert np.all(np.isfinite(probabilities))
    assert probabilities[0, 0] < probabilities[3, 0]
    assert probabilities[2, 1] == pytest.approx(0.5, abs=0.05)


def test_tfidf_router_trains_on_the_training_rows_only(gsm8k) -> None:
    split = split_indices(len(gsm8k.outcomes), seed=0)
    probabilities, l2 = baselines.tfidf_lr_probabilities(
        gsm8k.outcomes.queries, gsm8k.labels, split.train, l2_grid=(3.0,)
    )
    assert l2 == 3.0
    assert probabilities.shape == gsm8k.labels.shape
    assert np.all((probabilities > 0) & (probabilities < 1))
    # the test labels do not leak: changing them leaves the predictions unchanged
    shuffled = gsm8k.labels.copy()
    shuffled[split.test] = 1.0 - shuffled[split.test]
    again, _ = baselines.tfidf_lr_probabilities(
        gsm8k.outcomes.queries, shuffled, split.train, l2_grid=(3.0,)
    )
    assert np.allclose(probabilities, again)


def test_tfidf_router_chooses_its_l2_by_cross_validation_on_training_rows(gsm8k) -> None:
    split = split_indices(len(gsm8k.outcomes), seed=0)
    queries = gsm8k.outcomes.queries
    assert len(baselines.TFIDF_L2_GRID) > 1  # a search, not a fixed C
    _, l2 = baselines.tfidf_lr_probabilities(queries, gsm8k.labels, split.train)
    assert l2 in baselines.TFIDF_L2_GRID
    # the same choice as the explicit K-fold rule on the training rows
    chosen = baselines.choose_l2(
        lambda rows: _tfidf(queries, rows),
        gsm8k.labels,
        split.train,
        baselines.TFIDF_L2_GRID,
        standardize=False,
    )
    assert l2 == chosen
    # rows outside the training split take no part in the choice
    flipped = gsm8k.labels.copy()
    outside = np.concatenate([split.validation, split.test])
    flipped[outside] = 1.0 - flipped[outside]
    _, again = baselines.tfidf_lr_probabilities(queries, flipped, split.train)
    assert again == l2


def _tfidf(queries, rows):
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    vectorizer.fit([queries[i] for i in rows])
    return vectorizer.transform(list(queries))
