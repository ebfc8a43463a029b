"""Cross-fitting: every labelled query gets a probability from a model that never trained on it."""

from __future__ import annotations

import numpy as np
import pytest

from bestroute.errors import ConfigurationError
from bestroute.training.crossfit import CrossFit, cross_fit, fold_assignment


def revealing_fit_predict(train_rows: np.ndarray, predict_rows: np.ndarray) -> np.ndarray:
    """A "router" whose prediction reveals its training set: 1 for a row it trained on, else 0."""
    seen = set(train_rows.tolist())
    return np.array([[1.0 if row in seen else 0.0] for row in predict_rows])


def test_folds_cover_every_row_once_in_near_equal_parts() -> None:
    folds = fold_assignment(103, 5, seed=3)
    assert folds.shape == (103,)
    sizes = np.bincount(folds)
    assert sizes.tolist() == sorted(sizes.tolist(), reverse=True) and sizes.max() - sizes.min() <= 1
    assert sizes.sum() == 103
    assert np.array_equal(folds, fold_assignment(103, 5, seed=3))
    assert not np.array_equal(folds, fold_assignment(103, 5, seed=4))


def test_no_out_of_fold_probability_comes_from_a_router_that_trained_on_it() -> None:
    rows = np.array([2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37])  # not 0..n-1: indices are kept
    result = cross_fit(rows, revealing_fit_predict, folds=4, seed=1)
    assert np.array_equal(result.rows, rows)
    assert np.all(result.probabilities == 0.0)  # no row was ever predicted by a model that saw it
    result.check_out_of_fold()
    for k, trained in enumerate(result.trained_on):
        held_out = rows[result.fold == k]
        assert np.array_equal(np.sort(np.concatenate([trained, held_out])), rows)
        assert np.intersect1d(trained, held_out).size == 0
    assert result.summary() == {"folds": 4, "seed": 1, "queries": 12, "fold_sizes": [3, 3, 3, 3]}
    # the same router trained on everything predicts 1 for every row: the check above can fail
    assert np.all(revealing_fit_predict(rows, rows) == 1.0)


def test_a_leaked_row_is_caught() -> None:
    rows = np.arange(6)
    leaky = CrossFit(
        rows=rows,
        probabilities=np.zeros((6, 1)),
        fold=np.array([0, 0, 0, 1, 1, 1]),
        trained_on=(np.array([2, 3, 4, 5]), np.array([0, 1, 2])),
        seed=0,
    )
    with pytest.raises(ConfigurationError, match="fold 0: rows \\[2\\]"):
        leaky.check_out_of_fold()


def test_bad_folds_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="at least 2 folds"):
        fold_assignment(10, 1)
    with pytest.raises(ConfigurationError, match="too few"):
        fold_assignment(3, 5)
    with pytest.raises(ConfigurationError, match="fit_predict must return"):
        cross_fit(np.arange(10), lambda train, rows: np.zeros(len(rows)), folds=2)
