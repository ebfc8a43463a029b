"""Replay's cross-fitting and headline intervals, with a router that reveals its training set."""

from __future__ import annotations

import numpy as np

from bestroute.evaluate.replay import ReplayConfig, bootstrap_intervals, cross_fitted_probabilities


def revealing_fit_predict(train_rows: np.ndarray, predict_rows: np.ndarray) -> np.ndarray:
    seen = set(train_rows.tolist())
    return np.array([[1.0 if row in seen else 0.0, 0.5] for row in predict_rows])


def test_calibration_and_test_rows_never_see_their_own_training() -> None:
    labelled = np.array([0, 1, 3, 4, 6, 7, 8, 9, 11, 12])
    test = np.array([2, 5, 10, 13])
    config = ReplayConfig(reference="ref", folds=5, seed=2)
    probabilities, crossfit = cross_fitted_probabilities(
        revealing_fit_predict, labelled, test, config
    )
    assert probabilities.shape == (14, 2)
    # out of fold on the labelled rows, the router trained on all labelled rows on test
    assert np.all(probabilities[:, 0] == 0.0)
    assert crossfit.folds == 5 and np.array_equal(crossfit.rows, labelled)
    for k, trained in enumerate(crossfit.trained_on):
        assert np.intersect1d(trained, labelled[crossfit.fold == k]).size == 0
        assert np.intersect1d(trained, test).size == 0


def test_bootstrap_intervals_hold_the_point_estimate() -> None:
    rng = np.random.default_rng(0)
    reference_cost = np.full(300, 2.0)
    reference_quality = rng.integers(0, 2, 300).astype(float)
    cost = rng.uniform(0.0, 2.0, 300)
    quality = np.where(rng.random(300) < 0.9, reference_quality, 1 - reference_quality)
    saving, drop = bootstrap_intervals(cost, quality, reference_cost, reference_quality, seed=1)
    point_saving = 1 - cost.sum() / reference_cost.sum()
    point_drop = 1 - quality.sum() / reference_quality.sum()
    assert saving[0] < point_saving < saving[1] and drop[0] < point_drop < drop[1]
    assert 0.02 < drop[1] - drop[0] < 0.2  # about 4 standard errors of a 300-query drop


def test_the_proxy_names_the_models_it_cannot_rank() -> None:
    from bestroute.data.dataset import CandidateOutcome, OutcomeRecord, OutcomeSample
    from bestroute.evaluate.proxy import oracle_fallback_models
    from bestroute.pool import Arm

    scored = [OutcomeSample(10, 1.0, "a", 0.3), OutcomeSample(10, 0.0, "b", 0.9)]
    unscored = [OutcomeSample(10, 1.0, "a"), OutcomeSample(10, 0.0, "b")]
    record = OutcomeRecord(
        "q1",
        "What is 2 + 2?",
        {
            "scored": CandidateOutcome(5, scored, True),
            "unscored": CandidateOutcome(5, unscored, True),
            "single": CandidateOutcome(5, unscored[:1], True),
            "ref": CandidateOutcome(5, unscored[:1], True),
        },
    )
    arms = [Arm("scored", 2), Arm("unscored", 2), Arm("single", 1)]
    assert oracle_fallback_models([record], arms) == ["unscored"]
    # one sample per query: nothing to rank, so no fallback to report
    assert oracle_fallback_models([record], [Arm("unscored", 1)]) == []
