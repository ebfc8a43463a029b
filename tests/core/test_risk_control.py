"""The guarantee modes keep their promise on synthetic exchangeable data with net gains and losses.

The synthetic world: every query has a hidden difficulty; two cheap arms and the reference each
answer correctly with a probability that falls with difficulty, independently, so routing loses on
some queries and beats the reference on others (a net, non-monotone risk). The router sees the
difficulty through noise. The "true" drop and saving of a threshold are those of a large population
scored with each arm's success probability (no sampling noise), computed once.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bestroute.calibration import calibrate_threshold, threshold_grid, threshold_table
from bestroute.risk_control import (
    betting_pvalues,
    drop_risks,
    drop_standard_error,
    expected_passes,
    queries_needed,
)

TARGET = 0.02
CALIBRATION_QUERIES = 400
SPLITS = 200


def _world(rng: np.random.Generator, n: int, *, expected: bool = False) -> tuple[np.ndarray, ...]:
    """Router probabilities, arm costs, arm and reference qualities, reference cost."""
    difficulty = rng.uniform(0.0, 1.0, n)
    logits = np.stack([2.5 * (0.55 - difficulty), 2.5 * (0.7 - difficulty) + 0.4], axis=1)
    probabilities = 1.0 / (1.0 + np.exp(-(logits + rng.normal(0.0, 0.6, (n, 2)))))
    success = np.stack([1.0 - 0.9 * difficulty, 1.0 - 0.6 * difficulty], axis=1)
    reference_success = 0.97 - 0.35 * difficulty
    if expected:
        quality, reference_quality = success, reference_success
    else:
        quality = (rng.uniform(size=(n, 2)) < success).astype(float)
        reference_quality = (rng.uniform(size=n) < reference_success).astype(float)
    costs = np.tile([0.1, 0.3], (n, 1))
    return probabilities, costs, quality, reference_quality, np.ones(n)


@pytest.fixture(scope="module")
def true_curve() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The population's drop and saving at every grid threshold."""
    probabilities, costs, quality, reference_quality, reference_cost = _world(
        np.random.default_rng(0), 20_000, expected=True
    )
    grid = threshold_grid()
    cost, routed = threshold_table(
        probabilities, costs, quality, reference_cost, reference_quality, grid
    )
    drop = 1.0 - routed.mean(axis=1) / reference_quality.mean()
    saving = 1.0 - cost.mean(axis=1) / reference_cost.mean()
    return grid, drop, saving


def _calibrated_outcomes(true_curve, guarantee: str, confidence: float) -> np.ndarray:
    grid, drop, saving = true_curve
    results = []
    for split in range(SPLITS):
        sample = _world(np.random.default_rng(1000 + split), CALIBRATION_QUERIES)
        calibration = calibrate_threshold(
            *sample, target_drop=TARGET, guarantee=guarantee, confidence=confidence
        )
        index = (
            len(grid) - 1
            if calibration.reference_only
            else grid.searchsorted(calibration.threshold)
        )
        results.append((drop[index], saving[index]))
    return np.array(results)


@pytest.mark.slow
def test_expected_mode_keeps_the_mean_drop_within_target(true_curve) -> None:
    outcomes = _calibrated_outcomes(true_curve, "expected", 0.9)
    drops, savings = outcomes[:, 0], outcomes[:, 1]
    monte_carlo_error = 3 * drops.std(ddof=1) / math.sqrt(SPLITS)
    assert drops.mean() <= TARGET + monte_carlo_error, (drops.mean(), monte_carlo_error)
    _, drop, saving = true_curve
    hindsight = saving[drop <= TARGET].max()
    assert savings.mean() >= 0.5 * hindsight  # it keeps most of what the curve offers


@pytest.mark.slow
def test_high_probability_mode_breaks_the_target_rarely(true_curve) -> None:
    confidence = 0.9
    outcomes = _calibrated_outcomes(true_curve, "high_probability", confidence)
    share_over = float(np.mean(outcomes[:, 0] > TARGET))
    allowed = 1 - confidence
    monte_carlo_error = 3 * math.sqrt(allowed * confidence / SPLITS)
    assert share_over <= allowed + monte_carlo_error, share_over
    assert outcomes[:, 1].mean() > 0  # it still routes some queries away from the reference


def test_betting_pvalues_are_valid_at_the_boundary_of_the_null() -> None:
    """With mean(z) = 0 exactly, the test rejects at level delta at most delta of the time."""
    rng = np.random.default_rng(3)
    delta, repeats = 0.1, 2000
    risks = rng.choice([-0.5, 0.5], size=(repeats, 200))
    share = float(np.mean(betting_pvalues(risks, -1.0, 1.0, delta) <= delta))
    assert share <= delta + 3 * math.sqrt(delta * (1 - delta) / repeats), share


def test_betting_pvalues_find_a_clearly_safe_setting() -> None:
    rng = np.random.default_rng(4)
    safe = rng.choice([-0.5, 0.3], p=[0.7, 0.3], size=(1, 300))  # mean -0.26
    risky = rng.choice([-0.5, 0.5], p=[0.3, 0.7], size=(1, 300))  # mean +0.2
    pvalues = betting_pvalues(np.vstack([safe, risky]), -1.0, 1.0, 0.1)
    assert pvalues[0] < 1e-3 and pvalues[1] > 0.5


def test_risks_are_nonpositive_on_average_exactly_when_the_drop_meets_the_target() -> None:
    rng = np.random.default_rng(5)
    reference = rng.uniform(0.2, 1.0, 500)
    for shift in (-0.05, -0.01, 0.0, 0.01, 0.03):
        quality = np.clip(reference - shift + rng.normal(0, 0.1, 500), 0, 1)
        drop = 1 - quality.sum() / reference.sum()
        mean_risk = drop_risks(quality, reference, 0.01).mean()
        assert (mean_risk <= 0) == (drop <= 0.01)


def test_expected_passes_is_the_corrected_mean() -> None:
    risks = np.array([[-0.1] * 9 + [0.85], [-0.1] * 9 + [0.95]])
    # sums: -0.05 and +0.05; with upper 0 the first passes and the second fails
    assert expected_passes(risks, 0.0).tolist() == [True, False]
    assert not expected_passes(risks[:1], 0.99).any()  # the correction for the next query


def test_drop_standard_error_matches_the_bootstrap() -> None:
    rng = np.random.default_rng(6)
    reference = (rng.uniform(size=600) < 0.85).astype(float)
    quality = np.where(rng.uniform(size=600) < 0.3, 1 - reference, reference)[None, :]
    se = drop_standard_error(quality, reference)[0]
    resamples = rng.integers(0, 600, size=(2000, 600))
    boot = 1 - quality[0][resamples].sum(axis=1) / reference[resamples].sum(axis=1)
    assert se == pytest.approx(boot.std(), rel=0.1)


def test_queries_needed_grows_as_the_margin_shrinks() -> None:
    wide = queries_needed(0.0, 0.02, 500, 0.01, 0.9)
    narrow = queries_needed(0.005, 0.02, 500, 0.01, 0.9)
    assert wide is not None and narrow is not None and narrow > wide > 500
    assert queries_needed(0.01, 0.02, 500, 0.01, 0.9) is None
