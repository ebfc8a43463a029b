"""Threshold calibration: Algorithm 1 vectorised, the bootstrap bound, drop targets and budgets."""

from __future__ import annotations

import numpy as np
import pytest

from bestroute.calibration import (
    calibrate_settings,
    calibrate_threshold,
    candidate_thresholds,
    route_by_threshold,
    threshold_table,
)
from bestroute.errors import ConfigurationError
from bestroute.evaluate.splits import split_indices
from bestroute.policy import ThresholdPolicy
from bestroute.pool import Arm


def test_route_by_threshold_matches_the_engine_policy() -> None:
    probabilities = np.array(
        [[0.9, 0.95, 0.2], [0.1, 0.2, 0.3], [np.nan, 0.8, 0.99], [0.7, 0.7, 0.7]]
    )
    costs = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [3.0, 1.0, 2.0]])
    arms = [Arm("a"), Arm("b"), Arm("c")]
    reference = Arm("ref")
    for threshold in (0.0, 0.5, 0.85, 0.97, 1.0):
        chosen = route_by_threshold(probabilities, costs, threshold)
        policy = ThresholdPolicy(threshold=threshold)
        for row in range(len(probabilities)):
            offered = {a: p for a, p in zip(arms, probabilities[row], strict=True) if p == p}
            arm_costs = {a: float(c) for a, c in zip(arms, costs[row], strict=True)}
            arm_costs[reference] = 100.0
            expected = policy.plan(offered, arm_costs, reference)[0]
            got = reference if chosen[row] < 0 else arms[chosen[row]]
            assert got == expected, (threshold, row)


def test_cost_never_falls_as_the_threshold_rises(gsm8k_join) -> None:
    o = gsm8k_join.outcomes
    rng = np.random.default_rng(0)
    probabilities = np.clip(gsm8k_join.labels + rng.normal(0, 0.2, gsm8k_join.labels.shape), 0, 1)
    thresholds = candidate_thresholds(probabilities)
    assert thresholds[0] == 0.0 and thresholds[-1] >= np.nanmax(probabilities)
    cost, quality = threshold_table(
        probabilities, o.cost, o.quality, o.reference_cost, o.reference_quality, thresholds
    )
    mean_cost = cost.mean(axis=1)
    assert np.all(np.diff(mean_cost) >= -1e-15)
    # above every probability, everything goes to the reference
    assert np.allclose(cost[-1], o.reference_cost) and np.allclose(quality[-1], o.reference_quality)


