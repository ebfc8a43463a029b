"""Policy families on recorded outcomes: Algorithm 1 orders arms as the engine would."""

from __future__ import annotations

import numpy as np
import pytest

from bestroute.data.dataset import CandidateOutcome, OutcomeRecord, OutcomeSample
from bestroute.data.labels import mean_output_tokens
from bestroute.data.outcomes import ReplayOutcomes, build_outcomes
from bestroute.evaluate.policies import ThresholdSweep
from bestroute.pool import Arm
from bestroute.prices import ModelPrice


def _outcomes(estimated: np.ndarray | None) -> ReplayOutcomes:
    # arm 0 cost 3 on this query (a long answer), arm 1 cost 2; both pass any threshold
    return ReplayOutcomes(
        queries=["q"],
        arms=(Arm("a", 1), Arm("b", 1)),
        quality=np.array([[1.0, 0.5]]),
        cost=np.array([[3.0, 2.0]]),
        reference_quality=np.array([1.0]),
        reference_cost=np.array([10.0]),
        estimated_cost=estimated,
    )


def test_threshold_sweep_orders_by_the_estimate_and_bills_the_recorded_cost() -> None:
    probabilities = np.array([[0.9, 0.9]])
    thresholds = np.array([0.5])
    # without an estimate the recorded costs order the arms: arm 1 is cheaper here
    cost, quality = ThresholdSweep(probabilities, _outcomes(None)).outcome(thresholds)
    assert cost[0, 0] == 2.0 and quality[0, 0] == 0.5
    # the engine expects arm 0 to be cheaper (shorter answers on average): it picks arm 0
    # and pays what arm 0 cost on this query
    estimated = np.array([[1.0, 2.0]])
    cost, quality = ThresholdSweep(probabilities, _outcomes(estimated)).outcome(thresholds)
    assert cost[0, 0] == 3.0 and quality[0, 0] == 1.0


def _record(name: str, tokens_a: float) -> OutcomeRecord:
    def outcome(tokens: float, quality: float) -> CandidateOutcome:
        return CandidateOutcome(input_tokens=10, samples=[OutcomeSample(tokens, quality, None)])

    return OutcomeRecord(
        name, name, {"a": outcome(tokens_a, 1.0), "b": outcome(50, 1.0), "ref": outcome(5, 1.0)}
    )


def test_build_outcomes_estimates_from_the_given_lengths_and_subsets_keep_them() -> None:
    records = [_record("x", 10.0), _record("y", 190.0)]
    prices = {m: ModelPrice(1.0, 1.0) for m in ("a", "b", "ref")}
    lengths = mean_output_tokens(records[:1])  # "training" = the first record
    outcomes = build_outcomes(records, "ref", prices, output_tokens=lengths)
    assert outcomes.estimated_cost is not None
    a = outcomes.arm_index(Arm("a", 1))
    assert outcomes.cost[1, a] == pytest.approx((10 + 190) / 1e6)  # recorded
    assert outcomes.estimated_cost[1, a] == pytest.approx((10 + 10) / 1e6)  # expected
    part = outcomes.subset(np.array([1]))
    assert part.estimated_cost is not None
    np.testing.assert_allclose(part.order_cost, outcomes.estimated_cost[[1]])
    assert build_outcomes(records, "ref", prices).estimated_cost is None


def test_a_higher_threshold_never_picks_an_arm_the_engine_expects_to_be_cheaper(gsm8k) -> None:
    from bestroute.calibration import REFERENCE_ARM, route_by_thresholds

    lengths = mean_output_tokens(gsm8k.records[:200])
    outcomes = build_outcomes(
        gsm8k.records,
        "gpt-4-1106-preview",
        gsm8k.prices,
        arms=gsm8k.outcomes.arms,
        output_tokens=lengths,
    )
    probabilities = np.random.default_rng(0).uniform(size=outcomes.cost.shape)
    thresholds = np.linspace(0.0, 1.0, 21)
    choices = route_by_thresholds(probabilities, outcomes.order_cost, thresholds)
    rows = np.arange(len(outcomes))
    estimate = np.where(
        choices == REFERENCE_ARM, 1.0, outcomes.order_cost[rows, np.maximum(choices, 0)]
    )
    assert np.all(np.diff(estimate, axis=0) >= -1e-15)  # 1 dollar stands for the reference
    # and the recorded costs do differ from the estimates on this data
    assert not np.allclose(outcomes.cost, outcomes.order_cost, equal_nan=True)