def _noisy_router(gsm8k_join, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noisy = gsm8k_join.labels + rng.normal(0, 0.25, gsm8k_join.labels.shape)
    return np.clip(noisy, 0.0, 1.0)


def test_the_bound_is_more_conservative_than_the_point_estimate(gsm8k_join) -> None:
    o = gsm8k_join.outcomes
    rows = split_indices(len(o), seed=1).validation
    v = o.subset(rows)
    probabilities = _noisy_router(gsm8k_join)[rows]
    args = (probabilities, v.cost, v.quality, v.reference_quality, v.reference_cost)
    point = calibrate_threshold(*args, target_drop=0.01, confidence=0.5, guarantee="bootstrap")
    bound = calibrate_threshold(*args, target_drop=0.01, confidence=0.95, guarantee="bootstrap")
    assert bound.drop_bound <= 0.01 + 1e-12 and point.drop_bound <= 0.01 + 1e-12
    assert bound.drop_bound >= bound.drop  # an upper bound
    assert bound.threshold >= point.threshold
    assert bound.cost >= point.cost
    assert bound.drop <= point.drop + 1e-12
    assert 0.0 <= bound.cost_saving <= point.cost_saving <= 1.0
    assert bound.n_queries == len(rows)


def test_calibration_promise_holds_on_unseen_queries(gsm8k_join) -> None:
    """Across splits, the bound-calibrated threshold's drop on test stays near the target."""
    o = gsm8k_join.outcomes
    probabilities = _noisy_router(gsm8k_join, seed=5)
    drops = []
    for seed in range(6):
        split = split_indices(len(o), train_fraction=0.25, validation_fraction=0.4, seed=seed)
        v, t = o.subset(split.validation), o.subset(split.test)
        chosen = calibrate_threshold(
            probabilities[split.validation],
            v.cost,
            v.quality,
            v.reference_quality,
            v.reference_cost,
            target_drop=0.01,
            confidence=0.9,
            seed=seed,
            guarantee="bootstrap",
        )
        _, quality = threshold_table(
            probabilities[split.test],
            t.cost,
            t.quality,
            t.reference_cost,
            t.reference_quality,
            np.array([chosen.threshold]),
        )
        reference = t.reference_quality.mean()
        drops.append((reference - quality.mean()) / reference)
    assert np.mean(drops) <= 0.02


def test_budget_calibration_keeps_the_cost_bound_within_budget(gsm8k_join) -> None:
    o = gsm8k_join.outcomes
    probabilities = _noisy_router(gsm8k_join)
    budget = 0.5 * float(o.reference_cost.mean())
    result = calibrate_threshold(
        probabilities,
        o.cost,
        o.quality,
        o.reference_quality,
        o.reference_cost,
        budget=budget,
        guarantee="bootstrap",
    )
    assert result.cost <= result.cost_bound <= budget
    assert not result.reference_only
    tighter = calibrate_threshold(
        probabilities,
        o.cost,
        o.quality,
        o.reference_quality,
        o.reference_cost,
        budget=budget / 4,
        guarantee="bootstrap",
    )
    assert tighter.cost <= result.cost


def test_nothing_meets_the_target_means_reference_only() -> None:
    # two settings; the cheaper one loses 50% of quality, the safer one all of it too
    quality = np.array([[0.5, 0.5, 0.5], [0.0, 0.0, 0.0]])
    cost = np.array([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    result = calibrate_settings(
        np.array([0.0, 1.0]), cost, quality, np.ones(3), np.full(3, 10.0), target_drop=0.01
    )
    assert result.reference_only and result.cost_saving == 0.0 and result.drop == 0.0


def test_sequential_scan_stops_at_the_first_failure() -> None:
    reference = np.ones(4)
    # settings from cheapest to safest: the middle one fails, the cheapest passes
    quality = np.array([[1.0] * 4, [0.0] * 4, [1.0] * 4])
    cost = np.array([[1.0] * 4, [2.0] * 4, [3.0] * 4])
    settings = np.array([0.1, 0.5, 0.9])
    common = {"target_drop": 0.01, "guarantee": "bootstrap"}
    free = calibrate_settings(settings, cost, quality, reference, np.full(4, 10.0), **common)
    strict = calibrate_settings(
        settings, cost, quality, reference, np.full(4, 10.0), sequential=True, **common
    )
    assert free.threshold == pytest.approx(0.1)
    assert strict.threshold == pytest.approx(0.9)


def test_calibration_arguments_are_checked() -> None:
    args = (np.array([0.0]), np.ones((1, 2)), np.ones((1, 2)), np.ones(2), np.ones(2))
    with pytest.raises(ConfigurationError):
        calibrate_settings(*args)
    with pytest.raises(ConfigurationError):
        calibrate_settings(*args, target_drop=0.01, budget=1.0)
    with pytest.raises(ConfigurationError):
        calibrate_settings(*args, target_drop=0.01, confidence=1.5)


def test_arms_are_tried_in_estimated_cost_order_and_billed_at_recorded_cost() -> None:
    # Arm a is expected to be cheaper (the engine's estimate) but cost more on this query; the
    # engine tries a first, so calibration must charge a's recorded cost, not pick b.
    probabilities = np.array([[0.9, 0.9]])
    recorded = np.array([[3.0, 1.0]])
    estimated = np.array([[1.0, 2.0]])
    quality = np.array([[1.0, 0.0]])
    thresholds = np.array([0.5])
    ref_cost, ref_quality = np.array([10.0]), np.array([1.0])
    by_estimate = threshold_table(
        probabilities, recorded, quality, ref_cost, ref_quality, thresholds, estimated
    )
    by_recorded = threshold_table(
        probabilities, recorded, quality, ref_cost, ref_quality, thresholds
    )
    assert by_estimate[0][0, 0] == 3.0 and by_estimate[1][0, 0] == 1.0
    assert by_recorded[0][0, 0] == 1.0 and by_recorded[1][0, 0] == 0.0
